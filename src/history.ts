import type pg from 'pg'
import {connectPostgres} from './retry.js'
import type {Cutoff} from './config.js'
import {CLOCK_SQL, historyQueries} from './history-query.js'

/** One django_migrations row; `applied` is UTC text with microseconds, exactly as PostgreSQL holds it. */
export interface MigrationRow {
  id: number
  app: string
  name: string
  applied: string
}

export interface History {
  /** With a cutoff, not every row before it: see history-query.ts. */
  rows: MigrationRow[]
  /** The database server's clock, same format as `applied`. */
  now: string
  /** With a cutoff: every row before it, summed up (the verification compares these). */
  before?: BeforeSummary
}

/** The rows applied before the cutoff: how many, and an md5 of their ids in order. */
export interface BeforeSummary {
  count: number
  digest: string
}

/** PostgreSQL's verdict on each row must agree with the text comparison the planner makes. */
export function crossCheck(rows: Array<MigrationRow & {afterCutoff: boolean | null}>, cutoff: Cutoff | undefined): void {
  if (!cutoff) return
  for (const row of rows) {
    if (row.afterCutoff !== row.applied >= cutoff.utc) {
      throw new HistoryError(
        `internal check failed: PostgreSQL and the planner disagree on whether row ${row.id} ` +
          `(${row.app}.${row.name}, applied ${row.applied}) is after the cutoff ${cutoff.utc}`
      )
    }
  }
}

/** The database could not be read; the message says what to check. */
export class HistoryError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'HistoryError'
  }
}

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
 * Reads the migration history: with a cutoff, what the plan, the verification and the summary need
 * (history-query.ts), otherwise every row. The session time zone is UTC and timestamps come back as text,
 * so the microseconds PostgreSQL keeps are never rounded by a JavaScript Date.
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
    const clock = await client.query<{now: string}>(CLOCK_SQL)
    const queries = historyQueries(cutoff?.utc ?? null, 'pg')
    const result = await client.query<MigrationRow & {after_cutoff: boolean | null}>(queries.rows.sql, queries.rows.params)
    const rows = result.rows.map(row => ({id: Number(row.id), app: row.app, name: row.name, applied: row.applied}))
    crossCheck(
      result.rows.map((row, i) => ({...rows[i], afterCutoff: row.after_cutoff})),
      cutoff
    )
    const history: History = {rows, now: clock.rows[0].now}
    if (queries.before) {
      const summary = await client.query<{count: string; digest: string}>(queries.before.sql, queries.before.params)
      history.before = {count: Number(summary.rows[0].count), digest: summary.rows[0].digest}
    }
    return history
  } catch (error) {
    throw error instanceof HistoryError ? error : explainDatabaseError(error, databaseUrl)
  } finally {
    await client?.end().catch(() => undefined)
  }
}
