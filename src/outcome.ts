/**
 * What a run reached, as data, and the one pure function that decides its
 * status and failure from the facts main.ts gathered. The summary renders each
 * failure kind; failureMessage words it once for the log and the step's error.
 */
import type {Backup} from './backup.js'
import type {Batch} from './batches.js'
import type {ErrorKind} from './errors.js'
import type {Plan} from './plan.js'
import type {RunResult} from './rollback.js'
import type {SchemaComparison} from './schema-compare.js'
import {schemaError} from './schema-check.js'
import type {ConfigView} from './secrets.js'
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

export type Failure =
  /** An error ended the run; with no verification, before anything could change. */
  | {kind: ErrorKind | 'internal'; message: string}
  /** Django's check (or the strategy) found the plan cannot be done safely: nothing ran. */
  | {kind: 'refused'; reasons: string[]}
  /** A trial's transaction failed on the live data, and was rolled back. */
  | {kind: 'trial-failed'; command: string; message: string}
  /** A command in the target failed after changes may have begun. */
  | {kind: 'command-failed'; command: string; message: string}
  /** A command ran into command-timeout and was stopped in the target. */
  | {kind: 'timeout'; command: string; seconds: number; message: string}
  /** The run itself broke off (a connection lost while Django was unapplying). */
  | {kind: 'interrupted'; message: string}
  /** The run happened, but django_migrations could not be read back: the result is unknown. */
  | {kind: 'unverified'; where: string; message: string; during?: string}
  /** Migrations applied before the cutoff are gone: must never happen. */
  | {kind: 'lost-before'; migrations: string[]; unnamed: number}
  /** Everything ran, but these are still applied at or after the cutoff. */
  | {kind: 'remaining'; migrations: string[]}
  /** expected-schema does not match. */
  | {kind: 'schema-differs'; check: SchemaCheck}

export interface Outcome {
  status: Status
  /** Why it failed; absent unless status is failed. */
  failure?: Failure
  /** The Config without its secrets. */
  config?: ConfigView
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
  /** expected-schema's verdict. */
  schema?: SchemaCheck
  /** True when nothing in the database changed: never claimed when the result is unknown. */
  unchanged: boolean
  seconds: number
}

/** What main.ts found out, in the order it found it out; absent: that phase was not reached. */
export interface RunFacts {
  dryRun: boolean
  /** An error that ended the run. */
  stopped?: {kind: ErrorKind | 'internal'; message: string}
  /** Where the Django commands ran. */
  where?: string
  plan?: Plan
  run?: RunResult
  /** checkAndRun threw: the connection may have dropped while Django was unapplying. */
  runError?: string
  /** The rollback script's own command ran into command-timeout and was stopped by the executor. */
  runTimedOut?: {command: string; seconds: number; message: string}
  /** Reading django_migrations back after the run failed. */
  readBackError?: string
  verification?: Verification
  schema?: SchemaCheck
}

export interface Decision {
  status: Status
  failure?: Failure
  unchanged: boolean
}

const failed = (failure: Failure, unchanged: boolean): Decision => ({status: 'failed', failure, unchanged})

function changedNothing(v: Verification): boolean {
  return v.unapplied.length === 0 && v.lostBefore.length === 0 && v.lostBeforeUnnamed === 0
}

/** The failure of a run that ended as planned by the Django check, in order of what matters most. */
function runFailure(facts: RunFacts, run: RunResult | undefined): Failure | undefined {
  if (facts.runTimedOut) return {kind: 'timeout', ...facts.runTimedOut}
  if (facts.runError !== undefined) return {kind: 'interrupted', message: facts.runError}
  if (run?.timedOut) return {kind: 'timeout', ...run.timedOut}
  if (run?.failed) return {kind: 'command-failed', ...run.failed}
  return undefined
}

/** The status, the failure and whether anything changed: decided here only, from data. */
export function decide(facts: RunFacts): Decision {
  const {plan, run, verification: v} = facts
  const unchanged = v ? changedNothing(v) : facts.readBackError === undefined
  if (facts.stopped) return failed(facts.stopped, unchanged)
  if (!plan || plan.after.length === 0) return {status: 'nothing-to-roll-back', unchanged: true}
  if (run?.refused) return failed({kind: 'refused', reasons: run.refused}, true)
  if (run && run.report.plan.length === 0 && run.report.rowsOnly.length === 0 && !run.failed) {
    return {status: 'nothing-to-roll-back', unchanged: true}
  }
  if (facts.dryRun) {
    // A dry run, trial or not, ends with everything as it was; a trial that failed says why.
    const broken = facts.runTimedOut || facts.runError !== undefined ? runFailure(facts, undefined) : undefined
    if (broken) return failed(broken, true)
    if (run?.failed) return failed({kind: 'trial-failed', ...run.failed}, true)
    if (facts.schema && !facts.schema.comparison.equal) return failed({kind: 'schema-differs', check: facts.schema}, true)
    return {status: 'planned', unchanged: true}
  }
  if (facts.readBackError !== undefined || !v) {
    const during = runFailure(facts, run)
    return failed(
      {
        kind: 'unverified',
        where: facts.where ?? 'the target',
        message: facts.readBackError ?? 'not read',
        during: during && failureMessage(during)
      },
      false
    )
  }
  const failure = runFailure(facts, run)
  if (failure) return failed(failure, unchanged)
  if (v.lostBefore.length > 0 || v.lostBeforeUnnamed > 0) {
    return failed({kind: 'lost-before', migrations: v.lostBefore, unnamed: v.lostBeforeUnnamed}, false)
  }
  if (v.remaining.length > 0) return failed({kind: 'remaining', migrations: v.remaining.map(r => `${r.app}.${r.name}`)}, unchanged)
  if (facts.schema && !facts.schema.comparison.equal) return failed({kind: 'schema-differs', check: facts.schema}, unchanged)
  return {status: 'rolled-back', unchanged}
}

/** The failure in one message, for the log and the step's error; the summary renders the kinds itself. */
export function failureMessage(failure: Failure): string {
  switch (failure.kind) {
    case 'refused':
      return failure.reasons.join('\n')
    case 'trial-failed':
    case 'command-failed':
      return `${failure.command} failed: ${failure.message}`
    case 'unverified':
      return (
        `${failure.during ? `${failure.during}; ` : ''}the rollback ran in ${failure.where}, but reading ` +
        `django_migrations back failed: ${failure.message}. The database state is unknown: run again with the same ` +
        'inputs once the database is reachable (it rolls back what remains, or finds nothing to do)'
      )
    case 'lost-before': {
      const unnamed = failure.unnamed ? `${failure.migrations.length ? ' and ' : ''}${failure.unnamed} more rows` : ''
      return `migrations applied before the cutoff were unapplied: ${failure.migrations.join(', ')}${unnamed}`
    }
    case 'remaining':
      return `the commands ran, but these are still applied at or after the cutoff: ${failure.migrations.join(', ')}`
    case 'schema-differs':
      return schemaError(failure.check)
    default:
      return failure.message
  }
}

/** Rows of S that the code no longer has or that are squash bookkeeping, from the Django report. */
export function leftAlone(run: RunResult | undefined): {orphans: string[]; bookkeeping: string[]} {
  return {orphans: run?.report.orphans ?? [], bookkeeping: run?.report.bookkeeping ?? []}
}
