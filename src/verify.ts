/** Pure: compares the history read after the run with the plan made before it. */
import type {BeforeSummary, MigrationRow} from './history.js'
import {key, newestFirst, type Plan} from './plan.js'

export interface Verification {
  /** Rows of S that are gone now, in the order they were planned (newest first). */
  unapplied: string[]
  /** Rows of S (or, for a cutoff, any row at or after it) still applied that the code knows (not orphans, not squash bookkeeping). */
  remaining: MigrationRow[]
  /** Rows applied before the cutoff that disappeared: must never happen. */
  lostBefore: string[]
  /** More rows before the cutoff disappeared than can be named (they were not among the rows read). */
  lostBeforeUnnamed: number
}

/** Whether the rows before the cutoff are exactly as they were (count and digest of their ids). */
export function beforeUnchanged(then: BeforeSummary | undefined, now: BeforeSummary | undefined): boolean | undefined {
  if (!then || !now) return undefined
  return then.count === now.count && then.digest === now.digest
}

/**
 * `before`: the summaries of the rows before the cutoff at planning time and now. When they agree nothing
 * before the cutoff was touched; otherwise `rowsNow` must be the whole history, to name what is gone.
 */
export function verify(
  plan: Plan,
  rowsNow: MigrationRow[],
  leaveAlone: {orphans: string[]; bookkeeping: string[]},
  before: {then?: BeforeSummary; now?: BeforeSummary} = {}
): Verification {
  const now = new Set(rowsNow.map(key))
  const ignored = new Set([...leaveAlone.orphans, ...leaveAlone.bookkeeping])
  const plannedKeys = new Set(plan.after.map(key))
  const untouched = beforeUnchanged(before.then, before.now)
  const lostBefore = untouched ? [] : plan.before.filter(row => !now.has(key(row)) && !plannedKeys.has(key(row))).map(key)
  const lostCount = untouched === false && before.then && before.now ? Math.max(0, before.then.count - before.now.count) : 0
  return {
    unapplied: plan.after.map(key).filter(k => !now.has(k)),
    remaining: rowsNow
      .filter(row => !ignored.has(key(row)))
      // A cutoff also catches rows applied meanwhile; a source selection is exactly its rows.
      .filter(row => (plan.selection === 'cutoff' ? row.applied >= plan.cutoff.utc : plannedKeys.has(key(row))))
      .sort(newestFirst),
    lostBefore,
    lostBeforeUnnamed: Math.max(0, lostCount - lostBefore.length)
  }
}
