/**
 * Pure: groups the migration history into deployment batches. One `migrate`
 * run applies its migrations within seconds of each other; deployments are
 * minutes to months apart. A cutoff that falls inside a batch usually means
 * the time given and the database disagree about when a release was deployed.
 */
import type {MigrationRow} from './history.js'

export interface Batch {
  first: string
  last: string
  rows: number
  apps: string[]
  /** Where the batch lies relative to the cutoff. */
  side: 'before' | 'after' | 'split'
}

/** A pause longer than this between two applied migrations starts a new batch. */
export const BATCH_GAP_SECONDS = 300

const seconds = (utc: string): number => Date.parse(utc) / 1000

export function deploymentBatches(rows: MigrationRow[], cutoffUtc: string, gapSeconds = BATCH_GAP_SECONDS): Batch[] {
  const ordered = [...rows].sort((a, b) => (a.applied === b.applied ? a.id - b.id : a.applied < b.applied ? -1 : 1))
  const batches: {rows: MigrationRow[]}[] = []
  for (const row of ordered) {
    const current = batches[batches.length - 1]
    const previous = current?.rows[current.rows.length - 1]
    if (current && seconds(row.applied) - seconds(previous.applied) <= gapSeconds) current.rows.push(row)
    else batches.push({rows: [row]})
  }
  return batches.map(({rows: batch}) => {
    const after = batch.filter(r => r.applied >= cutoffUtc).length
    return {
      first: batch[0].applied,
      last: batch[batch.length - 1].applied,
      rows: batch.length,
      apps: [...new Set(batch.map(r => r.app))].sort(),
      side: after === 0 ? 'before' : after === batch.length ? 'after' : 'split'
    }
  })
}

/** The batches around the cutoff worth showing: every one after it, and a few before. */
export function recentBatches(batches: Batch[], before = 3, maxAfter = 20): Batch[] {
  const firstAfter = batches.findIndex(b => b.side !== 'before')
  const start = firstAfter === -1 ? Math.max(0, batches.length - before) : Math.max(0, firstAfter - before)
  return batches.slice(start, start + before + maxAfter)
}
