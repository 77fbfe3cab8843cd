/** What a run reached, as the summary and the outputs report it. */
import type {Backup} from './backup.js'
import type {Batch} from './batches.js'
import type {Config} from './config.js'
import type {MigrationRow} from './history.js'
import type {Plan} from './plan.js'
import type {RunResult} from './rollback.js'
import type {SchemaComparison} from './schema-compare.js'
import type {TargetEvidence} from './target/resolve.js'
import type {Verification} from './verify.js'

export interface SchemaCheck {
  /** The expected-schema file. */
  path: string
  comparison: SchemaComparison
  /** Which pg_dump made the database's dump. */
  pgDump: string
  /** A dry run compares only what the plan does not change. */
  partial: boolean
}

export type Status = 'rolled-back' | 'nothing-to-roll-back' | 'planned' | 'failed'

export interface Outcome {
  status: Status
  config?: Config
  where?: string
  /** Why the cutoff is where it is. */
  evidence?: TargetEvidence
  plan?: Plan
  run?: RunResult
  verification?: Verification
  /** The pg_dump taken before any change (input backup). */
  backup?: Backup
  /** What became of the one-rollback-at-a-time lock, in words. */
  lock?: string
  /** The deployment batches around the cutoff, oldest first. */
  batches?: Batch[]
  /** Why the run failed or stopped, with what to do. */
  error?: string
  /** expected-schema's verdict. */
  schema?: SchemaCheck
  /** True when the failure came before anything could change the database. */
  unchanged?: boolean
  seconds: number
}

/** Rows of S that the code no longer has or that are squash bookkeeping, from the Django report. */
export function leftAlone(run: RunResult | undefined): {orphans: string[]; bookkeeping: string[]} {
  return {orphans: run?.report.orphans ?? [], bookkeeping: run?.report.bookkeeping ?? []}
}

export function remainingKeys(rows: MigrationRow[]): string[] {
  return rows.map(r => `${r.app}.${r.name}`)
}
