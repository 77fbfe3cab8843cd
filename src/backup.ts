import {randomBytes} from 'node:crypto'
import {constants as fsConstants} from 'node:fs'
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import * as io from '@actions/io'
import type {Database} from './config.js'
import {isRollbackError, RollbackError} from './errors.js'
import {childEnvironment, runProcess} from './executors/process.js'

export type DumpFailure =
  | 'not-installed'
  | 'version-mismatch'
  | 'connection' // refused, timed out, unresolvable: the only kind worth retrying
  | 'authentication'
  | 'no-database'
  | 'disk-full'
  | 'permission'
  | 'other'

/** The dump could not be made; the message says why and what to do. A connection fault is worth another attempt. */
export function dumpError(message: string, reason: DumpFailure = 'other'): RollbackError {
  return new RollbackError('dump', message, {code: reason, hint: reason === 'connection' ? 'transient' : undefined})
}

export interface Backup {
  /** Absolute path of the custom-format dump (pg_restore reads it). */
  path: string
  bytes: number
  seconds: number
  /** Which pg_dump made it, e.g. "/usr/lib/postgresql/16/bin/pg_dump (PostgreSQL) 16.4". */
  pgDump: string
}

export interface BackupOptions {
  /** A pg_dump to use instead of searching; a path, or a name looked up on PATH. */
  pgDump?: string
  /** Where Debian/Ubuntu install each major version's binaries. */
  libDir?: string
}

const DEBIAN_LIB_DIR = '/usr/lib/postgresql'

/**
 * The connection as libpq environment variables, so that the password never
 * appears in pg_dump's argv (visible to every user through ps). Without a URL
 * the runner's own PG* variables are used as they are.
 */
export function pgEnvironment(database: Database, appName = 'django-migration-rollback backup'): Record<string, string> {
  const env = childEnvironment()
  // Inherited PG* variables (PGSERVICE, PGSSLMODE...) must not mix with the URL's connection.
  if (database.url) for (const key of Object.keys(env)) if (key.startsWith('PG')) delete env[key]
  // The action names its own sessions, whatever application_name the URL gives the application's.
  const settings: Record<string, string> = {...database.libpq, PGAPPNAME: appName}
  // A silent firewall would otherwise hold pg_dump for minutes before the rollback starts.
  if (!settings.PGCONNECT_TIMEOUT && !env.PGCONNECT_TIMEOUT) settings.PGCONNECT_TIMEOUT = '15'
  return {...env, ...settings}
}

async function isExecutable(file: string): Promise<boolean> {
  try {
    const stat = await fs.stat(file)
    if (!stat.isFile()) return false
    await fs.access(file, fsConstants.X_OK)
    return true
  } catch {
    return false
  }
}

/** "9.6" < "15" < "16", not string order. */
function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number)
  const pb = b.split('.').map(Number)
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0)
    if (d !== 0) return d
  }
  return 0
}

/**
 * The newest pg_dump: Debian and Ubuntu (GitHub's ubuntu runners included)
 * keep one per major version in /usr/lib/postgresql/N/bin, and the newest can
 * dump every older server, while /usr/bin/pg_dump's wrapper may choose another.
 * Otherwise the first pg_dump on PATH.
 */
export async function findPgDump(libDir = DEBIAN_LIB_DIR): Promise<string | undefined> {
  const versions = (await fs.readdir(libDir).catch(() => [] as string[])).filter(v => /^\d+(\.\d+)?$/.test(v))
  for (const version of versions.sort(compareVersions).reverse()) {
    const candidate = path.join(libDir, version, 'bin', 'pg_dump')
    if (await isExecutable(candidate)) return candidate
  }
  return (await io.which('pg_dump')) || undefined
}

/** How to get a pg_dump of major version `major` (or newer) onto an Ubuntu/Debian runner. */
export function installHint(major?: string): string {
  const pkg = `postgresql-client-${major ?? 'NN'}`
  return (
    `Install it on the runner before this step: \`sudo apt-get install -y ${pkg}\`` +
    (major ? '' : " (NN = the server's major version, or newer)") +
    '; if apt has no such package, add the PostgreSQL (PGDG) apt repository first: ' +
    `\`sudo apt-get install -y postgresql-common && sudo /usr/share/postgresql-common/pgdg/apt.postgresql.org.sh -y && sudo apt-get install -y ${pkg}\``
  )
}

/** "16.2 (Ubuntu ...)" -> 16; "9.6.24" -> "9.6" (before 10 the major version had two numbers). */
export function majorVersion(version: string): string | undefined {
  const m = /(\d+)(?:\.(\d+))?/.exec(version)
  if (!m) return undefined
  return Number(m[1]) < 10 && m[2] !== undefined ? `${m[1]}.${m[2]}` : m[1]
}

function lastLines(text: string, count = 6): string {
  return text.trim().split('\n').slice(-count).join('\n')
}

async function freeSpace(dir: string): Promise<string> {
  try {
    const stat = await fs.statfs(dir)
    return `${((stat.bavail * stat.bsize) / 1024 ** 2).toFixed(0)} MiB free now`
  } catch {
    return 'free space unknown'
  }
}

/** pg_dump's failure in words, with the fix; `consequence` says what the failure means for the run. */
export async function explainFailure(
  stderr: string,
  exitCode: number,
  pgDump: string,
  pgDumpVersion: string,
  where: string,
  target: string,
  consequence = 'Nothing was changed.'
): Promise<RollbackError> {
  const detail = lastLines(stderr) || `(no message; exit code ${exitCode})`
  const mismatch = /server version: ([^;\n]+); pg_dump version: ([^\s\n]+)/.exec(stderr)
  if (/server version mismatch/i.test(stderr) || mismatch) {
    const server = mismatch?.[1].trim()
    const needed = server ? majorVersion(server) : undefined
    const have = mismatch?.[2] ?? majorVersion(pgDumpVersion) ?? pgDumpVersion
    return dumpError(
      `pg_dump ${have} (${pgDump}) is older than the PostgreSQL server${server ? ` (${server})` : ''} at ${where}: ` +
        `the backup needs pg_dump ${needed ?? "of the server's major version"} or newer. ` +
        installHint(needed) +
        `. ${consequence}\npg_dump said:\n${detail}`,
      'version-mismatch'
    )
  }
  if (/No space left on device|disk full|could not write to output file|could not write to file/i.test(stderr)) {
    return dumpError(
      `the disk holding ${target} filled up during the dump (${await freeSpace(path.dirname(target))}): ` +
        `choose a backup-path on a larger disk, or free space. ${consequence} The partial file was removed.\n` +
        `pg_dump said:\n${detail}`,
      'disk-full'
    )
  }
  const missing = /database "([^"]*)" does not exist/.exec(stderr)
  if (missing) {
    return dumpError(
      `the database "${missing[1]}" does not exist on the PostgreSQL server at ${where}: check the database name in database-url. ` +
        `${consequence}\npg_dump said:\n${detail}`,
      'no-database'
    )
  }
  if (
    /password authentication failed|no password supplied|authentication failed|role "[^"]*" does not exist|no pg_hba\.conf entry/i.test(
      stderr
    )
  ) {
    return dumpError(
      `pg_dump could not log in to PostgreSQL at ${where}: check the user and password in database-url. ${consequence}\n` +
        `pg_dump said:\n${detail}`,
      'authentication'
    )
  }
  if (
    /connection to server|could not connect|could not translate host name|Connection refused|timeout expired|Connection timed out/i.test(
      stderr
    )
  ) {
    return dumpError(
      `pg_dump could not connect to PostgreSQL at ${where}: check database-url's host and port, and that this runner ` +
        `can reach the database. ${consequence}\n` +
        `pg_dump said:\n${detail}`,
      'connection'
    )
  }
  if (/permission denied/i.test(stderr)) {
    return dumpError(
      `pg_dump was refused access to part of the database at ${where}: the user in database-url must be able to read ` +
        `every table (the application's owner role usually can). ${consequence}\n` +
        `pg_dump said:\n${detail}`,
      'permission'
    )
  }
  return dumpError(`pg_dump failed (exit code ${exitCode}) dumping ${where}. ${consequence}\npg_dump said:\n${detail}`)
}

/**
 * The default backup-path: under RUNNER_TEMP (emptied after the job, so
 * upload it with actions/upload-artifact), named after the database and the time.
 */
export function defaultBackupPath(database: Database, now = new Date(), env = process.env): string {
  const name = database.name || 'database'
  const stamp = now
    .toISOString()
    .replace(/\.\d+Z$/, 'Z')
    .replace(/[-:]/g, '')
  const base = `${name.replace(/[^A-Za-z0-9_.-]/g, '_')}-${stamp}.dump`
  return path.join(env.RUNNER_TEMP || os.tmpdir(), 'django-migration-rollback', base)
}

/**
 * pg_dump --format=custom of the whole database to `target` (restore with
 * pg_restore). The file is mode 0600 from its creation, in a directory created
 * if missing; pg_dump writes a hidden temporary file next to it that is renamed
 * only after success, so a failed dump leaves no partial file behind.
 */
export interface PgDump {
  path: string
  /** e.g. "16.4" */
  version: string
  /** e.g. "/usr/lib/postgresql/16/bin/pg_dump (PostgreSQL) 16.4" */
  label: string
}

/** The pg_dump to run (options.pgDump, else the newest installed), checked to start; `purpose` names the input that needs it. */
export async function usablePgDump(options: BackupOptions, env: Record<string, string>, purpose: string): Promise<PgDump> {
  const pgDump = options.pgDump
    ? path.isAbsolute(options.pgDump)
      ? options.pgDump
      : (await io.which(options.pgDump)) || undefined
    : await findPgDump(options.libDir ?? DEBIAN_LIB_DIR)
  if (!pgDump || !(await isExecutable(pgDump))) {
    throw dumpError(
      `${purpose} needs pg_dump, and none was found (looked in ${options.libDir ?? DEBIAN_LIB_DIR}/*/bin and PATH). ${installHint()}.`,
      'not-installed'
    )
  }
  const versionRun = await runProcess([pgDump, '--version'], {env}).catch((e: Error) => ({exitCode: -1, stdout: '', stderr: e.message}))
  if (versionRun.exitCode !== 0) {
    throw dumpError(
      `${pgDump} --version failed (exit code ${versionRun.exitCode}): ${lastLines(versionRun.stderr || versionRun.stdout)}. ${installHint()}.`,
      'not-installed'
    )
  }
  const versionLine = versionRun.stdout.trim().split('\n')[0]
  const version = /\(PostgreSQL\)\s+(\S+)/.exec(versionLine)?.[1] ?? versionLine
  return {path: pgDump, version, label: `${pgDump} (PostgreSQL) ${version}`}
}

export async function backupDatabase(database: Database, target: string, options: BackupOptions = {}): Promise<Backup> {
  const started = Date.now()
  const env = pgEnvironment(database)
  const where = database.where
  const file = path.resolve(target)

  const {path: pgDump, version: pgDumpVersion, label: pgDumpLabel} = await usablePgDump(options, env, 'backup: true')

  const dir = path.dirname(file)
  await fs.mkdir(dir, {recursive: true, mode: 0o700}).catch((e: Error) => {
    throw dumpError(`cannot create the backup directory ${dir}: ${e.message}`)
  })
  const partial = path.join(dir, `.${path.basename(file)}.partial-${randomBytes(4).toString('hex')}`)
  // Created 0600 before pg_dump opens it: pg_dump truncates it and keeps the mode, so the data is never world-readable.
  await (await fs.open(partial, 'wx', 0o600)).close()
  try {
    // --no-password: never wait for a prompt on a runner.
    const result = await runProcess([pgDump, '--format=custom', `--file=${partial}`, '--no-password'], {env}).catch((e: Error) => ({
      exitCode: -1,
      stdout: '',
      stderr: e.message
    }))
    if (result.exitCode !== 0) throw await explainFailure(result.stderr, result.exitCode, pgDump, pgDumpVersion, where, file)
    await fs.chmod(partial, 0o600)
    await fs.rename(partial, file)
  } catch (error) {
    await fs.rm(partial, {force: true})
    if (isRollbackError(error)) throw error
    const e = error as NodeJS.ErrnoException
    if (e.code === 'ENOSPC') {
      throw dumpError(
        `the disk holding ${file} is full (${await freeSpace(dir)}): choose a backup-path on a larger disk. Nothing was changed.`,
        'disk-full'
      )
    }
    throw dumpError(`backup to ${file} failed: ${e.message ?? String(error)}. Nothing was changed.`)
  }
  const {size} = await fs.stat(file)
  return {path: file, bytes: size, seconds: (Date.now() - started) / 1000, pgDump: pgDumpLabel}
}
