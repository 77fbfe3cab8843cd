/** What every executor returns for one command run in the application's environment. */
export interface ExecResult {
  exitCode: number
  stdout: string
  stderr: string
}

export interface ExecOptions {
  /** Written to the command's standard input, then closed. */
  input?: string
  /** Called with each complete line of standard output as it arrives, for a live log. */
  onStdoutLine?: (line: string) => void
}

/**
 * Runs argv (never a shell line) where the application's code lives:
 * on the runner, in a container, over SSH or through kubectl exec.
 */
export interface Executor {
  /** Where commands run, for logs and the summary, e.g. "docker exec -i api". No secrets. */
  readonly where: string
  exec(argv: string[], options?: ExecOptions): Promise<ExecResult>
  /** Releases connections and removes temporary files; safe to call twice. */
  close(): Promise<void>
}

/** A transport failure the user must fix (host, credentials, container), as opposed to a failing command. */
export class ExecutorError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'ExecutorError'
  }
}
