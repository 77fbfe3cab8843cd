import {type ExecOptions, type ExecResult, type Executor, executorError} from './executor.js'
import {runProcess, runProcessWithDeadline} from './process.js'
import {limitOf, runUnderLimit, timeoutProbe} from './timeout.js'

/** `docker exec -i CONTAINER argv...` on the runner: docker passes argv to the container without a shell. */
export class DockerExecutor implements Executor {
  readonly where: string
  private readonly hasTimeout = timeoutProbe(words => runProcess(this.dockerArgv(words), {input: ''}))

  /** commandTimeoutSeconds: the default limit of every command (command-timeout, see timeout.ts). */
  constructor(
    private readonly container: string,
    private readonly commandTimeoutSeconds?: number
  ) {
    this.where = `docker exec -i ${container}`
  }

  async exec(argv: string[], options: ExecOptions = {}): Promise<ExecResult> {
    const result = await runUnderLimit(
      argv,
      limitOf(this.commandTimeoutSeconds, options),
      this.hasTimeout,
      (words, deadline) =>
        deadline ? runProcessWithDeadline(this.dockerArgv(words), {...options, deadline}) : runProcess(this.dockerArgv(words), options),
      `container ${this.container}`
    )
    return this.checked({exitCode: result.exitCode, stdout: result.stdout, stderr: result.stderr})
  }

  private dockerArgv(words: string[]): string[] {
    return ['docker', 'exec', '-i', this.container, ...words]
  }

  private checked(result: ExecResult): ExecResult {
    const daemon = /Error response from daemon: (.*(No such container|is not running|is paused).*)/.exec(result.stderr)
    if (result.exitCode !== 0 && daemon) {
      throw executorError(
        `docker exec into ${this.container} failed: ${daemon[1]}. Set container to the name or ID of the running ` +
          'application container of the current release (docker ps shows it)'
      )
    }
    return result
  }

  async close(): Promise<void> {}
}
