/**
 * Checks the plan with Django in the target and carries it out with the chosen
 * strategy. Every strategy starts with one run of the rollback script (src/django/rollback/): it tells which rows
 * are orphans or squash bookkeeping, builds the exact plan, and evaluates the
 * `migrate APP TARGET` commands the other strategies would run.
 */
import * as core from '@actions/core'
import type {Config} from './config.js'
import {type DjangoReport, type ScriptRequest, displayCommand, parseReport, scriptArgv, scriptInput} from './django/commands.js'
import {selfStopPrelude} from './django/scripts.js'
import {isRollbackError} from './errors.js'
import type {Executor} from './executors/executor.js'
import {type CommandTimeoutError, commandForMessage, describeLimit} from './executors/timeout.js'
import {describeFault, type ScriptFault} from './fault.js'
import type {Plan} from './plan.js'
import {strategyFor} from './strategies/index.js'
import type {Strategy} from './strategies/strategy.js'

export interface RunResult {
  report: DjangoReport
  /** Command lines run (or, in a dry run, that would run), for the `commands` output. */
  commands: string[]
  /** Why the run stopped before changing anything; null when it went ahead (or would, in a dry run). */
  refused: string[] | null
  /** A command that failed after changes may have begun (or, in a trial, the failure the trial found). */
  failed: {command: string; message: string} | null
  /** Why the rollback script stopped, as facts for the summary (exact strategy and trials). */
  fault?: ScriptFault
  djangoProcesses: number
  /** The command that ran into command-timeout and was stopped; absent when none did. */
  timedOut?: {command: string; seconds: number; message: string}
}

/** The exception the self-stop prelude raises in the script (the rollback script reports its class name). */
const TIMEOUT_EXCEPTION = 'CommandTimeout'

const IRREVERSIBLE_ADVICE =
  'Django cannot undo an irreversible step. If its reverse may safely do nothing (typically a data ' +
  'migration whose effect the earlier release does not mind), name the migration in noop-reverse; ' +
  'otherwise add the reverse operation in a new release, or restore from a backup. ' +
  '(allow-irreversible: true would unapply only the migrations before it, and stop there)'

/** Blocking findings, each a sentence that says what to do; null when the plan may run. */
function refusal(strategy: Strategy, plan: Plan, report: DjangoReport): string[] | null {
  const reasons = report.problems.filter(p => p.blocking).map(p => p.message)
  if (report.problems.some(p => p.kind === 'irreversible' && p.blocking)) reasons.push(IRREVERSIBLE_ADVICE)
  reasons.push(...strategy.refusals(plan, report))
  return reasons.length > 0 ? reasons : null
}

/** One line for the error output and the log: where it stopped and why. */
function faultText(fault: ScriptFault | undefined): string {
  if (!fault) return 'failed'
  const where = [fault.migration, fault.operation].filter(Boolean).join(', ')
  return `${where ? `${where}: ` : ''}${fault.message}`
}

async function runScript(executor: Executor, config: Config, request: ScriptRequest): Promise<DjangoReport> {
  core.info(`Django: checking${request.execute ? ' and running' : ''} the plan in ${executor.where}`)
  const limit = config.commandTimeoutSeconds
  const argv = scriptArgv(config.manageCommand)
  const prelude = limit
    ? selfStopPrelude(limit, `${commandForMessage(argv)} was stopped after ${describeLimit(limit)} (command-timeout)`)
    : ''
  const result = await executor.exec(argv, {
    input: prelude + scriptInput(request),
    stopsItself: Boolean(limit),
    // Progress as it happens: a long data migration should not look like a hang.
    onStdoutLine: line => {
      if (/^\s+Unapplying /.test(line)) core.info(line)
    }
  })
  return parseReport(result.stdout, result.stderr, result.exitCode)
}

/** The script stopped while executing: by command-timeout, or on a failure (nothing of its transaction kept). */
function scriptStopped(result: RunResult, config: Config, where: string): void {
  const error = result.report.error
  if (!error) return
  const at = error.migration ? ` at ${error.migration}` : ''
  result.failed = {command: `the rollback script in ${where}`, message: `stopped${at}: ${error.message}`}
  if (error.exception !== TIMEOUT_EXCEPTION || !config.commandTimeoutSeconds) return
  const seconds = config.commandTimeoutSeconds
  const command = commandForMessage(scriptArgv(config.manageCommand))
  const inMigration = error.migration ? ` while unapplying ${error.migration}, which was rolled back with its transaction` : ''
  const stopped = `stopped after ${describeLimit(seconds)} (command-timeout)${inMigration}`
  result.timedOut = {command, seconds, message: `${command} was ${stopped}`}
  result.failed.message = stopped
}

/** Runs the strategy's commands one by one, stopping at the first that fails or runs into command-timeout. */
async function runCommands(executor: Executor, runs: string[][], result: RunResult): Promise<void> {
  for (const argv of runs) {
    const line = displayCommand(argv)
    core.info(`Running: ${line}`)
    let outcome
    try {
      outcome = await executor.exec(argv, {onStdoutLine: l => l.trim() && core.info(l)})
    } catch (error) {
      if (!isRollbackError(error, 'command-timeout')) throw error
      // Stopped in the target: main re-reads the history to say what was reached.
      const stopped = error as CommandTimeoutError
      result.djangoProcesses++
      result.timedOut = {command: stopped.command, seconds: stopped.seconds, message: stopped.message}
      result.failed = {command: line, message: `stopped after ${describeLimit(stopped.seconds)} (command-timeout): ${stopped.detail}`}
      return
    }
    result.djangoProcesses++
    if (outcome.exitCode !== 0) {
      const tail = `${outcome.stderr}\n${outcome.stdout}`.trim().split('\n').slice(-10).join('\n')
      result.failed = {command: line, message: `exited with ${outcome.exitCode}:\n${tail}`}
      return
    }
  }
}

export async function checkAndRun(executor: Executor, config: Config, plan: Plan): Promise<RunResult> {
  const strategy = strategyFor(config.strategy)
  const executeInScript = strategy.runsInScript && !config.dryRun
  const request: ScriptRequest = {
    version: 1,
    database: config.databaseAlias,
    after: plan.after.map(({app, name, applied}) => ({app, name, applied})),
    execute: executeInScript,
    trial: config.trial,
    allowIrreversible: config.allowIrreversible,
    lockTimeout: config.lockTimeoutSeconds,
    noopReverse: config.noopReverse,
    ...strategy.evaluate(plan)
  }
  const report = await runScript(executor, config, request)
  const ranInScript = executeInScript || config.trial
  const refused = report.error && !ranInScript ? [report.error.message] : refusal(strategy, plan, report)
  const result: RunResult = {report, commands: [], refused, failed: null, djangoProcesses: 1}
  if (ranInScript && report.error && !refused) result.fault = describeFault(report, config.lockTimeoutSeconds) ?? undefined
  if (config.trial && result.fault) result.failed = {command: `the trial in ${executor.where}`, message: faultText(result.fault)}

  if (strategy.runsInScript) {
    result.commands.push(displayCommand(scriptArgv(config.manageCommand)))
    if (executeInScript) scriptStopped(result, config, executor.where)
    return result
  }
  const runs = strategy.commands(plan, report, config.manageCommand, config.databaseAlias)
  result.commands = runs.map(displayCommand)
  if (!refused && !config.dryRun) await runCommands(executor, runs, result)
  return result
}
