/**
 * The story of one run: inputs -> target -> lock -> history and plan -> backup
 * -> check and run in the target -> verify -> schema. Each phase gathers facts;
 * outcome.ts decides the status from them; outputs and the summary report it.
 */
import * as core from '@actions/core'
import {backupDatabase, defaultBackupPath} from './backup.js'
import {deploymentBatches, recentBatches} from './batches.js'
import type {Config, Cutoff, Database} from './config.js'
import {databaseError, describePostgres} from './database.js'
import {errorMessage, inputError, isRollbackError, isTransient, type RollbackError} from './errors.js'
import {createExecutor} from './executors/index.js'
import type {Executor} from './executors/executor.js'
import type {CommandTimeoutError} from './executors/timeout.js'
import {readHistoryInContainer} from './history-container.js'
import {type History, readHistory} from './history.js'
import {readInputs} from './inputs.js'
import {acquireRollbackLock, type RollbackLock} from './lock.js'
import {decide, failureMessage, leftAlone, type Outcome, type RunFacts} from './outcome.js'
import {setOutputs} from './outputs.js'
import {key, type Plan} from './plan.js'
import {withRetries} from './retry.js'
import {checkAndRun} from './rollback.js'
import {checkSchema} from './schema-check.js'
import {configView, maskSecrets} from './secrets.js'
import {writeSummary} from './summary.js'
import {planForTarget, resolveTarget} from './target/resolve.js'
import {beforeUnchanged, verify} from './verify.js'

/** What a run reaches outside itself; tests give their own. */
export interface Dependencies {
  readInputs: () => Config
  createExecutor: (config: Config) => Promise<Executor>
}

const DEFAULTS: Dependencies = {readInputs: () => readInputs(), createExecutor: config => createExecutor(config)}

/**
 * A noop-reverse name applied before the cutoff belongs to the release being restored: refuse it before any
 * change. Names not applied at all are left to the script, which tells a typo from a migration an earlier run
 * already unapplied (the same inputs must be able to finish a rollback that stopped part-way).
 */
function checkNoopReverse(names: string[], plan: Plan): void {
  const before = new Set(plan.before.map(key))
  const early = names.filter(name => before.has(name))
  if (early.length > 0) {
    throw inputError(
      `noop-reverse names ${early.join(', ')}, which ${early.length === 1 ? 'was' : 'were'} applied before the cutoff: ` +
        'this rollback does not unapply it (it belongs to the release you are going back to); expected migrations of the plan, ' +
        `e.g. ${plan.after.slice(0, 3).map(key).join(', ')}`
    )
  }
}

/** The executor and the lock of one run: opened on first use, closed once at the end. */
class Resources {
  private executor?: Executor
  lock?: RollbackLock

  constructor(
    private readonly config: Config,
    private readonly connect: Dependencies['createExecutor']
  ) {}

  async target(): Promise<Executor> {
    this.executor ??= await this.connect(this.config)
    return this.executor
  }

  get where(): string | undefined {
    return this.executor?.where
  }

  async close(): Promise<string | undefined> {
    await this.executor?.close().catch(e => core.warning(`closing the executor: ${errorMessage(e)}`))
    const lost = this.lock?.lost()
    await this.lock?.release().catch(e => core.warning(`releasing the rollback lock: ${errorMessage(e)}`))
    return lost && `lost during the run (${lost.message}): another rollback could have started meanwhile`
  }
}

/** Reads django_migrations from the database, or through Django in the target (history-source: container). */
function historyReader(config: Config, resources: Resources): (cutoff?: Cutoff) => Promise<History> {
  return config.historySource === 'container'
    ? async cutoff => readHistoryInContainer(await resources.target(), config.manageCommand, config.databaseAlias, cutoff)
    : cutoff => readHistory(config.database as Database, cutoff)
}

/** One rollback at a time, held for the whole run; released when the session ends, even if the runner dies. */
async function takeLock(config: Config, resources: Resources): Promise<string> {
  if (config.dryRun) return 'not needed for a dry run'
  if (config.historySource === 'container') return 'not taken: history-source is container'
  const database = config.database as Database
  resources.lock = await acquireRollbackLock(database).catch(error => {
    throw isRollbackError(error, 'lock-held') ? error : databaseError(error, database)
  })
  return `held (PostgreSQL session ${resources.lock.pid})`
}

/** pg_dump before any change; a dump only reads, and each attempt writes a fresh temporary file: safe to retry. */
async function backUp(config: Config, outcome: Outcome): Promise<void> {
  if (!config.backup || config.dryRun) return
  const database = config.database as Database
  const path = config.backupPath ?? defaultBackupPath(database)
  core.info(`Backing up the database to ${path} (pg_dump --format=custom)`)
  outcome.backup = await withRetries(describePostgres(database), () => backupDatabase(database, path), {isTransient})
}

/** Runs the plan in the target; an error there is a fact too, since Django may have unapplied before it. */
async function runInTarget(config: Config, plan: Plan, resources: Resources, facts: RunFacts): Promise<void> {
  const executor = await resources.target()
  facts.where = executor.where
  try {
    facts.run = await checkAndRun(executor, config, plan)
  } catch (error) {
    if (isRollbackError(error, 'command-timeout')) {
      const stopped = error as CommandTimeoutError
      facts.runTimedOut = {command: stopped.command, seconds: stopped.seconds, message: stopped.message}
    } else {
      facts.runError = errorMessage(error)
    }
  }
}

/** Reads django_migrations back and compares it with the plan; never reports "unchanged" when the read fails. */
async function verifyRun(plan: Plan, history: History, read: (cutoff?: Cutoff) => Promise<History>, facts: RunFacts): Promise<void> {
  const cutoff = plan.selection === 'cutoff' ? plan.cutoff : undefined
  let after: History
  try {
    after = await read(cutoff)
    // Something before the cutoff changed (never expected): read everything, to name what is gone.
    if (beforeUnchanged(history.before, after.before) === false) after = {...(await read()), before: after.before}
  } catch (error) {
    facts.readBackError = errorMessage(error)
    return
  }
  facts.verification = verify(plan, after.rows, leftAlone(facts.run), {then: history.before, now: after.before})
}

/** Whether the run reached a point where expected-schema is to be compared. */
function schemaDue(config: Config, facts: RunFacts): boolean {
  if (!config.expectedSchema) return false
  const decision = decide(facts)
  return config.dryRun ? decision.status === 'planned' : decision.status === 'rolled-back'
}

async function story(config: Config, resources: Resources, outcome: Outcome, facts: RunFacts): Promise<void> {
  const target = await core.group('Target', () => resolveTarget(config.target))
  outcome.evidence = target.evidence
  if (!target.cutoff && !target.source) return
  outcome.lock = await core.group('Lock', () => takeLock(config, resources))
  const read = historyReader(config, resources)
  const {history, plan} = await core.group('History and plan', async () => {
    const history = await read(target.cutoff ?? undefined)
    const plan = planForTarget(target, history)
    core.info(`Cutoff ${plan.cutoff.utc}: ${plan.after.length} rows to roll back, in ${plan.apps.length} apps`)
    return {history, plan}
  })
  facts.plan = outcome.plan = plan
  outcome.batches = recentBatches(deploymentBatches(history.rows, plan.cutoff.utc))
  if (plan.after.length === 0) return
  checkNoopReverse(config.noopReverse, plan)
  await core.group('Backup', () => backUp(config, outcome))
  await core.group('Check and run in the target', () => runInTarget(config, plan, resources, facts))
  outcome.where = facts.where
  if (!config.dryRun) {
    const decided = decide(facts)
    if (decided.failure?.kind === 'refused' || decided.status === 'nothing-to-roll-back') return
    await core.group('Verify', () => verifyRun(plan, history, read, facts))
  }
  const report = facts.run?.report
  if (report && schemaDue(config, facts)) facts.schema = await core.group('Schema', () => checkSchema(config, report, config.dryRun))
}

function stoppedBy(error: unknown): RunFacts['stopped'] {
  return isRollbackError(error)
    ? {kind: (error as RollbackError).kind, message: error.message}
    : {kind: 'internal', message: errorMessage(error)}
}

export async function run(dependencies: Partial<Dependencies> = {}): Promise<Outcome> {
  const deps = {...DEFAULTS, ...dependencies}
  const started = Date.now()
  const facts: RunFacts = {dryRun: false}
  const outcome: Outcome = {status: 'failed', unchanged: true, seconds: 0}
  let resources: Resources | undefined
  try {
    const config = await core.group('Inputs', async () => {
      const read = deps.readInputs()
      maskSecrets(read)
      return read
    })
    facts.dryRun = config.dryRun
    outcome.config = configView(config)
    resources = new Resources(config, deps.createExecutor)
    await story(config, resources, outcome, facts)
  } catch (error) {
    facts.stopped = stoppedBy(error)
  } finally {
    const lockLost = await resources?.close()
    if (lockLost) outcome.lock = lockLost
    outcome.where ??= resources?.where
    Object.assign(outcome, decide(facts), {run: facts.run, verification: facts.verification, schema: facts.schema})
    outcome.seconds = (Date.now() - started) / 1000
    setOutputs(outcome)
    await writeSummary(outcome).catch(e => core.warning(`writing the job summary: ${errorMessage(e)}`))
    if (outcome.failure) core.setFailed(failureMessage(outcome.failure))
    else core.info(`Status: ${outcome.status}`)
  }
  return outcome
}
