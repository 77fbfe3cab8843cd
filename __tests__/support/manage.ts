/**
 * `manage.py` of any of the test projects as a real process, a release applied
 * in one Django process, and a pg_dump of the schema two dumps can be compared by.
 */
import {spawn} from 'node:child_process'
import path from 'node:path'
import {failureMessage, PG_BIN} from './spawn.js'

export interface ManageResult {
  exitCode: number
  stdout: string
  stderr: string
}

export interface ManageOptions {
  input?: string
  env?: Record<string, string>
  /** Reject when the exit code is not 0 (default true). */
  check?: boolean
}

/** A Django project on disk and the interpreter that runs it. */
export interface ProjectRef {
  dir: string
  python: () => string
}

/**
 * Runs one process to the end and collects its output; never rejects on a
 * non-zero exit. A process that cannot be started (a missing venv python or
 * pg_dump) rejects with failureMessage's message: the path and what to run.
 */
export function runToEnd(
  command: string,
  args: string[],
  options: {cwd?: string; env?: NodeJS.ProcessEnv; input?: string}
): Promise<ManageResult> {
  const child = spawn(command, args, {cwd: options.cwd, env: options.env})
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
  child.stdin.on('error', () => undefined)
  child.stdin.end(options.input ?? '')
  return new Promise((resolve, reject) => {
    child.on('error', error => reject(new Error(failureMessage(command, args, {error, stderr}, {cwd: options.cwd}), {cause: error})))
    child.on('close', code => resolve({exitCode: code ?? -1, stdout, stderr}))
  })
}

export async function manageIn(project: ProjectRef, dbUrl: string, args: string[], opts: ManageOptions = {}): Promise<ManageResult> {
  const result = await runToEnd(project.python(), ['manage.py', ...args], {
    cwd: project.dir,
    env: {...process.env, ...opts.env, DATABASE_URL: dbUrl, PYTHONDONTWRITEBYTECODE: '1'},
    input: opts.input
  })
  if ((opts.check ?? true) && result.exitCode !== 0) {
    throw new Error(
      failureMessage(project.python(), ['manage.py', ...args], {status: result.exitCode, ...result}, {what: `manage.py ${args[0]}`})
    )
  }
  return result
}

/** `migrate APP TARGET` for each step, in order, in one Django process; no steps is a plain `migrate`. */
export async function migrateSteps(
  project: ProjectRef,
  dbUrl: string,
  steps: Array<[string, string]>,
  options: {database?: string; env?: Record<string, string>} = {}
): Promise<void> {
  const code = [
    'import json, sys',
    'from django.core.management import call_command',
    'request = json.loads(sys.stdin.read())',
    'steps, database = request["steps"], request["database"]',
    'if not steps: call_command("migrate", database=database, verbosity=0)',
    'for app, target in steps: call_command("migrate", app, target, database=database, verbosity=0)'
  ].join('\n')
  await manageIn(project, dbUrl, ['shell', '-v', '0', '-c', code], {
    input: JSON.stringify({steps, database: options.database ?? 'default'}),
    env: options.env
  })
}

export const PG_DUMP = path.join(PG_BIN, 'pg_dump')

/**
 * `pg_dump --schema-only --no-owner --no-privileges`, less what differs between two
 * dumps of the same schema: SET lines, comments, the search_path line, the random
 * key of `\restrict`/`\unrestrict` (pg_dump 15.14+) and blank lines.
 */
export async function schemaDump(dbUrl: string): Promise<string> {
  const args = ['--schema-only', '--no-owner', '--no-privileges', `--dbname=${dbUrl}`]
  const result = await runToEnd(PG_DUMP, args, {env: process.env})
  if (result.exitCode !== 0) throw new Error(failureMessage(PG_DUMP, args, {status: result.exitCode, ...result}))
  return result.stdout
    .split('\n')
    .filter(l => l.trim() !== '' && !/^(SET |--|\\restrict |\\unrestrict |SELECT pg_catalog\.set_config\('search_path')/.test(l))
    .join('\n')
}
