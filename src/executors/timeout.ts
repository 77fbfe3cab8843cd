/**
 * command-timeout: how a limit on one command is enforced, whatever the executor.
 *
 * Killing the client on the runner is not enough: `docker exec`, `ssh` and
 * `kubectl exec` leave the process in the container running when their client
 * dies (no TTY, so no SIGHUP reaches it), and a Django that keeps unapplying
 * after the action has re-read the history makes the summary wrong. So the
 * limit is enforced where the command runs, in up to three layers:
 *
 * 1. Our own scripts (the rollback script) stop themselves at the limit: rollback.ts
 *    arms SIGALRM in the script, whose handler raises between two Python
 *    steps, so the migration in progress is rolled back by its transaction and
 *    the report line (what was done) still prints. A long SQL statement is not
 *    interrupted by it (Python handles signals between bytecodes), hence 2.
 * 2. The command runs under `timeout -s TERM -k 30 SECONDS` in the target
 *    (coreutils or BusyBox, probed once per run): SIGTERM at the limit (at
 *    limit + SELF_STOP_GRACE_SECONDS for a script that stops itself), SIGKILL
 *    30 s later. PostgreSQL rolls back the open transaction of a killed client.
 *    The local executor does the same itself: the command is the leader of its
 *    own process group, and the group gets SIGTERM then SIGKILL.
 * 3. A local deadline kills the client CLIENT_GRACE_SECONDS after the target
 *    should have ended the command, as a backstop (a hung connection). Without
 *    `timeout` in the target this is the only layer for commands other than
 *    our scripts, and the error says the process may still be running there.
 */
import type {ExecResult} from './executor.js'
import {BOOTSTRAP, displayCommand} from '../django/commands.js'
import {RollbackError} from '../errors.js'
import type {Deadline} from './process.js'

/** Between SIGTERM and SIGKILL, in the target and locally. */
export const KILL_AFTER_SECONDS = 30
/** A script that stops itself at the limit gets this long to roll back its step and print its report. */
export const SELF_STOP_GRACE_SECONDS = 10
/** The local client is killed this long after the target should have ended the command. */
export const CLIENT_GRACE_SECONDS = 10

/** What `exec` takes to limit one command. */
export interface TimeoutOptions {
  /** Limit in seconds; overrides the executor's command-timeout. 0 or absent with no default: no limit. */
  timeoutSeconds?: number
  /** The command stops itself at the limit (our scripts): the target's SIGTERM comes SELF_STOP_GRACE_SECONDS later. */
  stopsItself?: boolean
}

/** "3 s (0.05 minutes)", "1 minute", "30 minutes", for messages. */
export function describeLimit(seconds: number): string {
  const minutes = Number((seconds / 60).toFixed(3))
  const text = `${minutes} minute${minutes === 1 ? '' : 's'}`
  return seconds < 60 ? `${text} (${Number(seconds.toFixed(1))} s)` : text
}

/** The command ran into command-timeout and was stopped. */
export class CommandTimeoutError extends RollbackError {
  constructor(
    readonly command: string,
    readonly seconds: number,
    readonly detail: string
  ) {
    super('command-timeout', `${command} was stopped after ${describeLimit(seconds)} (command-timeout): ${detail}`)
  }
}

/** The words put in front of argv in the target. Whole seconds: BusyBox may not take fractions. */
export function timeoutArgv(seconds: number, argv: string[]): string[] {
  return ['timeout', '-s', 'TERM', '-k', String(KILL_AFTER_SECONDS), String(Math.max(1, Math.ceil(seconds))), ...argv]
}

/** What probes for `timeout` in the target: the same options, on a command that exists wherever it does. */
export const TIMEOUT_PROBE = timeoutArgv(5, ['true'])

export interface Limit {
  /** The limit the user set (seconds). */
  seconds: number
  /** When the target's SIGTERM comes (seconds after the start). */
  hardSeconds: number
}

export function limitOf(defaultSeconds: number | undefined, options: TimeoutOptions): Limit | null {
  const seconds = options.timeoutSeconds ?? defaultSeconds
  if (!seconds || seconds <= 0) return null
  return {seconds, hardSeconds: seconds + (options.stopsItself ? SELF_STOP_GRACE_SECONDS : 0)}
}

/** The local deadline for a client whose target enforces the limit (inTarget) or cannot (only the client is stopped). */
export function clientDeadline(limit: Limit, inTarget: boolean): Deadline {
  const after = inTarget ? Math.ceil(limit.hardSeconds) + KILL_AFTER_SECONDS + CLIENT_GRACE_SECONDS : limit.hardSeconds
  return {termAfterMs: after * 1000, killAfterMs: 5000}
}

/** Whether a run under `timeout` in the target ended because of it: 124 (TERM) or 137 (KILL), once the limit had passed. */
export function endedByTargetTimeout(limit: Limit, exitCode: number, ms: number): boolean {
  return (exitCode === 124 || exitCode === 137) && ms >= limit.seconds * 1000 - 50
}

export function targetDetail(where: string, inTarget: boolean, clientKilled: boolean): string {
  if (inTarget && !clientKilled) {
    return `\`timeout\` in the target ended it (SIGTERM, then SIGKILL after ${KILL_AFTER_SECONDS} s if needed) in ${where}; PostgreSQL rolled back its open transaction`
  }
  if (inTarget) {
    return `the target did not report the end of the process in time, so the client on the runner was killed; \`timeout\` in ${where} ends the process there (SIGTERM, then SIGKILL), but check that no manage.py process is left before running again`
  }
  return `only the client on the runner could be stopped: ${where} has no \`timeout\` command (coreutils or BusyBox), so the process may still be running there. Check (e.g. ps) that no manage.py process is left before running again`
}

/** A command line for messages: our scripts' bootstrap (the scripts of src/django/ on stdin) shortened. */
export function commandForMessage(argv: string[]): string {
  if (argv[argv.length - 1] !== BOOTSTRAP) return displayCommand(argv)
  const shell = argv.lastIndexOf('shell')
  return `${displayCommand(argv.slice(0, shell >= 0 ? shell + 1 : argv.length - 1))} (script on stdin)`
}

/** A run in the target as an executor does it: argv words, and the client's backstop deadline when there is a limit. */
export type TargetRun<R extends ExecResult & {timedOut?: boolean; ms?: number}> = (words: string[], deadline?: Deadline) => Promise<R>

/** Asks the target once whether it has a working `timeout`; later calls reuse the answer. */
export function timeoutProbe(run: (words: string[]) => Promise<ExecResult>): () => Promise<boolean> {
  let answer: Promise<boolean> | undefined
  return () =>
    (answer ??= run(TIMEOUT_PROBE)
      .then(r => r.exitCode === 0)
      .catch(() => false))
}

/**
 * Runs argv in the target under command-timeout, the same way for every
 * executor: killing the client (ssh, docker exec, kubectl exec) leaves the
 * process in the target running, so `timeout` there ends it when the target
 * has one, and the client is killed at the backstop deadline either way.
 * Either ending becomes a CommandTimeoutError that says where.
 */
export async function runUnderLimit<R extends ExecResult & {timedOut?: boolean; ms?: number}>(
  argv: string[],
  limit: Limit | null,
  hasTimeout: () => Promise<boolean>,
  run: TargetRun<R>,
  where: string
): Promise<R> {
  if (!limit) return run(argv)
  const inTarget = await hasTimeout()
  const result = await run(inTarget ? timeoutArgv(limit.hardSeconds, argv) : argv, clientDeadline(limit, inTarget))
  if (result.timedOut || (inTarget && endedByTargetTimeout(limit, result.exitCode, result.ms ?? 0))) {
    throw new CommandTimeoutError(commandForMessage(argv), limit.seconds, targetDetail(where, inTarget, Boolean(result.timedOut)))
  }
  return result
}
