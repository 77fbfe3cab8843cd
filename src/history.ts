import type pg from 'pg'
import {connectPostgres} from './retry.js'
import type {Cutoff} from './config.js'

/** One django_migrations row; `applied` is UTC text with microseconds, exactly as PostgreSQL holds it. */
export interface MigrationRow {
  id: number
  app: string
  name: string
  applied: string
}

export interface History {
  rows: MigrationRow[]
  /** The database server's clock, same format as `applied`. */
  now: string
}

/** The database could not be read; the message says what to check. */
export class HistoryError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'HistoryError'
  }
}

const UTC_TEXT = `'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'`

function describeTarget(databaseUrl: string | undefined): string {
  if (!databaseUrl) return `the database given by the PG* environment variables (${process.env.PGHOST ?? 'localhost'})`
  try {
    const url = new URL(databaseUrl)
    return `${url.hostname}:${url.port || 5432}${url.pathname}`
  } catch {
    return 'database-url'
  }
}

/** A database error in words that say what to check; also used for the lock's connection. */
export function explainDatabaseError(error: unknown, databaseUrl: string | undefined): HistoryError {
  const where = describeTarget(databaseUrl)
  const e = error as {code?: string; message?: string}
  const reason = e.message ?? String(error)
  switch (e.code) {
    case 'ECONNREFUSED':
      return new HistoryError(
        `could not connect to PostgreSQL at ${where}: connection refused. Check database-url's host and port, ` +
          'and that this runner can reach the database (a private database needs a self-hosted runner or a tunnel)'
      )
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new HistoryError(`could not connect to PostgreSQL at ${where}: the host name does not resolve. Check database-url's host`)
    case 'ETIMEDOUT':
      return new HistoryError(`could not connect to PostgreSQL at ${where}: timed out. Check the host, port and firewall`)
    case '28P01':
    case '28000':
      return new HistoryError(`PostgreSQL at ${where} rejected the credentials: check the user and password in database-url (${reason})`)
    case '3D000':
      return new HistoryError(`PostgreSQL at ${where}: ${reason}. Check the database name in database-url`)
    case '42P01':
      return new HistoryError(
        `there is no django_migrations table in ${where}: is database-url the application's database ` +
          '(the one its Django settings use)?'
      )
    default:
      if (/timeout/i.test(reason)) {
        return new HistoryError(`could not connect to PostgreSQL at ${where}: ${reason}. Check the host, port and firewall`)
      }
      return new HistoryError(`reading django_migrations from ${where} failed: ${reason}`)
  }
}

/**
 * Reads the whole migration history in one query. The session time zone is
 * UTC and timestamps come back as text, so the microseconds PostgreSQL keeps
 * are never rounded by a JavaScript Date. PostgreSQL itself also compares every
 * row with the cutoff, and that verdict must agree with the text comparison the
 * planner makes.
 */
export async function readHistory(databaseUrl: string | undefined, cutoff?: Cutoff): Promise<History> {
  let client: pg.Client | undefined
  try {
    // Refused connections and timeouts are retried with backoff (a database restarting); credentials are not.
    client = await connectPostgres({
      connectionString: databaseUrl,
      connectionTimeoutMillis: 15000,
      application_name: 'django-migration-rollback'
    })
    await client.query(`SET TIME ZONE 'UTC'`)
    const clock = await client.query<{now: string}>(`SELECT to_char(now() AT TIME ZONE 'UTC', ${UTC_TEXT}) AS now`)
    const result = await client.query<MigrationRow & {after_cutoff: boolean}>(
      `SELECT id, app, name, to_char(applied AT TIME ZONE 'UTC', ${UTC_TEXT}) AS applied,
              applied >= $1::timestamptz AS after_cutoff
         FROM django_migrations ORDER BY applied, id`,
      [cutoff?.utc ?? null]
    )
    const rows = result.rows.map(row => ({id: Number(row.id), app: row.app, name: row.name, applied: row.applied}))
    result.rows.forEach((row, i) => {
      if (cutoff && row.after_cutoff !== rows[i].applied >= cutoff.utc) {
        throw new HistoryError(
          `internal check failed: PostgreSQL and the planner disagree on whether row ${row.id} ` +
            `(${row.app}.${row.name}, applied ${row.applied}) is after the cutoff ${cutoff.utc}`
        )
      }
    })
    return {rows, now: clock.rows[0].now}
  } catch (error) {
    throw error instanceof HistoryError ? error : explainDatabaseError(error, databaseUrl)
  } finally {
    await client?.end().catch(() => undefined)
  }
}
