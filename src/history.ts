import type pg from 'pg'
import {connectPostgres} from './retry.js'
import type {Cutoff, Database} from './config.js'
import {databaseError, describePostgres} from './database.js'
import {isRollbackError, RollbackError} from './errors.js'
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

/** The rows applied before the cutoff: how many, and a digest of their ids (count and sum). */
export interface BeforeSummary {
  count: number
  digest: string
}

/** PostgreSQL's verdict on each row must agree with the text comparison the planner makes. */
export function crossCheck(rows: Array<MigrationRow & {afterCutoff: boolean | null}>, cutoff: Cutoff | undefined): void {
  if (!cutoff) return
  for (const row of rows) {
    if (row.afterCutoff !== row.applied >= cutoff.utc) {
      throw historyError(
        `internal check failed: PostgreSQL and the planner disagree on whether row ${row.id} ` +
          `(${row.app}.${row.name}, applied ${row.applied}) is after the cutoff ${cutoff.utc}`
      )
    }
  }
}

/** The history could not be read or cannot be trusted; the message says what to check. */
export const historyError = (message: string): RollbackError => new RollbackError('database', message)

/**
 * Reads the migration history: with a cutoff, what the plan, the verification and the summary need
 * (history-query.ts), otherwise every row. The session time zone is UTC and timestamps come back as text,
 * so the microseconds PostgreSQL keeps are never rounded by a JavaScript Date.
 */
export async function readHistory(database: Database, cutoff?: Cutoff): Promise<History> {
  let client: pg.Client | undefined
  try {
    // Refused connections and timeouts are retried with backoff (a database restarting); credentials are not.
    client = await connectPostgres(
      {
        connectionString: database.url,
        connectionTimeoutMillis: 15000,
        application_name: 'django-migration-rollback'
      },
      describePostgres(database)
    )
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
    throw isRollbackError(error) ? error : databaseError(error, database)
  } finally {
    await client?.end().catch(() => undefined)
  }
}
