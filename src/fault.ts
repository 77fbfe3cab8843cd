/**
 * Pure: why the rollback script stopped, in a person's words: the kind of fault
 * (from PostgreSQL's SQLSTATE class), the migration and operation, the rows
 * that caused it when a hazard found before the run names them, and the fix.
 */
import type {DjangoReport, Hazard, ScriptError} from './django/commands.js'

export type FaultKind = 'lock-timeout' | 'data' | 'irreversible' | 'timeout' | 'error'

export interface ScriptFault {
  kind: FaultKind
  migration: string | null
  operation: string | null
  /** PostgreSQL's own message (first line), or the exception's. */
  message: string
  sqlstate: string | null
  statement: string | null
  /** The hazard found before the run that matches the failure, with its row count. */
  hazard: Hazard | null
  /** What to do about it. */
  fix: string
  /** True when nothing the failing transaction did was kept. */
  rolledBack: string[]
}

/** SQLSTATE -> kind. Class 22 (data exception) and 23 (integrity constraint violation) are faults of the data. */
export function faultKind(sqlstate: string | null | undefined, exception?: string): FaultKind {
  if (exception === 'CommandTimeout') return 'timeout'
  if (exception === 'IrreversibleError' || exception === '_StoppedBeforeIrreversible' || exception === 'NotImplementedError') {
    return 'irreversible'
  }
  if (!sqlstate) return 'error'
  if (sqlstate === '55P03') return 'lock-timeout'
  if (sqlstate.startsWith('22') || sqlstate.startsWith('23')) return 'data'
  return 'error'
}

const HAZARD_FOR_SQLSTATE: Record<string, Hazard['kind'][]> = {
  '23502': ['not-null', 'not-null-no-default'],
  '23505': ['unique'],
  '22001': ['max-length']
}

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`

/** "1 row of catalog_product has name NULL" */
export function hazardRows(h: Hazard): string {
  const rows = h.rows ?? 0
  const cols = h.columns.join(', ')
  const verb = rows === 1 ? 'has' : 'have'
  switch (h.kind) {
    case 'not-null':
      return `${plural(rows, 'row')} of ${h.table} ${verb} ${cols} NULL`
    case 'max-length':
      return `${plural(rows, 'row')} of ${h.table} ${verb} ${cols} longer than ${h.maxLength} characters`
    case 'unique':
      return `${plural(rows, 'row')} of ${h.table} share a value of (${cols}) with another row`
    case 'not-null-no-default':
      return `${h.table} has ${plural(rows, 'row')}, and ${cols} comes back NOT NULL with no default to fill them`
  }
}

/** The fix for rows that break a reverse, as SQL a person can adapt. */
export function hazardFix(h: Hazard): string {
  const col = h.columns[0]
  switch (h.kind) {
    case 'not-null':
      return `give those rows a value (UPDATE ${h.table} SET ${col} = ... WHERE ${col} IS NULL) or delete them, then run again`
    case 'max-length':
      return `shorten those values (UPDATE ${h.table} SET ${col} = left(${col}, ${h.maxLength}) WHERE char_length(${col}) > ${h.maxLength}, after saving them elsewhere), then run again`
    case 'unique':
      return `make (${h.columns.join(', ')}) unique again in ${h.table} (change or delete the duplicates), then run again`
    case 'not-null-no-default':
      return `the earlier release's schema cannot hold the rows written since without a value for ${col}: add a migration with a default in a new release, or restore from a backup`
  }
}

function matchingHazard(report: DjangoReport, error: ScriptError): Hazard | null {
  const kinds = error.sqlstate ? HAZARD_FOR_SQLSTATE[error.sqlstate] : undefined
  if (!kinds) return null
  const candidates = report.hazards.filter(h => h.migration === error.migration && kinds.includes(h.kind))
  return (
    candidates.find(h => h.operation === error.operation && (h.rows ?? 1) > 0) ??
    candidates.find(h => (h.rows ?? 1) > 0) ??
    candidates[0] ??
    null
  )
}

function fixFor(kind: FaultKind, hazard: Hazard | null, lockTimeoutSeconds: number): string {
  switch (kind) {
    case 'lock-timeout':
      return (
        `another session held a lock on a table the rollback must change for longer than lock-timeout (${lockTimeoutSeconds} s). ` +
        'Let the transaction of the session named below finish (or end it: SELECT pg_terminate_backend(pid)), ' +
        'or run again when the application is quieter, or raise lock-timeout (every query of the application on that table waits as long)'
      )
    case 'data':
      return hazard
        ? hazardFix(hazard)
        : 'the data written since the deploy does not fit the earlier schema: correct the rows PostgreSQL names, then run again'
    case 'irreversible':
      return 'add the reverse operation in a new release, or name the migration in noop-reverse to skip its irreversible operations, or restore from a backup'
    case 'timeout':
      return 'raise command-timeout if a data migration needs longer, or look for a lock held by the application, then run again'
    case 'error':
      return 'fix the cause above, then run again with the same inputs'
  }
}

export function describeFault(report: DjangoReport, lockTimeoutSeconds: number): ScriptFault | null {
  const error = report.error
  if (!error) return null
  const kind = faultKind(error.sqlstate, error.exception)
  const hazard = kind === 'data' ? matchingHazard(report, error) : null
  return {
    kind,
    migration: error.migration ?? report.stoppedBefore ?? null,
    operation: error.operation ?? null,
    message: error.pgMessage ?? error.message,
    sqlstate: error.sqlstate ?? null,
    statement: error.statement ?? null,
    hazard,
    fix: fixFor(kind, hazard, lockTimeoutSeconds),
    rolledBack: report.rolledBack ?? []
  }
}
