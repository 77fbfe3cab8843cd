/**
 * Helpers around the real Django test project in __tests__/fixtures/django-project.
 * Every call is a real `manage.py` process against a real PostgreSQL database.
 */
import fs from 'node:fs'
import path from 'node:path'
import {type ScriptRequest, scriptArgv, scriptInput} from '../../src/django/commands.js'
import {manageIn, migrateSteps, type ManageOptions, type ManageResult} from './manage.js'
import {query} from './postgres.js'
import {REPO_ROOT, pythonBin} from './python.js'

export const projectDir = path.join(REPO_ROOT, '__tests__', 'fixtures', 'django-project')

type Release = Array<[string, string]> | 'latest'
interface Releases {
  [name: string]: unknown
  env: Record<string, Record<string, string>>
}
export const releases = JSON.parse(fs.readFileSync(path.join(projectDir, 'releases.json'), 'utf8')) as Releases

export type {ManageOptions, ManageResult}

const project = {dir: projectDir, python: pythonBin}

export function manage(dbUrl: string, args: string[], opts: ManageOptions = {}): Promise<ManageResult> {
  return manageIn(project, dbUrl, args, opts)
}

/** Applies a release from releases.json in one Django process (one `call_command('migrate', ...)` per entry). */
export async function deployRelease(
  dbUrl: string,
  name: string,
  options: {database?: string; env?: Record<string, string>} = {}
): Promise<void> {
  const release = releases[name] as Release | undefined
  if (release === undefined) throw new Error(`no release ${name} in releases.json`)
  await migrateSteps(project, dbUrl, release === 'latest' ? [] : release, {
    database: options.database,
    env: {...(releases.env[name] ?? {}), ...options.env}
  })
}

export interface AppliedRow {
  app: string
  name: string
  applied: string
}

/** Sorted `app.name` of every django_migrations row (optionally only those applied at/after a cutoff). */
export async function appliedMigrations(dbUrl: string, since?: string): Promise<string[]> {
  const rows = await query<{m: string}>(
    dbUrl,
    since === undefined
      ? `SELECT app || '.' || name AS m FROM django_migrations`
      : `SELECT app || '.' || name AS m FROM django_migrations WHERE applied >= $1::timestamptz`,
    since === undefined ? [] : [since]
  )
  return rows.map(r => r.m).sort()
}

const ISO_US = `'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'`

/** Rows applied at/after the cutoff, compared inside PostgreSQL, `applied` as ISO text with microseconds. */
export async function rowsAfter(dbUrl: string, cutoff: string): Promise<AppliedRow[]> {
  return query<AppliedRow>(
    dbUrl,
    `SELECT app, name, to_char(applied AT TIME ZONE 'UTC', ${ISO_US}) AS applied
       FROM django_migrations WHERE applied >= $1::timestamptz ORDER BY id`,
    [cutoff]
  )
}

export async function tables(dbUrl: string): Promise<string[]> {
  const rows = await query<{t: string}>(
    dbUrl,
    `SELECT table_name AS t FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1`
  )
  return rows.map(r => r.t)
}

export async function columns(dbUrl: string, table: string): Promise<string[]> {
  const rows = await query<{c: string}>(
    dbUrl,
    `SELECT column_name AS c FROM information_schema.columns WHERE table_schema = 'public' AND table_name = $1 ORDER BY 1`,
    [table]
  )
  return rows.map(r => r.c)
}

export async function indexes(dbUrl: string, table: string): Promise<string[]> {
  const rows = await query<{i: string}>(
    dbUrl,
    `SELECT indexname AS i FROM pg_indexes WHERE schemaname = 'public' AND tablename = $1 ORDER BY 1`,
    [table]
  )
  return rows.map(r => r.i)
}

/** PostgreSQL's now() as `YYYY-MM-DDTHH:MM:SS.ffffffZ` (UTC, microseconds). */
export async function serverNow(dbUrl: string): Promise<string> {
  const rows = await query<{now: string}>(dbUrl, `SELECT to_char(now() AT TIME ZONE 'UTC', ${ISO_US}) AS now`)
  return rows[0].now
}

export interface RollbackRequest {
  version?: 1
  database?: string
  after: Array<{app: string; name: string; applied?: string}>
  execute?: boolean
  allowIrreversible?: boolean
  commands?: Array<{app: string; target: string}>
}

/* eslint-disable @typescript-eslint/no-explicit-any */
export interface RollbackRun {
  report: any
  exitCode: number
  stdout: string
  stderr: string
}

/**
 * Runs the rollback script (src/django/rollback/) exactly as the action sends it: the bootstrap on the
 * command line (scriptArgv), the assembled modules and the request on stdin (scriptInput); returns the
 * parsed last-line report.
 */
export async function runRollbackScript(dbUrl: string, request: RollbackRequest): Promise<RollbackRun> {
  const full = {version: 1, database: 'default', execute: false, allowIrreversible: false, commands: [], ...request}
  // The tests' requests leave out what the script defaults (perApp, noopReverse, ...): sent as given.
  const result = await manage(dbUrl, scriptArgv([]), {input: scriptInput(full as ScriptRequest), check: false})
  const lines = result.stdout.trimEnd().split('\n')
  const last = lines[lines.length - 1] ?? ''
  if (!last.startsWith('ROLLBACK-REPORT ')) {
    throw new Error(`no report line (exit ${result.exitCode}):\n${result.stderr}\n${result.stdout}`)
  }
  return {...result, report: JSON.parse(last.slice('ROLLBACK-REPORT '.length))}
}
