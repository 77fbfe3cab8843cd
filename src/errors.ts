/**
 * The one error type. Its message is for people (what went wrong, what to do);
 * its kind is for code, which acts on the kind and never on the message.
 */

export type ErrorKind =
  /** An input is missing or malformed: nothing was touched. */
  | 'input'
  /** target-version could not be turned into a cutoff (deployments, or the release's source). */
  | 'target'
  /** PostgreSQL could not be reached or read from the runner. */
  | 'database'
  /** Another rollback holds the one-at-a-time lock. */
  | 'lock-held'
  /** A django_migrations row that Django did not write (a name that could carry shell syntax). */
  | 'unsafe-row'
  /** The cutoff is later than the database clock. */
  | 'future-cutoff'
  /** The transport to the target failed (host, credentials, container), not the command run there. */
  | 'executor'
  /** A command in the target ran into command-timeout and was stopped. */
  | 'command-timeout'
  /** The Django script's output could not be read: the target is not a Django app we can talk to. */
  | 'script-output'
  /** pg_dump could not make the dump (backup or expected-schema). */
  | 'dump'

/**
 * What the caller may do about it: `transient` faults (a refused or timed-out connection, a
 * temporary DNS failure) are worth another attempt in a few seconds; nothing else is retried.
 */
export type ErrorHint = 'transient'

export class RollbackError extends Error {
  constructor(
    readonly kind: ErrorKind,
    message: string,
    readonly options: {hint?: ErrorHint; code?: string; cause?: unknown} = {}
  ) {
    super(message, options.cause === undefined ? undefined : {cause: options.cause})
    this.name = 'RollbackError'
  }

  /** ECONNREFUSED, ETIMEDOUT, ... when the fault has a system code (retry.ts words the log line with it). */
  get code(): string | undefined {
    return this.options.code
  }

  get transient(): boolean {
    return this.options.hint === 'transient'
  }
}

export const isRollbackError = (error: unknown, kind?: ErrorKind): error is RollbackError =>
  error instanceof RollbackError && (kind === undefined || error.kind === kind)

export const isTransient = (error: unknown): boolean => error instanceof RollbackError && error.transient

export const errorMessage = (error: unknown): string => (error instanceof Error ? error.message : String(error))

/** A bad input: names the input and what was expected. */
export const inputError = (message: string): RollbackError => new RollbackError('input', message)
