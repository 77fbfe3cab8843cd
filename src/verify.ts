/** Pure: compares the history read after the run with the plan made before it. */
import type {MigrationRow} from './history.js'
import {key, newestFirst, type Plan} from './plan.js'

export interface Verification {
  /** Rows of S that are gone now, in the order they were planned (newest first). */
  unapplied: string[]
  /** Rows of S (or, for a cutoff, any row at or after it) still applied that the code knows (not orphans, not squash bookkeeping). */
  remaining: MigrationRow[]
  /** Rows applied before the cutoff that disappeared: must never happen. */
  lostBefore: string[]
}

export function verify(plan: Plan, rowsNow: MigrationRow[], leaveAlone: {orphans: string[]; bookkeeping: string[]}): Verification {
  const now = new Set(rowsNow.map(key))
  const ignored = new Set([...leaveAlone.orphans, ...leaveAlone.bookkeeping])
  const plannedKeys = new Set(plan.after.map(key))
  return {
    unapplied: plan.after.map(key).filter(k => !now.has(k)),
    remaining: rowsNow
      .filter(row => !ignored.has(key(row)))
      // A cutoff also catches rows applied meanwhile; a source selection is exactly its rows.
      .filter(row => (plan.selection === 'cutoff' ? row.applied >= plan.cutoff.utc : plannedKeys.has(key(row))))
      .sort(newestFirst),
    lostBefore: plan.before.filter(row => !now.has(key(row)) && !plannedKeys.has(key(row))).map(key)
  }
}
