/**
 * Checks the plan with Django in the target and carries it out with the chosen
 * strategy. Every strategy starts with one rollback.py run: it tells which rows
 * are orphans or squash bookkeeping, builds the exact plan, and evaluates the
 * `migrate APP TARGET` commands the other strategies would run.
 */
import * as core from '@actions/core'
import type {Config} from './config.js'
import {
  type DjangoReport,
  type ScriptRequest,
  displayCommand,
  migrateArgv,
  parseReport,
  scriptArgv,
  scriptInput,
  VENDOR_COMMAND,
  withDatabase,
  vendorArgv
} from './django/commands.js'
import type {Executor} from './executors/executor.js'
import {CommandTimeoutError, commandForMessage, describeLimit} from './executors/timeout.js'
import {describeFailure, type Failure} from './failure.js'
import {type MigrateCommand, type Plan, vendorCommands} from './plan.js'

export interface RunResult {
  report: DjangoReport
  /** Command lines run (or, in a dry run, that would run), for the `commands` output. */
  commands: string[]
  /** The equivalent `migrate APP TARGET` commands, when they reproduce the exact plan. */
  equivalent: MigrateCommand[] | null
  /** Why the run stopped before changing anything; null when it went ahead (or would, in a dry run). */
  refused: string | null
  /** A command that failed after changes may have begun (or, in a trial, the failure the trial found). */
  failed: {command: string; message: string} | null
  /** Why the rollback script stopped, as facts for the summary (exact strategy and trials). */
  failure?: Failure
  djangoProcesses: number
  /** The command that ran into command-timeout and was stopped, in words; absent when none did. */
  timedOut?: {command: string; seconds: number; message: string}
}

/** The exception class the self-stop prelude raises in the script (its name starts the report's error message). */
const TIMEOUT_EXCEPTION = 'CommandTimeout'

/**
 * Python run before rollback.py when command-timeout is set (executors/timeout.ts, layer 1): SIGALRM at
 * the limit, counted from the process start (Django's own start-up included), raises an exception that
 * rollback.py reports like any failure: the migration in progress is rolled back with its transaction, the
 * ones before it stay unapplied, and the report line says which. Should something swallow the exception,
 * it comes again every second until the report line is written; the target's `timeout` is the backstop.
 */
export function selfStopPrelude(seconds: number, command: string): string {
  const message = `${command} was stopped after ${describeLimit(seconds)} (command-timeout)`
  return [
    'import os as _ct_os, signal as _ct_signal, sys as _ct_sys',
    `class ${TIMEOUT_EXCEPTION}(Exception):`,
    '    pass',
    'def _ct_elapsed():',
    '    try:',
    '        with open("/proc/self/stat") as f:',
    '            start = int(f.read().rsplit(")", 1)[1].split()[19])',
    '        with open("/proc/uptime") as f:',
    '            up = float(f.read().split()[0])',
    '        return max(0.0, up - start / _ct_os.sysconf("SC_CLK_TCK"))',
    '    except Exception:',
    '        return 0.0',
    'def _ct_alarm(signum, frame):',
    '    _ct_signal.setitimer(_ct_signal.ITIMER_REAL, 1.0)',
    `    raise ${TIMEOUT_EXCEPTION}(${JSON.stringify(message)})`,
    'class _CtOut(object):',
    '    def __init__(self, out):',
    '        self._ct_out = out',
    '    def write(self, text):',
    '        if "ROLLBACK-REPORT " in text:',
    '            _ct_signal.setitimer(_ct_signal.ITIMER_REAL, 0)',
    '        return self._ct_out.write(text)',
    '    def __getattr__(self, name):',
    '        return getattr(self._ct_out, name)',
    '_ct_signal.signal(_ct_signal.SIGALRM, _ct_alarm)',
    '_ct_sys.stdout = _CtOut(_ct_sys.stdout)',
    `_ct_signal.setitimer(_ct_signal.ITIMER_REAL, max(0.05, ${seconds} - _ct_elapsed()))`,
    ''
  ].join('\n')
}

/** Blocking findings, as one message that says what to do; null when the plan may run. */
function refusal(config: Config, plan: Plan, report: DjangoReport): string | null {
  const reasons = report.problems.filter(p => p.blocking).map(p => p.message)
  if (report.problems.some(p => p.kind === 'irreversible' && p.blocking)) {
    reasons.push(
      'Django cannot undo an irreversible step. If its reverse may safely do nothing (typically a data ' +
        'migration whose effect the earlier release does not mind), name the migration in noop-reverse; ' +
        'otherwise add the reverse operation in a new release, or restore from a backup. ' +
        '(allow-irreversible: true would unapply only the migrations before it, and stop there)'
    )
  }
  if (config.strategy === 'exact') return reasons.length > 0 ? reasons.join('\n') : null

  const label = config.strategy === 'flagsmith' ? `Flagsmith's ${VENDOR_COMMAND}` : 'the per-app migrate commands'
  if (config.strategy === 'flagsmith') {
    for (const step of vendorCommands(plan)) if (step.error) reasons.push(step.error)
    if (!report.hasFlagsmithCommand) {
      reasons.push(
        `The container's manage.py has no ${VENDOR_COMMAND} command: it arrived in Flagsmith v2.151.0 ` +
          "(Flagsmith's docs misname it rollbackmigrationsafter). strategy: exact works on every version"
      )
    }
  }
  // Problems with one command (ambiguous, not found, forwards) do not stop the exact plan, but they stop these.
  for (const p of report.problems) if (p.command && !p.blocking) reasons.push(`${p.command}: ${p.message}`)
  if (report.commandsExtra.length > 0) {
    reasons.push(
      `${label} would also unapply ${report.commandsExtra.join(', ')}, applied before the cutoff: data of the ` +
        'release you are going back to would be lost. Use strategy: exact, which unapplies exactly what came after the cutoff'
    )
  }
  if (report.commandsMissing.length > 0) {
    reasons.push(
      `${label} would leave ${report.commandsMissing.join(', ')} applied. Use strategy: exact, which unapplies ` +
        'exactly what came after the cutoff'
    )
  }
  return reasons.length > 0 ? reasons.join('\n') : null
}

/** One line for the error output and the log: where it stopped and why. */
function failureText(failure: Failure | undefined): string {
  if (!failure) return 'failed'
  const where = [failure.migration, failure.operation].filter(Boolean).join(', ')
  return `${where ? `${where}: ` : ''}${failure.message}`
}

function isEquivalent(report: DjangoReport): boolean {
  return (
    report.commandsExtra.length === 0 &&
    report.commandsMissing.length === 0 &&
    report.commands.every(c => !c.error && c.plan.every(step => step.backwards))
  )
}

async function runScript(executor: Executor, config: Config, request: ScriptRequest): Promise<DjangoReport> {
  core.info(`Django: checking${request.execute ? ' and running' : ''} the plan in ${executor.where}`)
  const limit = config.commandTimeoutSeconds
  const prelude = limit ? selfStopPrelude(limit, commandForMessage(scriptArgv(config.manageCommand))) : ''
  const result = await executor.exec(scriptArgv(config.manageCommand), {
    input: prelude + scriptInput(request),
    stopsItself: Boolean(limit),
    // Progress as it happens: a long data migration should not look like a hang.
    onStdoutLine: line => {
      if (/^\s+Unapplying /.test(line)) core.info(line)
    }
  })
  return parseReport(result.stdout, result.stderr, result.exitCode)
}

export async function checkAndRun(executor: Executor, config: Config, plan: Plan): Promise<RunResult> {
  const vendor = config.strategy === 'flagsmith'
  const executeInScript = config.strategy === 'exact' && !config.dryRun
  const request: ScriptRequest = {
    version: 1,
    database: config.databaseAlias,
    after: plan.after.map(({app, name, applied}) => ({app, name, applied})),
    execute: executeInScript,
    trial: config.trial,
    allowIrreversible: config.allowIrreversible,
    lockTimeout: config.lockTimeoutSeconds,
    noopReverse: config.noopReverse,
    commands: vendor
      ? vendorCommands(plan)
          .filter(c => !c.error)
          .map(({app, target}) => ({app, target}))
      : [],
    // The exact strategy has the per-app commands evaluated too, to show them as the by-hand equivalent.
    perApp: vendor ? [] : plan.apps.map(({app, before}) => ({app, before}))
  }
  const report = await runScript(executor, config, request)
  const equivalent = !vendor && isEquivalent(report) ? report.perApp : null
  const ranInScript = executeInScript || config.trial
  const refused = report.error && !ranInScript ? report.error.message : refusal(config, plan, report)
  const result: RunResult = {report, commands: [], equivalent, refused, failed: null, djangoProcesses: 1}
  if (ranInScript && report.error && !refused) result.failure = describeFailure(report, config.lockTimeoutSeconds) ?? undefined
  if (config.trial && result.failure) {
    result.failed = {command: `the trial in ${executor.where}`, message: failureText(result.failure)}
  }

  if (config.strategy === 'exact') {
    result.commands.push(displayCommand(scriptArgv(config.manageCommand)))
    if (executeInScript && report.error) {
      const at = report.error.migration ? ` at ${report.error.migration}` : ''
      result.failed = {command: `rollback.py in ${executor.where}`, message: `stopped${at}: ${report.error.message}`}
      if (report.error.message.startsWith(`${TIMEOUT_EXCEPTION}: `) && config.commandTimeoutSeconds) {
        const message = report.error.message.slice(TIMEOUT_EXCEPTION.length + 2)
        const where = report.error.migration
          ? ` while unapplying ${report.error.migration}, which was rolled back with its transaction`
          : ''
        const command = commandForMessage(scriptArgv(config.manageCommand))
        result.timedOut = {command, seconds: config.commandTimeoutSeconds, message: `${message}${where}`}
        // main.ts puts the command line in front: "COMMAND failed: stopped after ...".
        result.failed.message = `${message.startsWith(`${command} was `) ? message.slice(command.length + 5) : message}${where}`
      }
    }
    return result
  }

  const evaluated = (c: MigrateCommand): boolean =>
    Boolean(report.commands.find(r => r.app === c.app && r.target === c.target)?.plan.length)
  const runs = vendor
    ? [vendorArgv(config.manageCommand, plan.cutoff)]
    : // A command whose plan is empty (only bookkeeping or orphan rows in that app) has nothing to do.
      report.perApp.filter(evaluated).map(c => withDatabase(migrateArgv(config.manageCommand, c.app, c.target), config.databaseAlias))
  result.commands = runs.map(displayCommand)
  if (refused || config.dryRun) return result

  for (const argv of runs) {
    const line = displayCommand(argv)
    core.info(`Running: ${line}`)
    let outcome
    try {
      outcome = await executor.exec(argv, {onStdoutLine: l => l.trim() && core.info(l)})
    } catch (error) {
      if (!(error instanceof CommandTimeoutError)) throw error
      // Stopped in the target: main re-reads the history to say what was reached.
      result.djangoProcesses++
      result.timedOut = {command: error.command, seconds: error.seconds, message: error.message}
      result.failed = {command: line, message: `stopped after ${describeLimit(error.seconds)} (command-timeout): ${error.detail}`}
      break
    }
    result.djangoProcesses++
    if (outcome.exitCode !== 0) {
      const tail = `${outcome.stderr}\n${outcome.stdout}`.trim().split('\n').slice(-10).join('\n')
      result.failed = {command: line, message: `exited with ${outcome.exitCode}:\n${tail}`}
      break
    }
  }
  return result
}
