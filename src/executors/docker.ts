import {type ExecOptions, type ExecResult, type Executor, ExecutorError} from './executor.js'
import {runProcess} from './process.js'

/** `docker exec -i CONTAINER argv...` on the runner: docker passes argv to the container without a shell. */
export class DockerExecutor implements Executor {
  readonly where: string

  constructor(private readonly container: string) {
    this.where = `docker exec -i ${container}`
  }

  async exec(argv: string[], options: ExecOptions = {}): Promise<ExecResult> {
    const result = await runProcess(['docker', 'exec', '-i', this.container, ...argv], options)
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
