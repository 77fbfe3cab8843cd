import {type ExecOptions, type ExecResult, type Executor, ExecutorError} from './executor.js'
import {runProcess, runProcessWithDeadline} from './process.js'
import {
  clientDeadline,
  CommandTimeoutError,
  commandForMessage,
  endedByTargetTimeout,
  limitOf,
  targetDetail,
  TIMEOUT_PROBE,
  timeoutArgv
} from './timeout.js'

/** `docker exec -i CONTAINER argv...` on the runner: docker passes argv to the container without a shell. */
export class DockerExecutor implements Executor {
  readonly where: string
  private hasTimeout: Promise<boolean> | undefined

  /** commandTimeoutSeconds: the default limit of every command (command-timeout, see timeout.ts). */
  constructor(
    private readonly container: string,
    private readonly commandTimeoutSeconds?: number
  ) {
    this.where = `docker exec -i ${container}`
  }

  async exec(argv: string[], options: ExecOptions = {}): Promise<ExecResult> {
    const limit = limitOf(this.commandTimeoutSeconds, options)
    if (!limit) return this.checked(await runProcess(['docker', 'exec', '-i', this.container, ...argv], options))
    // Killing `docker exec` leaves the process in the container running: `timeout` in the container ends it.
    this.hasTimeout ??= runProcess(['docker', 'exec', '-i', this.container, ...TIMEOUT_PROBE], {input: ''})
      .then(r => r.exitCode === 0)
      .catch(() => false)
    const inTarget = await this.hasTimeout
    const result = await runProcessWithDeadline(
      ['docker', 'exec', '-i', this.container, ...(inTarget ? timeoutArgv(limit.hardSeconds, argv) : argv)],
      {...options, deadline: clientDeadline(limit, inTarget)}
    )
    if (result.timedOut || (inTarget && endedByTargetTimeout(limit, result.exitCode, result.ms))) {
      throw new CommandTimeoutError(
        commandForMessage(argv),
        limit.seconds,
        targetDetail(`container ${this.container}`, inTarget, result.timedOut)
      )
    }
    return this.checked({exitCode: result.exitCode, stdout: result.stdout, stderr: result.stderr})
  }

  private checked(result: ExecResult): ExecResult {
    const daemon = /Error response from daemon: (.*(No such container|is not running|is paused).*)/.exec(result.stderr)
    if (result.exitCode !== 0 && daemon) {
      throw new ExecutorError(
        `docker exec into ${this.container} failed: ${daemon[1]}. Set container to the name or ID of the running ` +
          'application container of the current release (docker ps shows it)'
      )
    }
    return result
  }

  async close(): Promise<void> {}
}
