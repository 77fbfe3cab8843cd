/**
 * Helpers around __tests__/fixtures/thirdparty-project: Debian's Django 3.2 with
 * Debian's packages of third-party apps and their real migrations (see the
 * fixture's README.md). Every call is a real `manage.py` process or pg_dump
 * against a real PostgreSQL database, always with pythonBin32().
 */
import {spawn} from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import type {ManageOptions, ManageResult} from './django-project.js'
import {REPO_ROOT, pythonBin32} from './python.js'

export const thirdpartyProjectDir = path.join(REPO_ROOT, '__tests__', 'fixtures', 'thirdparty-project')
export const PG_DUMP = path.join(process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin', 'pg_dump')

/** `[app, target]` pairs, each run as `migrate APP TARGET`. */
export type Steps = Array<[string, string]>
export type ThirdpartyRelease = 'A-squash' | 'A-spread' | 'A-axes' | 'B'
export const thirdpartyReleases = JSON.parse(fs.readFileSync(path.join(thirdpartyProjectDir, 'releases.json'), 'utf8')) as Record<
  ThirdpartyRelease,
  Steps | 'latest'
>

function run(command: string, args: string[], options: {cwd?: string; env?: NodeJS.ProcessEnv; input?: string}): Promise<ManageResult> {
  const child = spawn(command, args, {cwd: options.cwd, env: options.env})
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
  child.stdin.end(options.input ?? '')
  return new Promise((resolve, reject) => {
    child.on('error', reject)
    child.on('close', code => resolve({exitCode: code ?? -1, stdout, stderr}))
  })
}

/** `python3.2 manage.py ARGS` in the third-party project (like `manage` in django-project.ts). */
export async function manage32(dbUrl: string, args: string[], opts: ManageOptions = {}): Promise<ManageResult> {
  const result = await run(pythonBin32(), ['manage.py', ...args], {
    cwd: thirdpartyProjectDir,
    env: {...process.env, ...opts.env, DATABASE_URL: dbUrl, PYTHONDONTWRITEBYTECODE: '1'},
    input: opts.input
  })
  if ((opts.check ?? true) && result.exitCode !== 0) {
    throw new Error(`manage.py ${args[0]} failed (${result.exitCode}):\n${result.stderr}\n${result.stdout}`)
  }
  return result
}

/**
 * Runs `migrate APP TARGET` for each step, in order, in one Django process (a
 * process costs about a second here: celery and friends import slowly); no
 * steps is a plain `migrate`, i.e. release B.
 */
export async function migrateTo(dbUrl: string, steps: Steps): Promise<void> {
  const code = [
    'import json, sys',
    'from django.core.management import call_command',
    'steps = json.loads(sys.stdin.read())',
    'if not steps: call_command("migrate", verbosity=0)',
    'for app, target in steps: call_command("migrate", app, target, verbosity=0)'
  ].join('\n')
  await manage32(dbUrl, ['shell', '-v', '0', '-c', code], {input: JSON.stringify(steps)})
}

/** Puts a fresh database into a release of releases.json. */
export async function deployThirdparty(dbUrl: string, release: ThirdpartyRelease): Promise<void> {
  const steps = thirdpartyReleases[release]
  if (steps === undefined) throw new Error(`no release ${release} in releases.json`)
  await migrateTo(dbUrl, steps === 'latest' ? [] : steps)
}

/**
 * `pg_dump --schema-only --no-owner`, less what differs between two dumps of the
 * same schema: SET lines, comments, the random key of `\restrict`/`\unrestrict`
 * (pg_dump 15.14+), the search_path line, and runs of blank lines.
 */
export async function schemaDump(dbUrl: string): Promise<string> {
  const result = await run(PG_DUMP, ['--schema-only', '--no-owner', dbUrl], {env: process.env})
  if (result.exitCode !== 0) throw new Error(`pg_dump failed (${result.exitCode}): ${result.stderr}`)
  return result.stdout
    .split('\n')
    .filter(l => !/^(SET |--|\\restrict |\\unrestrict |SELECT pg_catalog\.set_config\('search_path')/.test(l))
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim()
}
