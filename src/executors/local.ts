import type {ExecOptions, ExecResult, Executor} from './executor.js'
import {runProcess, runProcessWithDeadline} from './process.js'
import {CommandTimeoutError, commandForMessage, KILL_AFTER_SECONDS, limitOf} from './timeout.js'

/** Runs manage.py on the runner itself (a checkout of the application, or a self-hosted runner). */
export class LocalExecutor implements Executor {
  readonly where = 'the runner (local)'

  /** commandTimeoutSeconds: the default limit of every command (command-timeout). */
  constructor(private readonly commandTimeoutSeconds?: number) {}

  async exec(argv: string[], options: ExecOptions = {}): Promise<ExecResult> {
    const limit = limitOf(this.commandTimeoutSeconds, options)
    if (!limit) return runProcess(argv, options)
    // The command is here: it runs as the leader of its own process group, and at the limit the whole group
    // (manage.py and anything it started) gets SIGTERM, then SIGKILL.
    const result = await runProcessWithDeadline(argv, {
      ...options,
      deadline: {termAfterMs: limit.hardSeconds * 1000, killAfterMs: KILL_AFTER_SECONDS * 1000, group: true}
    })
    if (result.timedOut) {
      throw new CommandTimeoutError(
        commandForMessage(argv),
        limit.seconds,
        `its process group on the runner got SIGTERM (and SIGKILL ${KILL_AFTER_SECONDS} s later if still running); PostgreSQL rolled back its open transaction`
      )
    }
    return {exitCode: result.exitCode, stdout: result.stdout, stderr: result.stderr}
  }

  async close(): Promise<void> {}
}
