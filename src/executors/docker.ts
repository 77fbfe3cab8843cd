import type {ExecOptions, ExecResult, Executor} from './executor.js'
import {runProcess} from './process.js'

/** `docker exec -i CONTAINER argv...` on the runner: docker passes argv to the container without a shell. */
export class DockerExecutor implements Executor {
  readonly where: string

  constructor(private readonly container: string) {
    this.where = `docker exec -i ${container}`
  }

  async exec(argv: string[], options: ExecOptions = {}): Promise<ExecResult> {
    return runProcess(['docker', 'exec', '-i', this.container, ...argv], options)
  }

  async close(): Promise<void> {}
}
