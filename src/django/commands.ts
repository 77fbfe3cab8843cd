/** manage.py argv for each strategy, and the report the rollback script prints. */
import type {Cutoff} from '../config.js'
import {utcWithOffset} from '../cutoff.js'
import {RollbackError} from '../errors.js'
import {quoteArg} from '../executors/shell-quote.js'
import {rollbackScript} from './scripts.js'

export const REPORT_PREFIX = 'ROLLBACK-REPORT '
export const VENDOR_COMMAND = 'rollbackmigrationsappliedafter'

/** The request the rollback script reads on its standard input. */
export interface ScriptRequest {
  version: 1
  database: string
  after: {app: string; name: string; applied: string}[]
  execute: boolean
  /** Run the plan's first all-or-nothing segment in a transaction and roll it back (trial). */
  trial: boolean
  allowIrreversible: boolean
  /** Seconds the script's connection waits for a lock (PostgreSQL lock_timeout); 0 waits forever. */
  lockTimeout: number
  /** `app.name` of migrations whose irreversible RunPython/RunSQL are no-ops when unapplied. */
  noopReverse: string[]
  /** `migrate APP TARGET` commands to evaluate (Flagsmith's number-minus-one). */
  commands: {app: string; target: string}[]
  /** Per app with rows in S, its rows before the cutoff, newest first: the script picks the per-app target. */
  perApp: {app: string; before: string[]}[]
}

export interface PlannedOperation {
  description: string
  irreversible: boolean
  /** Its irreversible part is skipped (noop-reverse). */
  skipped?: boolean
}

export interface PlannedMigration {
  migration: string
  operations: PlannedOperation[]
  /** False for `atomic = False`: it cannot run inside a transaction. */
  atomic?: boolean
  /** The reverse's SQL as sqlmigrate --backwards prints it, with `--` comment lines (RunPython as Python). */
  sql?: string[]
}

/** A run of migrations unapplied together: one transaction when atomic. */
export interface Segment {
  atomic: boolean
  migrations: string[]
}

export type HazardKind = 'not-null' | 'max-length' | 'unique' | 'not-null-no-default'

/** A reverse step that fails when the data written since the deploy violates the old constraint. */
export interface Hazard {
  migration: string
  operation: string
  kind: HazardKind
  table: string
  columns: string[]
  detail: string
  maxLength?: number
  /** Rows that would make it fail now; null when not counted (big table, or the count failed). */
  rows: number | null
  counted: boolean
}

export interface Losses {
  tables: {migration: string; table: string; rows: number | null; exact: boolean}[]
  columns: {migration: string; table: string; column: string; values: number | null; exact: boolean}[]
}

/** A session that held a lock the rollback waited for (pg_stat_activity). */
export interface Blocker {
  pid: number
  applicationName: string
  user: string
  state: string
  transactionSince: string | null
  stateSince: string | null
  query: string
}

export interface ScriptError {
  message: string
  exception?: string
  /** SQLSTATE of the PostgreSQL error underneath, when there is one. */
  sqlstate?: string | null
  pgMessage?: string | null
  pgDetail?: string | null
  migration: string | null
  /** The operation being undone when it failed (Django's describe()). */
  operation?: string | null
  statement?: string | null
  blockers?: Blocker[]
  traceback?: string
}

export interface Problem {
  kind: string
  migration: string | null
  message: string
  /** Whether it stops the exact plan (irreversible ones only while allow-irreversible is false). */
  blocking: boolean
  /** The `migrate APP TARGET` command it is about, or null for the exact plan. */
  command: string | null
}

export interface CommandCheck {
  app: string
  target: string
  resolved: string | null
  error: string | null
  plan: {migration: string; backwards: boolean}[]
  irreversible: string[]
}

/** What the rollback script found, planned and (when asked) did, from Django's own graph. */
export interface DjangoReport {
  version: 1
  django: string
  orphans: string[]
  bookkeeping: string[]
  rowsOnly: string[]
  plan: PlannedMigration[]
  problems: Problem[]
  blocked: boolean
  commands: CommandCheck[]
  /** The documented style's target per app (newest real migration before the cutoff, or zero), evaluated in commands. */
  perApp: {app: string; target: string}[]
  commandsExtra: string[]
  commandsMissing: string[]
  hasFlagsmithCommand: boolean
  segments: Segment[]
  hazards: Hazard[]
  losses: Losses
  /** What noop-reverse skipped, per migration named. */
  noopReverse: {migration: string; operations: string[]}[]
  /** Unapplied and committed: really gone from the history. */
  executed: string[]
  /** Unapplied inside a transaction that was then rolled back because of the failure. */
  rolledBack: string[]
  /** Seconds per migration unapplied (committed, rolled back or tried). */
  timings: Record<string, number>
  /** A trial's result: what went through and was rolled back, and what was not tried. */
  trial: {tried: string[]; untried: string[]; notAtomic: string | null} | null
  /** allow-irreversible: the migration the run stopped in front of. */
  stoppedBefore: string | null
  /** Squash rows deleted without running operations (rowsOnly), when executing. */
  rowsDeleted: string[]
  error: ScriptError | null
}

/** The rollback script's output could not be read: the target is not a Django app we can talk to. */
export const scriptOutputError = (message: string): RollbackError => new RollbackError('script-output', message)

/** Between a script and its JSON request on stdin; BOOTSTRAP splits there. */
export const REQUEST_SEPARATOR = '\n#ROLLBACK-REQUEST\n'

/**
 * A short bootstrap that reads the rollback script and the request from stdin. The
 * script itself stays off the command line: kubectl exec sends argv in the
 * request URL, which proxies in front of an API server may cap at 8 KiB.
 */
export const BOOTSTRAP =
  'import io,sys;d=sys.stdin.read();s,_,r=d.partition("\\n#ROLLBACK-REQUEST\\n");sys.stdin=io.StringIO(r);' +
  'exec(compile(s,"rollback.py","exec"),{"__name__":"rollback"})'

export function scriptArgv(manageCommand: string[]): string[] {
  return [...manageCommand, 'shell', '-v', '0', '-c', BOOTSTRAP]
}

/** What the bootstrap reads on stdin: the script, then the request. */
export function scriptInput(request: ScriptRequest): string {
  return `${rollbackScript()}${REQUEST_SEPARATOR}${JSON.stringify(request)}`
}

export function migrateArgv(manageCommand: string[], app: string, target: string): string[] {
  return [...manageCommand, 'migrate', app, target]
}

export function vendorArgv(manageCommand: string[], cutoff: Cutoff): string[] {
  return [...manageCommand, VENDOR_COMMAND, utcWithOffset(cutoff.utc)]
}

/** A command line as a person would type it. */
export function displayCommand(argv: string[]): string {
  const line = argv.map(quoteArg).join(' ')
  return argv[argv.length - 1] === BOOTSTRAP ? `${line} < rollback.py+request` : line
}

export function parseReport(stdout: string, stderr: string, exitCode: number): DjangoReport {
  const line = stdout
    .split('\n')
    .reverse()
    .find(l => l.startsWith(REPORT_PREFIX))
  if (!line) {
    const output = `${stderr}\n${stdout}`.trim().split('\n').slice(-15).join('\n')
    throw scriptOutputError(
      `manage.py shell exited with ${exitCode} without a rollback report. Check manage-command (it must run the ` +
        `application's manage.py) and that the container runs the current release. Last output:\n${output}`
    )
  }
  try {
    return JSON.parse(line.slice(REPORT_PREFIX.length)) as DjangoReport
  } catch (error) {
    throw scriptOutputError(`the rollback report is not valid JSON: ${(error as Error).message}`)
  }
}

// ---- database-alias ----

export const DEFAULT_DATABASE = 'default'

/**
 * Why strategy flagsmith cannot roll back another database: the vendor command
 * takes only the datetime (no --database) and always works on `default`.
 */
export const VENDOR_DATABASE_REFUSAL =
  `Flagsmith's ${VENDOR_COMMAND} has no --database option: it only rolls back the default database. ` +
  'Use strategy: exact (or per-app) with database-alias'

/** The refusal for strategy flagsmith with a non-default alias, or null when they go together. */
export function vendorDatabaseRefusal(alias: string): string | null {
  return alias === DEFAULT_DATABASE ? null : `database-alias is ${JSON.stringify(alias)}. ${VENDOR_DATABASE_REFUSAL}`
}

/** A Django database alias as the input may give it: a settings key, never an option or a shell word. */
export function checkDatabaseAlias(alias: string): string | null {
  return /^[A-Za-z_][A-Za-z0-9_.-]*$/.test(alias)
    ? null
    : `database-alias ${JSON.stringify(alias)} is not a Django database alias (letters, digits, _ . -, as in DATABASES)`
}

/**
 * `--database ALIAS` on a `migrate` command line (from migrateArgv); unchanged
 * for `default`, so command lines stay as they were. The rollback script takes
 * the alias in its request instead, and the vendor command cannot take one.
 */
export function withDatabase(argv: string[], alias: string): string[] {
  if (alias === DEFAULT_DATABASE) return argv
  if (argv[argv.length - 1] === BOOTSTRAP) {
    throw new Error('withDatabase: the rollback and history scripts take the alias in their request (database)')
  }
  if (argv.includes(VENDOR_COMMAND)) throw new Error(VENDOR_DATABASE_REFUSAL)
  if (!argv.includes('migrate')) throw new Error(`withDatabase: not a migrate command: ${argv.join(' ')}`)
  return [...argv, '--database', alias]
}
