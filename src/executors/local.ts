import type {ExecOptions, ExecResult, Executor} from './executor.js'
import {runProcess} from './process.js'

/** Runs manage.py on the runner itself (a checkout of the application, or a self-hosted runner). */
export class LocalExecutor implements Executor {
  readonly where = 'the runner (local)'

  async exec(argv: string[], options: ExecOptions = {}): Promise<ExecResult> {
    return runProcess(argv, options)
  }

  async close(): Promise<void> {}
}
