import {type ErrorHint, RollbackError} from '../errors.js'
import type {RetryOptions} from '../retry.js'

/** How an executor is built, besides where it connects. */
export interface ExecutorOptions {
  /** Default limit of every command, in seconds (command-timeout); absent: none. */
  commandTimeoutSeconds?: number
  /** Retries while connecting (SSH connection, Kubernetes pod resolution); delays are short in tests. */
  retry?: Omit<RetryOptions, 'isTransient'>
}

/** What every executor returns for one command run in the application's environment. */
export interface ExecResult {
  exitCode: number
  stdout: string
  stderr: string
}

export interface ExecOptions {
  /** Limit on this command's run time (command-timeout); see timeout.ts. A run that hits it throws CommandTimeoutError. */
  timeoutSeconds?: number
  /** The command stops itself at the limit (our scripts arm SIGALRM): the target's SIGTERM comes a grace period later. */
  stopsItself?: boolean
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
export const executorError = (message: string, options: {hint?: ErrorHint; code?: string} = {}): RollbackError =>
  new RollbackError('executor', message, options)
