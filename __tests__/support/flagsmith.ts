/**
 * Flagsmith-shaped Django projects for the tests, generated from Flagsmith's real
 * migration graph (__tests__/fixtures/flagsmith-migration-graph.json, read from
 * Flagsmith's repository at every release tag) by
 * flagsmith_project.py: one project per release tag, each migration a reversible
 * RunSQL that creates a table commented "app.name".
 *
 * - flagsmithProject(tag): the project directory (generated once per tag into a
 *   cache under os.tmpdir(), shared by jest workers and runs).
 * - deployFlagsmith(dbUrl, tag): `manage.py migrate --noinput`, as a deploy does.
 * - databaseAtRelease(tag): a fresh database already deployed at tag (a copy of
 *   a per-tag template database).
 * - expectedApplied(tag) / expectedTables(tag): what a fresh deploy must leave,
 *   derived from the graph, not from running the deploy.
 * - appliedMigrations(dbUrl) / flagsmithTables(dbUrl): what a database has.
 * - flagsmithSourceTree(tag): what a checkout of Flagsmith's repository at tag
 *   holds, migrations-wise (apps at their real dirs, apps.py labels), for
 *   `target-source`; flagsmithSourceManifest(tag) says what a scan must find.
 */
import {execFile} from 'node:child_process'
import crypto from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import pg from 'pg'
import {query, testServer, uniqueSuffix} from './postgres.js'
import {REPO_ROOT, pythonBin} from './python.js'
import {failureMessage, runSync} from './spawn.js'

export const FLAGSMITH_FIXTURE =
  process.env.FLAGSMITH_GRAPH ?? path.join(REPO_ROOT, '__tests__', 'fixtures', 'flagsmith-migration-graph.json')
const GENERATOR = path.join(REPO_ROOT, '__tests__', 'support', 'flagsmith_project.py')
const VENDOR_COMMAND = path.join(REPO_ROOT, '__tests__', 'fixtures', 'vendor-command', 'rollbackmigrationsappliedafter.py')

export interface FlagsmithGraphNode {
  app: string
  name: string
  dir: string
  dependencies: [string, string][]
  replaces: [string, string][]
  present: [string, string][]
}
export interface FlagsmithGraph {
  source: string
  tags: string[]
  nodes: FlagsmithGraphNode[]
}

/** What flagsmith_project.py writes to flagsmith-expected.json in each project. */
export interface FlagsmithManifest {
  tag: string
  /** Flagsmith's own app labels with migrations at tag (task_processor included when installed as a package). */
  graphApps: string[]
  /** Apps installed outside the project's apps/ dir because they moved to a pip package (task_processor >= v2.129.0). */
  packagedApps: string[]
  /** Stub packages for dependencies on third-party packages (oauth2_provider >= v2.255.0). */
  stubApps: string[]
  /** Whether the `core` app has the vendor command rollbackmigrationsappliedafter (v2.151.0+). */
  vendorCommand: boolean
  /** "app.name" rows in django_migrations after a fresh deploy (contrib auth/contenttypes and squash bookkeeping included). */
  expectedApplied: string[]
  /** "app.name" of every generated migration at tag (the fsm_* tables a fresh deploy creates). */
  expectedTables: string[]
}

let graphCache: FlagsmithGraph | undefined
/** The fixture, parsed. */
export function flagsmithGraph(): FlagsmithGraph {
  graphCache ??= JSON.parse(fs.readFileSync(FLAGSMITH_FIXTURE, 'utf8')) as FlagsmithGraph
  return graphCache
}

let keyCache: string | undefined
/** Changes whenever the generator, the fixture, the vendor command or the Python changes. */
function cacheKey(): string {
  if (!keyCache) {
    const h = crypto.createHash('sha256')
    for (const file of [GENERATOR, FLAGSMITH_FIXTURE, VENDOR_COMMAND]) h.update(fs.readFileSync(file)).update('\0')
    h.update(pythonBin())
    keyCache = h.digest('hex').slice(0, 12)
  }
  return keyCache
}

function checkTag(tag: string): void {
  if (!/^v\d+\.\d+\.\d+$/.test(tag) || !flagsmithGraph().tags.includes(tag)) {
    throw new Error(`unknown Flagsmith release tag ${JSON.stringify(tag)}`)
  }
}

/**
 * Runs flagsmith_project.py for tag into os.tmpdir()/rollback-flagsmith-KEY/NAME
 * once (NAME/MARKER tells it is done): written to a private temporary directory,
 * then renamed into place, so racing jest workers never see a half-written
 * result (the loser of the race discards its copy).
 */
function generateOnce(tag: string, name: string, marker: string, options: string[]): string {
  checkTag(tag)
  const root = path.join(os.tmpdir(), `rollback-flagsmith-${cacheKey()}`)
  const dir = path.join(root, name)
  if (fs.existsSync(path.join(dir, marker))) return dir
  fs.mkdirSync(root, {recursive: true})
  const tmp = fs.mkdtempSync(path.join(root, `.${name}-`))
  const out = path.join(tmp, 'out')
  try {
    // A missing interpreter is a spawn error with no status and no output: runSync names it and the set-up to run.
    runSync(pythonBin(), [GENERATOR, tag, out, ...options, '--fixture', FLAGSMITH_FIXTURE], {
      what: ['flagsmith_project.py', tag, ...options].join(' ')
    })
    fs.renameSync(out, dir)
  } catch (error) {
    // Another worker renamed its copy first (ENOTEMPTY/EEXIST): use that one.
    if (!fs.existsSync(path.join(dir, marker))) throw error
  } finally {
    fs.rmSync(tmp, {recursive: true, force: true})
  }
  return dir
}

/**
 * The generated project for a release tag (directory with manage.py), generated
 * once per tag into os.tmpdir()/rollback-flagsmith-KEY/TAG (see generateOnce).
 */
export function flagsmithProject(tag: string): string {
  return generateOnce(tag, tag, 'manage.py', [])
}

/** What flagsmith_project.py --source-tree writes to flagsmith-source.json at the tree's root. */
export interface FlagsmithSourceManifest {
  tag: string
  apps: Record<string, {dir: string; labelFrom: 'apps.py' | 'folder'; migrations: string[]}>
}

/**
 * The repository layout at a release tag (flagsmith_project.py --source-tree):
 * os.tmpdir()/rollback-flagsmith-KEY/source-TAG, generated once per tag the way
 * flagsmithProject is. Treat it as read-only: copy it to change it.
 */
export function flagsmithSourceTree(tag: string): string {
  return generateOnce(tag, `source-${tag}`, 'flagsmith-source.json', ['--source-tree'])
}

/** The source tree's flagsmith-source.json. */
export function flagsmithSourceManifest(tag: string): FlagsmithSourceManifest {
  return JSON.parse(fs.readFileSync(path.join(flagsmithSourceTree(tag), 'flagsmith-source.json'), 'utf8')) as FlagsmithSourceManifest
}

/** The project's flagsmith-expected.json. */
export function flagsmithManifest(tag: string): FlagsmithManifest {
  return JSON.parse(fs.readFileSync(path.join(flagsmithProject(tag), 'flagsmith-expected.json'), 'utf8')) as FlagsmithManifest
}

/**
 * The "app.name" rows a fresh deploy of tag leaves in django_migrations. Derived
 * from the graph by the generator (plus Django's contrib auth/contenttypes
 * migrations, which the project installs), not by running migrate, so that a
 * test comparing a deploy with it checks something. A squashed migration
 * contributes the rows of the migrations it replaces and its own row.
 */
export function expectedApplied(tag: string): Set<string> {
  return new Set(flagsmithManifest(tag).expectedApplied)
}

/** The "app.name" whose fsm_* tables a fresh deploy of tag creates (a squash: only the squashed migration). */
export function expectedTables(tag: string): Set<string> {
  return new Set(flagsmithManifest(tag).expectedTables)
}

export interface ManageResult {
  exitCode: number
  stdout: string
  stderr: string
}

/** Runs `python manage.py ARGS` of tag's project with DATABASE_URL=dbUrl; never throws on a non-zero exit. */
export function runManage(tag: string, dbUrl: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<ManageResult> {
  const cwd = flagsmithProject(tag)
  return new Promise((resolve, reject) => {
    execFile(
      pythonBin(),
      ['manage.py', ...args],
      {cwd, env: {...process.env, ...env, DATABASE_URL: dbUrl, PYTHONDONTWRITEBYTECODE: '1'}, maxBuffer: 64 * 1024 * 1024},
      (error, stdout, stderr) => {
        // Not started (a spawn error) or killed: there is no exit code to hand back.
        if (error && typeof error.code !== 'number') {
          const outcome = {error: error.signal ? undefined : error, status: null, signal: error.signal ?? null, stdout, stderr}
          reject(
            new Error(failureMessage(pythonBin(), ['manage.py', ...args], outcome, {what: `manage.py ${args[0]} (${tag})`, cwd}), {
              cause: error
            })
          )
        } else resolve({exitCode: error ? (error.code as number) : 0, stdout, stderr})
      }
    )
  })
}

/** Deploys tag to the database: `manage.py migrate --noinput` (what Flagsmith's image runs on start). Throws on failure. */
export async function deployFlagsmith(dbUrl: string, tag: string): Promise<ManageResult> {
  const result = await runManage(tag, dbUrl, ['migrate', '--noinput'])
  if (result.exitCode !== 0) {
    throw new Error(`deploy of ${tag} failed (${result.exitCode}):\n${result.stderr}\n${result.stdout}`)
  }
  return result
}

/** Every django_migrations row as "app.name" (empty if the table does not exist). */
export async function appliedMigrations(dbUrl: string): Promise<Set<string>> {
  const rows = await query<{m: string}>(dbUrl, "SELECT app || '.' || name AS m FROM django_migrations").catch(error => {
    if ((error as {code?: string}).code === '42P01') return [] as {m: string}[]
    throw error
  })
  return new Set(rows.map(r => r.m))
}

/** The generated migrations whose tables exist, as "app.name" (read from the tables' comments). */
export async function flagsmithTables(dbUrl: string): Promise<Set<string>> {
  const rows = await query<{m: string}>(
    dbUrl,
    `SELECT obj_description(c.oid, 'pg_class') AS m FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind = 'r' AND n.nspname = 'public' AND c.relname LIKE 'fsm\\_%'`
  )
  return new Set(rows.map(r => r.m))
}

let dbCounter = 0
async function withAdmin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({connectionString: testServer().adminUrl})
  await client.connect()
  try {
    return await fn(client)
  } finally {
    await client.end()
  }
}

function databaseUrl(name: string): string {
  return `postgres://postgres@127.0.0.1:${testServer().port}/${name}`
}

/**
 * The template database holding a fresh deploy of tag, built once per tag and
 * PostgreSQL server. Builders are serialized with an advisory lock (jest workers
 * race); a template is built under a temporary name and renamed when complete,
 * and no connection is left open on it (CREATE DATABASE ... TEMPLATE needs that).
 */
async function templateFor(tag: string): Promise<string> {
  const name = `fs_tpl_${tag.replace(/\W/g, '_')}_${cacheKey()}`
  return withAdmin(async admin => {
    await admin.query('SELECT pg_advisory_lock(hashtext($1))', [name])
    try {
      const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])
      if (exists.rowCount) return name
      const building = `${name}_b`
      await admin.query(`DROP DATABASE IF EXISTS "${building}"`)
      await admin.query(`CREATE DATABASE "${building}"`)
      await deployFlagsmith(databaseUrl(building), tag)
      await admin.query(`ALTER DATABASE "${building}" RENAME TO "${name}"`)
      await admin.query(`ALTER DATABASE "${name}" IS_TEMPLATE true`)
      return name
    } finally {
      await admin.query('SELECT pg_advisory_unlock(hashtext($1))', [name])
    }
  })
}

/**
 * A fresh database (unique name starting with prefix) whose state is a fresh
 * deploy of tag: a copy of a cached per-tag template, so only the first call per
 * tag pays for the migrate. The django_migrations `applied` times are those of
 * the template's deploy.
 */
export async function databaseAtRelease(tag: string, prefix = 'fs'): Promise<string> {
  checkTag(tag)
  const template = await templateFor(tag)
  const name = `${prefix.replace(/[^a-z0-9_]/gi, '_').toLowerCase()}_${tag.replace(/\W/g, '_')}_${uniqueSuffix()}_${++dbCounter}`
  await withAdmin(async admin => {
    for (let attempt = 0; ; attempt++) {
      try {
        await admin.query(`CREATE DATABASE "${name}" TEMPLATE "${template}"`)
        return
      } catch (error) {
        // 55006: "source database is being accessed by other users" (another copy in progress).
        if ((error as {code?: string}).code !== '55006' || attempt >= 50) throw error
        await new Promise(resolve => setTimeout(resolve, 100))
      }
    }
  })
  return databaseUrl(name)
}
