/**
 * The SQL both history sources run (src/history.ts over pg, src/django/history.py through the application's
 * Django), so that they give the same rows and verdicts. With a cutoff only what the plan, the verification
 * and the summary need is read: every row at or after the cutoff, each rolled-back app's newest rows before
 * it (per-app targets step back past squash rows and deleted files), and the whole deploy batches just
 * before it; the rest of the rows before the cutoff is summed up as a count and a digest of their ids, which
 * the verification compares.
 */
import {BATCH_GAP_SECONDS} from './batches.js'

/** Deploy batches before the cutoff that the summary shows (recentBatches' `before`). */
export const BATCHES_BEFORE = 3
/** The newest rows before the cutoff the batches are found in: a deploy batch larger than this is shown cut. */
export const BATCH_WINDOW = 5000
/** Rows before the cutoff read per rolled-back app, newest first. */
export const ROWS_PER_APP = 50

const UTC_TEXT = `'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'`

/** Named parameters, written :name in the SQL below; each driver gets its own placeholder style. */
interface Params {
  cutoff: string
  gap: number
  batches: number
  perApp: number
  window: number
}

const ROWS_SQL = `
WITH recent AS (
  SELECT id, applied, lead(applied) OVER (ORDER BY applied DESC, id DESC) AS older
    FROM (SELECT id, applied FROM django_migrations WHERE applied < :cutoff::timestamptz
           ORDER BY applied DESC, id DESC LIMIT :window) AS newest
), batched AS (
  SELECT id, count(*) FILTER (WHERE applied - older > :gap * interval '1 second')
           OVER (ORDER BY applied DESC, id DESC ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS batches_after
    FROM recent
), after_cutoff AS (
  SELECT id, app FROM django_migrations WHERE applied >= :cutoff::timestamptz
), picked AS (
  SELECT id FROM batched WHERE coalesce(batches_after, 0) < :batches
  UNION
  SELECT id FROM (
    SELECT id, row_number() OVER (PARTITION BY app ORDER BY applied DESC, id DESC) AS newest
      FROM django_migrations
     WHERE applied < :cutoff::timestamptz AND app IN (SELECT app FROM after_cutoff)
  ) AS per_app WHERE newest <= :perApp
  UNION
  SELECT id FROM after_cutoff
)
SELECT id, app, name, to_char(applied AT TIME ZONE 'UTC', ${UTC_TEXT}) AS applied, applied >= :cutoff::timestamptz AS after_cutoff
  FROM django_migrations WHERE id IN (SELECT id FROM picked) ORDER BY applied, id`

const ALL_ROWS_SQL = `
SELECT id, app, name, to_char(applied AT TIME ZONE 'UTC', ${UTC_TEXT}) AS applied, NULL::boolean AS after_cutoff
  FROM django_migrations ORDER BY applied, id`

// A row deleted changes the count; one deleted and another written changes the sum (ids only grow).
const BEFORE_SQL = `
SELECT count(*) AS count, count(*)::text || ':' || coalesce(sum(id::numeric), 0)::text AS digest
  FROM django_migrations WHERE applied < :cutoff::timestamptz`

export const CLOCK_SQL = `SELECT to_char(now() AT TIME ZONE 'UTC', ${UTC_TEXT}) AS now`

export interface HistoryQueries {
  /** Rows: id, app, name, applied (UTC text), after_cutoff (PostgreSQL's verdict, null without a cutoff). */
  rows: {sql: string; params: unknown[]}
  /** Without a cutoff every row is read and there is nothing to sum up. */
  before: {sql: string; params: unknown[]} | null
}

/** `$1`-style for node-postgres, or `%(name)s` for Python's DB-API (Django's cursor). */
export function historyQueries(cutoff: string | null, style: 'pg' | 'python'): HistoryQueries {
  if (cutoff === null) return {rows: {sql: ALL_ROWS_SQL.trim(), params: []}, before: null}
  // One batch more than the summary shows: when the cutoff splits a batch, its part before the cutoff is one of them.
  const values: Params = {cutoff, gap: BATCH_GAP_SECONDS, batches: BATCHES_BEFORE + 1, perApp: ROWS_PER_APP, window: BATCH_WINDOW}
  const bind = (sql: string): {sql: string; params: unknown[]} => {
    if (style === 'python') return {sql: sql.trim().replace(/:(cutoff|gap|batches|perApp|window)\b/g, '%($1)s'), params: [values]}
    const order: (keyof Params)[] = []
    const text = sql.trim().replace(/:(cutoff|gap|batches|perApp|window)\b/g, (_, name: keyof Params) => {
      if (!order.includes(name)) order.push(name)
      return `$${order.indexOf(name) + 1}`
    })
    return {sql: text, params: order.map(name => values[name])}
  }
  return {rows: bind(ROWS_SQL), before: bind(BEFORE_SQL)}
}
