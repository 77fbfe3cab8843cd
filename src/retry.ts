import * as core from '@actions/core'
import pg from 'pg'

/**
 * Retries for transient faults while *connecting* to PostgreSQL. Only the
 * connection is retried: a statement that failed half way may have done
 * something, so it is never run again from here.
 */

export interface RetryOptions {
  /** Total attempts, the first included. Default 4. */
  attempts?: number
  /** Delay before the second attempt; doubled each time, up to maxDelayMs. Default 1000. */
  baseDelayMs?: number
  /** Default 8000. */
  maxDelayMs?: number
  /** Which errors are worth another attempt. Default isTransientPgError. */
  isTransient?: (error: unknown) => boolean
  /** One line per retry and one when giving up. Default core.info. */
  log?: (line: string) => void
}

const TRANSIENT_NODE_CODES = new Set([
  'ECONNREFUSED', // server not listening yet (restart, failover)
  'ETIMEDOUT',
  'ECONNRESET',
  'EPIPE',
  'EAI_AGAIN' // DNS temporary failure; ENOTFOUND (no such name) is not retried
])

const TRANSIENT_SQLSTATES = new Set([
  '57P03', // cannot_connect_now: starting up, shutting down, in recovery
  '57P01', // admin_shutdown: a restart ended the session while it was starting
  '57P02', // crash_shutdown
  '53300' // too_many_connections: frees up as other sessions end
])

/** pg's own messages when the socket closes or its connectionTimeoutMillis expires. */
const TRANSIENT_MESSAGES = [/Connection terminated unexpectedly/i, /timeout expired/i, /connection timeout/i]

function errorCode(error: unknown): string | undefined {
  const code = (error as {code?: unknown} | null)?.code
  return typeof code === 'string' ? code : undefined
}

/**
 * True for faults that another attempt in a few seconds may not hit: refused
 * connections, timeouts, resets, temporary DNS failures, a server starting up.
 * False for everything else, in particular authentication (28P01, 28000), a
 * missing database (3D000) and SQL errors: retrying those only delays the
 * message the user needs.
 */
export function isTransientPgError(error: unknown): boolean {
  if (error === null || typeof error !== 'object') return false
  const code = errorCode(error)
  if (code && (TRANSIENT_NODE_CODES.has(code) || TRANSIENT_SQLSTATES.has(code))) return true
  if (code && /^[0-9A-Z]{5}$/.test(code)) return false // any other SQLSTATE is the server's final word
  // Node's happy-eyeballs connect (localhost -> ::1 and 127.0.0.1) fails with an AggregateError.
  if (error instanceof AggregateError && error.errors.some(isTransientPgError)) return true
  const text = (error as {message?: unknown}).message
  return typeof text === 'string' && TRANSIENT_MESSAGES.some(pattern => pattern.test(text))
}

/** Short reason for the retry log line. */
export function describeFault(error: unknown): string {
  const code = errorCode(error) ?? (error instanceof AggregateError ? errorCode(error.errors[0]) : undefined)
  switch (code) {
    case 'ECONNREFUSED':
      return 'connection refused'
    case 'ETIMEDOUT':
      return 'timed out'
    case 'ECONNRESET':
    case 'EPIPE':
      return 'connection reset'
    case 'EAI_AGAIN':
      return 'host name lookup failed temporarily'
  }
  const text = error instanceof Error ? error.message : String(error)
  return code && /^[0-9A-Z]{5}$/.test(code) ? `${text} (${code})` : text
}

const sleep = (ms: number) => new Promise<void>(resolve => setTimeout(resolve, ms))

function seconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(2))} s`
}

/**
 * Runs fn until it succeeds, fails with a non-transient error, or the attempts
 * run out; the last error is rethrown unchanged so callers keep explaining it
 * by its code. `what` starts each log line, e.g. "PostgreSQL at db:5432".
 */
export async function withRetries<T>(what: string, fn: () => Promise<T>, opts: RetryOptions = {}): Promise<T> {
  const attempts = Math.max(1, opts.attempts ?? 4)
  const baseDelayMs = opts.baseDelayMs ?? 1000
  const maxDelayMs = opts.maxDelayMs ?? 8000
  const isTransient = opts.isTransient ?? isTransientPgError
  const log = opts.log ?? ((line: string) => core.info(line))
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn()
    } catch (error) {
      if (!isTransient(error)) throw error
      if (attempt >= attempts) {
        log(`${what}: ${describeFault(error)}; giving up after ${attempts} attempts`)
        throw error
      }
      const delay = Math.min(maxDelayMs, baseDelayMs * 2 ** (attempt - 1))
      log(`${what}: ${describeFault(error)}; retrying in ${seconds(delay)} (attempt ${attempt + 1} of ${attempts})`)
      await sleep(delay)
    }
  }
}

/**
 * A connected pg.Client, retrying transient connection faults. A pg.Client
 * cannot connect twice, so each attempt builds a new one.
 */
/** `what` names the server in the retry log lines, e.g. describePostgres(database). */
export async function connectPostgres(config: pg.ClientConfig, what: string, opts: RetryOptions = {}): Promise<pg.Client> {
  return withRetries(
    what,
    async () => {
      const client = new pg.Client(config)
      try {
        await client.connect()
        return client
      } catch (error) {
        await client.end().catch(() => undefined)
        throw error
      }
    },
    opts
  )
}
