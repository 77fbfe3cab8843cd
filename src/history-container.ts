/**
 * `history-source: container`: reads django_migrations through the target's
 * own Django (src/django/history.py), so the runner needs no database
 * credentials or network path. Same result, and the same cross-check, as
 * readHistory in history.ts: PostgreSQL formats the timestamps and judges each
 * row against the cutoff, and that verdict must agree with the text comparison
 * the planner makes.
 */
import type {Cutoff} from './config.js'
import {BOOTSTRAP, REQUEST_SEPARATOR} from './django/commands.js'
import {historyScript} from './django/scripts.js'
import type {Executor} from './executors/executor.js'
import {type BeforeSummary, crossCheck, type History, historyError, type MigrationRow} from './history.js'
import {type HistoryQueries, historyQueries} from './history-query.js'

export const HISTORY_PREFIX = 'ROLLBACK-HISTORY '

/** The request history.py reads on its standard input. */
export interface HistoryRequest {
  version: 1
  database: string
  /** `YYYY-MM-DDTHH:MM:SS.ffffffZ`, or null for no verdicts. */
  cutoff: string | null
  /** The SQL to run (history-query.ts), with Python's named placeholders; absent: every row. */
  queries?: HistoryQueries
}

/** What history.py prints on its last line. */
export interface HistoryReport {
  version: 1
  database: string | null
  django: string | null
  rows: Array<MigrationRow & {afterCutoff: boolean | null}>
  before?: BeforeSummary
  now: string | null
  error: {kind: string; message: string; traceback?: string} | null
}

/** The same bootstrap as the rollback script: the script and the request travel on stdin, never on the command line. */
export function historyArgv(manageCommand: string[]): string[] {
  return [...manageCommand, 'shell', '-v', '0', '-c', BOOTSTRAP]
}

export function historyInput(request: HistoryRequest): string {
  return `${historyScript()}${REQUEST_SEPARATOR}${JSON.stringify(request)}`
}

function tail(stdout: string, stderr: string): string {
  return `${stderr}\n${stdout}`.trim().split('\n').slice(-15).join('\n')
}

export function parseHistoryReport(stdout: string, stderr: string, exitCode: number): HistoryReport {
  const line = stdout
    .split('\n')
    .reverse()
    .find(l => l.startsWith(HISTORY_PREFIX))
  if (!line) {
    throw historyError(
      `manage.py shell exited with ${exitCode} without a history report. Check manage-command (it must run the ` +
        `application's manage.py) and that the container runs the application. Last output:\n${tail(stdout, stderr)}`
    )
  }
  try {
    return JSON.parse(line.slice(HISTORY_PREFIX.length)) as HistoryReport
  } catch (error) {
    throw historyError(`the history report is not valid JSON: ${(error as Error).message}`)
  }
}

/**
 * Reads the whole migration history of database alias `database` in one Django
 * process in the target. Transport failures (RollbackError kind executor) pass through as
 * they are; everything Django or the script reports becomes a history error (kind database).
 */
export async function readHistoryInContainer(
  executor: Executor,
  manageCommand: string[],
  database: string,
  cutoff?: Cutoff
): Promise<History> {
  const request: HistoryRequest = {
    version: 1,
    database,
    cutoff: cutoff?.utc ?? null,
    queries: historyQueries(cutoff?.utc ?? null, 'python')
  }
  const result = await executor.exec(historyArgv(manageCommand), {input: historyInput(request)})
  const report = parseHistoryReport(result.stdout, result.stderr, result.exitCode)
  if (report.error) {
    throw historyError(
      `reading django_migrations through Django (database alias '${database}') in ${executor.where} failed: ` + report.error.message
    )
  }
  if (report.version !== 1 || !Array.isArray(report.rows) || typeof report.now !== 'string') {
    throw historyError(`the history report from ${executor.where} is incomplete: ${JSON.stringify(report).slice(0, 300)}`)
  }
  const rows: MigrationRow[] = report.rows.map(({id, app, name, applied}) => ({id: Number(id), app, name, applied}))
  crossCheck(report.rows, cutoff)
  if (cutoff && !report.before) throw historyError(`the history report from ${executor.where} has no summary of the rows before the cutoff`)
  return {rows, now: report.now, ...(report.before ? {before: report.before} : {})}
}
