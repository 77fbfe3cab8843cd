import * as core from '@actions/core'
import {backupDatabase, BackupError, defaultBackupPath} from './backup.js'
import {deploymentBatches, recentBatches} from './batches.js'
import type {Config, Cutoff} from './config.js'
import {createExecutor} from './executors/index.js'
import type {Executor} from './executors/executor.js'
import {readHistoryInContainer} from './history-container.js'
import {explainDatabaseError, type History, readHistory} from './history.js'
import {InputError, readInputs} from './inputs.js'
import {acquireRollbackLock, LockHeldError, type RollbackLock} from './lock.js'
import {leftAlone, type Outcome} from './outcome.js'
import {setOutputs} from './outputs.js'
import {describePostgres, withRetries} from './retry.js'
import {key, type Plan} from './plan.js'
import {checkAndRun} from './rollback.js'
import {checkSchema, schemaError} from './schema-check.js'
import {writeSummary} from './summary.js'
import {planForTarget, resolveTarget} from './target/resolve.js'
import {beforeUnchanged, verify} from './verify.js'

/**
 * A noop-reverse name applied before the cutoff belongs to the release being restored: refuse it before any
 * change. Names not applied at all are left to the script, which tells a typo from a migration an earlier run
 * already unapplied (the same inputs must be able to finish a rollback that stopped part-way).
 */
function checkNoopReverse(names: string[], plan: Plan): void {
  const before = new Set(plan.before.map(key))
  const early = names.filter(name => before.has(name))
  if (early.length > 0) {
    throw new InputError(
      `noop-reverse names ${early.join(', ')}, which ${early.length === 1 ? 'was' : 'were'} applied before the cutoff: ` +
        'this rollback does not unapply it (it belongs to the release you are going back to); expected migrations of the plan, ' +
        `e.g. ${plan.after.slice(0, 3).map(key).join(', ')}`
    )
  }
}

const message = (error: unknown): string => (error instanceof Error ? error.message : String(error))

/** Reads django_migrations from the database, or through Django in the target (history-source: container). */
function historyReader(config: Config, executor: () => Executor): (cutoff?: Cutoff) => Promise<History> {
  return config.historySource === 'container'
    ? cutoff => readHistoryInContainer(executor(), config.manageCommand, config.databaseAlias, cutoff)
    : cutoff => readHistory(config.databaseUrl, cutoff)
}

/** inputs -> target -> history -> plan -> backup -> check and run in the target -> verify -> outputs and summary */
export async function run(): Promise<Outcome> {
  const started = Date.now()
  const outcome: Outcome = {status: 'failed', unchanged: true, seconds: 0}
  let executor: Executor | undefined
  let lock: RollbackLock | undefined
  try {
    const config = readInputs()
    outcome.config = config
    const target = await resolveTarget(config.target)
    outcome.evidence = target.evidence
    if (!target.cutoff && !target.source) {
      outcome.status = 'nothing-to-roll-back'
      return outcome
    }
    if (config.historySource === 'container' || config.dryRun) {
      outcome.lock = config.dryRun ? 'not needed for a dry run' : 'not taken: history-source is container'
    } else {
      // One rollback at a time, held for the whole run; released when the session ends, even if the runner dies.
      lock = await acquireRollbackLock(config.databaseUrl).catch(error => {
        throw error instanceof LockHeldError ? error : explainDatabaseError(error, config.databaseUrl)
      })
      outcome.lock = `held (PostgreSQL session ${lock.pid})`
    }
    if (config.historySource === 'container') {
      executor = await createExecutor(config)
      outcome.where = executor.where
    }
    const readHistoryNow = historyReader(config, () => executor as Executor)
    const cutoff = target.cutoff ?? undefined
    const history = await readHistoryNow(cutoff)
    const plan = planForTarget(target, history)
    outcome.plan = plan
    outcome.batches = recentBatches(deploymentBatches(history.rows, plan.cutoff.utc))
    core.info(`Cutoff ${plan.cutoff.utc}: ${plan.after.length} rows to roll back, in ${plan.apps.length} apps`)
    if (plan.after.length === 0) {
      outcome.status = 'nothing-to-roll-back'
      return outcome
    }
    checkNoopReverse(config.noopReverse, plan)

    if (config.backup && !config.dryRun) {
      const path = config.backupPath ?? defaultBackupPath(config.databaseUrl)
      core.info(`Backing up the database to ${path} (pg_dump --format=custom)`)
      // A dump only reads, and each attempt writes a fresh temporary file: safe to retry.
      outcome.backup = await withRetries(describePostgres(config.databaseUrl), () => backupDatabase(config.databaseUrl, path), {
        isTransient: e => e instanceof BackupError && e.kind === 'connection'
      })
    }

    executor ??= await createExecutor(config)
    outcome.where = executor.where
    try {
      outcome.run = await checkAndRun(executor, config, plan)
    } catch (error) {
      // The connection may have dropped while Django was unapplying: find out from the database.
      outcome.error = message(error)
    }
    const result = outcome.run
    if (result?.refused) {
      outcome.error = result.refused
      return outcome
    }
    if (result && result.report.plan.length === 0 && result.report.rowsOnly.length === 0 && !result.failed) {
      outcome.status = 'nothing-to-roll-back'
      return outcome
    }
    if (config.dryRun && result) {
      // A dry run, trial or not, ends with everything as it was; a trial that failed says why.
      if (result.failed) {
        outcome.error = `${result.failed.command} failed: ${result.failed.message}`
        return outcome
      }
      if (config.expectedSchema) {
        outcome.schema = await core.group('Schema', () => checkSchema(config, result.report, true))
        if (!outcome.schema.comparison.equal) {
          outcome.error = schemaError(outcome.schema)
          return outcome
        }
      }
      outcome.status = 'planned'
      return outcome
    }

    let after: History
    try {
      after = await readHistoryNow(cutoff)
      // Something before the cutoff changed (never expected): read everything, to name what is gone.
      if (beforeUnchanged(history.before, after.before) === false) after = {...(await readHistoryNow()), before: after.before}
    } catch (error) {
      // Django may have unapplied everything: never report "unchanged" when the result is unknown.
      outcome.unchanged = false
      outcome.error =
        `${outcome.error ? `${outcome.error}; ` : ''}the rollback ran in ${executor.where}, but reading ` +
        `django_migrations back failed: ${message(error)}. The database state is unknown: run again with the same ` +
        'inputs once the database is reachable (it rolls back what remains, or finds nothing to do)'
      return outcome
    }
    const verification = verify(plan, after.rows, leftAlone(result), {then: history.before, now: after.before})
    outcome.verification = verification
    outcome.unchanged = verification.unapplied.length === 0 && verification.lostBefore.length === 0 && verification.lostBeforeUnnamed === 0
    if (outcome.error) return outcome
    if (result?.timedOut) {
      outcome.error = result.timedOut.message
    } else if (result?.failed) {
      outcome.error = `${result.failed.command} failed: ${result.failed.message}`
    } else if (verification.lostBefore.length > 0 || verification.lostBeforeUnnamed > 0) {
      const unnamed = verification.lostBeforeUnnamed
        ? `${verification.lostBefore.length ? ' and ' : ''}${verification.lostBeforeUnnamed} more rows`
        : ''
      outcome.error = `migrations applied before the cutoff were unapplied: ${verification.lostBefore.join(', ')}${unnamed}`
    } else if (verification.remaining.length > 0) {
      const left = verification.remaining.map(r => `${r.app}.${r.name}`).join(', ')
      outcome.error = `the commands ran, but these are still applied at or after the cutoff: ${left}`
    } else if (config.expectedSchema && result) {
      outcome.schema = await core.group('Schema', () => checkSchema(config, result.report, false))
      if (outcome.schema.comparison.equal) outcome.status = 'rolled-back'
      else outcome.error = schemaError(outcome.schema)
    } else {
      outcome.status = 'rolled-back'
    }
    return outcome
  } catch (error) {
    outcome.error = message(error)
    return outcome
  } finally {
    await executor?.close().catch(e => core.warning(`closing the executor: ${message(e)}`))
    const lost = lock?.lost()
    if (lost) outcome.lock = `lost during the run (${lost.message}): another rollback could have started meanwhile`
    await lock?.release().catch(e => core.warning(`releasing the rollback lock: ${message(e)}`))
    outcome.seconds = (Date.now() - started) / 1000
    setOutputs(outcome)
    await writeSummary(outcome).catch(e => core.warning(`writing the job summary: ${message(e)}`))
    if (outcome.status === 'failed') core.setFailed(outcome.error ?? 'rollback failed')
    else core.info(`Status: ${outcome.status}`)
  }
}
