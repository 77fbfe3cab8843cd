/**
 * The pure core: from the django_migrations rows and a cutoff, which
 * migrations a rollback must unapply (S) and, per app, where the documented
 * `migrate APP TARGET` style would take it. No I/O here.
 */
import type {Cutoff} from './config.js'
import type {MigrationRow} from './history.js'
import {RollbackError} from './errors.js'
import {ROWS_PER_APP} from './history-query.js'

/** App labels and migration names cross process and shell boundaries; anything else stops the run. */
export const SAFE_NAME = /^[A-Za-z0-9_]+$/

export interface AppRollback {
  app: string
  /** The app's latest applied migration now. */
  from: string
  /** Its newest row applied before the cutoff, or `zero` (Django picks the real target: see src/django/rollback/commands.py). */
  to: string
  /** Its rows applied before the cutoff, newest first (at most MAX_BEFORE). */
  before: string[]
  /** Rows of this app applied at or after the cutoff. */
  count: number
}

export interface MigrateCommand {
  app: string
  target: string
}

export interface Plan {
  /** For a source target, the earliest applied time in S, shown as the effective cutoff. */
  cutoff: Cutoff
  /** How S was chosen: every row at or after the cutoff, or the rows the release's source does not contain. */
  selection: 'cutoff' | 'source'
  /** S: every row applied at or after the cutoff, newest first. */
  after: MigrationRow[]
  /**
   * Rows applied before the cutoff, newest first: none of them may be touched. With a cutoff, the ones the
   * history read (each rolled-back app's newest, the batches just before it); the rest are in History.before.
   */
  before: MigrationRow[]
  /** One entry per app with rows in S, the app with the newest row first. */
  apps: AppRollback[]
}

/** Enough to step past squash bookkeeping rows and deleted files when Django picks a per-app target. */
const MAX_BEFORE = ROWS_PER_APP

export const key = (row: {app: string; name: string}): string => `${row.app}.${row.name}`

export const newestFirst = (a: MigrationRow, b: MigrationRow): number =>
  a.applied === b.applied ? b.id - a.id : a.applied < b.applied ? 1 : -1

function checkNames(rows: MigrationRow[]): void {
  for (const row of rows) {
    if (!SAFE_NAME.test(row.app) || !SAFE_NAME.test(row.name)) {
      throw new RollbackError(
        'unsafe-row',
        `django_migrations row id ${row.id} has app ${JSON.stringify(row.app)} and name ${JSON.stringify(row.name)}: ` +
          'app labels and migration names must match ^[A-Za-z0-9_]+$. Nothing was changed. ' +
          'A row like this was not written by Django; inspect it and remove it by hand before rolling back'
      )
    }
  }
}

function withApps(cutoff: Cutoff, selection: Plan['selection'], after: MigrationRow[], before: MigrationRow[]): Plan {
  const apps: AppRollback[] = []
  for (const row of after) {
    const existing = apps.find(a => a.app === row.app)
    if (existing) {
      existing.count++
      continue
    }
    const appBefore = before
      .filter(r => r.app === row.app)
      .slice(0, MAX_BEFORE)
      .map(r => r.name)
    apps.push({app: row.app, from: row.name, to: appBefore[0] ?? 'zero', count: 1, before: appBefore})
  }
  return {cutoff, selection, after, before, apps}
}

export function planRollback(rows: MigrationRow[], cutoff: Cutoff, serverNow: string): Plan {
  checkNames(rows)
  // Strings of one fixed UTC format with microseconds compare exactly as the instants do.
  if (cutoff.utc > serverNow) {
    throw new RollbackError(
      'future-cutoff',
      `target-datetime ${cutoff.input} (${cutoff.utc}) is in the future: the database clock says ${serverNow}. ` +
        'Nothing can have been applied after it, so this is almost certainly the wrong date or time zone' +
        (cutoff.assumedUtc ? ' (it had no offset, so it was read as UTC)' : '')
    )
  }
  const sorted = [...rows].sort(newestFirst)
  return withApps(
    cutoff,
    'cutoff',
    sorted.filter(row => row.applied >= cutoff.utc),
    sorted.filter(row => row.applied < cutoff.utc)
  )
}

/**
 * A plan whose S was chosen from a release's source (target-source). Its
 * cutoff is the earliest applied time in S, for the summary and the outputs;
 * with S empty it is the database clock.
 */
export function planFromSelection(
  rows: MigrationRow[],
  selection: {after: MigrationRow[]; before: MigrationRow[]; cutoffUtc: string | null},
  description: string,
  serverNow: string
): Plan {
  checkNames(rows)
  const cutoff: Cutoff = {input: description, utc: selection.cutoffUtc ?? serverNow, assumedUtc: false}
  return withApps(cutoff, 'source', [...selection.after].sort(newestFirst), [...selection.before].sort(newestFirst))
}
