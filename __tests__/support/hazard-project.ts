/**
 * Helpers around the hazard project in __tests__/fixtures/hazard-project: a real
 * Django project whose reverse migrations fail on data written after release B
 * (see its README.md). Every call is a real `manage.py` process, pg_dump or SQL
 * against a real PostgreSQL database.
 */
import {spawn} from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import pg from 'pg'
import {appliedMigrations, type ManageOptions, type ManageResult} from './django-project.js'
import {query} from './postgres.js'
import {REPO_ROOT, pythonBin} from './python.js'

export {serverNow} from './django-project.js'

export const hazardProjectDir = path.join(REPO_ROOT, '__tests__', 'fixtures', 'hazard-project')
export const PG_DUMP = path.join(process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin', 'pg_dump')

export type HazardRelease = 'A' | 'B'
interface HazardReleases {
  A: Array<[string, string]>
  B: 'latest'
  env: Record<string, Record<string, string>>
}
export const hazardReleases = JSON.parse(fs.readFileSync(path.join(hazardProjectDir, 'releases.json'), 'utf8')) as HazardReleases

/** Runs one process to the end and collects its output. */
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

/** `python manage.py ARGS` in the hazard project (like `manage` in django-project.ts). */
export async function manageHazard(dbUrl: string, args: string[], opts: ManageOptions = {}): Promise<ManageResult> {
  const result = await run(pythonBin(), ['manage.py', ...args], {
    cwd: hazardProjectDir,
    env: {...process.env, ...opts.env, DATABASE_URL: dbUrl, PYTHONDONTWRITEBYTECODE: '1'},
    input: opts.input
  })
  if ((opts.check ?? true) && result.exitCode !== 0) {
    throw new Error(`manage.py ${args[0]} failed (${result.exitCode}):\n${result.stderr}\n${result.stdout}`)
  }
  return result
}

/**
 * Applies release A or B from releases.json in one Django process. Run on a
 * database that is further on, release A's steps migrate it backwards (give
 * `env: {LEDGER_BACKFILL_REVERSIBLE: '1'}` to get past the irreversible ledger.0002).
 */
export async function deployHazardRelease(dbUrl: string, name: HazardRelease, options: {env?: Record<string, string>} = {}): Promise<void> {
  const release = hazardReleases[name]
  const steps = release === 'latest' ? [] : release
  const code = [
    'import json, sys',
    'from django.core.management import call_command',
    'steps = json.loads(sys.stdin.read())',
    'if not steps: call_command("migrate", verbosity=0)',
    'for app, target in steps: call_command("migrate", app, target, verbosity=0)'
  ].join('\n')
  await manageHazard(dbUrl, ['shell', '-v', '0', '-c', code], {
    input: JSON.stringify(steps),
    env: {...(hazardReleases.env[name] ?? {}), ...options.env}
  })
}

/** The data, written after B, that makes one of catalog's reverse migrations fail. */
export type HazardKind = 'not-null' | 'max-length' | 'unique' | 'not-null-no-default'
/** In the order Django meets them when migrating catalog backwards (newest reverse first). */
export const HAZARD_KINDS: readonly HazardKind[] = ['not-null-no-default', 'unique', 'max-length', 'not-null']

export interface Hazard {
  /** The migration whose reverse fails, `app.name`. */
  migration: string
  /** `migrate catalog TARGET` runs exactly the reverses down to and including this one's (plus newer ones). */
  target: string
  table: string
  /** Bad rows writeBadData adds to `table` for this kind. */
  rows: number
  /** What PostgreSQL says (as Django re-raises it, the last line(s) of the traceback). */
  error: string
}

export const HAZARDS: Record<HazardKind, Hazard> = {
  'not-null-no-default': {
    migration: 'catalog.0007_remove_supplier_legacy_flag',
    target: '0006_product_slug_not_unique',
    table: 'catalog_supplier',
    rows: 2,
    error: 'column "legacy_flag" of relation "catalog_supplier" contains null values'
  },
  unique: {
    migration: 'catalog.0006_product_slug_not_unique',
    target: '0005_product_code_longer',
    table: 'catalog_product',
    rows: 2,
    error: 'could not create unique index "catalog_product_slug_f37848b0_uniq"\nDETAIL:  Key (slug)=(twin) is duplicated.'
  },
  'max-length': {
    migration: 'catalog.0005_product_code_longer',
    target: '0004_label',
    table: 'catalog_product',
    rows: 1,
    error: 'value too long for type character varying(20)'
  },
  'not-null': {
    migration: 'catalog.0002_product_name_nullable',
    target: '0001_initial',
    table: 'catalog_product',
    rows: 1,
    error: 'column "name" of relation "catalog_product" contains null values'
  }
}

/** Rows of catalog_label writeBadData adds: all lost when 0004_label is reversed (DROP TABLE). */
export const LOST_LABELS = 3
/** Non-NULL catalog_product.sku values writeBadData adds: all lost when 0003_product_sku is reversed (DROP COLUMN). */
export const LOST_SKU_VALUES = 2
/** The plain products that carry those sku values and labels (no hazard of their own). */
export const BASE_PRODUCTS = 2

/** Rows that writeBadData(dbUrl, kinds) leaves in catalog_product. */
export function productRows(kinds: readonly HazardKind[] = HAZARD_KINDS): number {
  return BASE_PRODUCTS + kinds.filter(k => HAZARDS[k].table === 'catalog_product').reduce((n, k) => n + HAZARDS[k].rows, 0)
}

const WRITE_SQL: Record<HazardKind, string> = {
  'not-null': `INSERT INTO catalog_product (name, code, slug) VALUES (NULL, 'N-1', 'nameless')`,
  'max-length': `INSERT INTO catalog_product (name, code, slug) VALUES ('long code', 'LONG-' || repeat('x', 25), 'long-code')`,
  unique: `INSERT INTO catalog_product (name, code, slug) VALUES ('twin 1', 'T-1', 'twin'), ('twin 2', 'T-2', 'twin')`,
  'not-null-no-default': `INSERT INTO catalog_supplier (name) VALUES ('acme'), ('globex')`
}

/**
 * Repairs that let each reverse go through. 'not-null-no-default' has no repair
 * that keeps the rows: Django re-adds legacy_flag as `boolean NOT NULL` with no
 * DEFAULT, which PostgreSQL refuses on any non-empty table, so the only fix is to
 * empty catalog_supplier (a real operator would copy the rows aside and put them
 * back after the rollback with a legacy_flag of their choice).
 */
export const FIX_SQL: Record<HazardKind, string> = {
  'not-null': `UPDATE catalog_product SET name = 'unnamed' WHERE name IS NULL`,
  'max-length': `UPDATE catalog_product SET code = left(code, 20) WHERE length(code) > 20`,
  unique: `UPDATE catalog_product p SET slug = p.slug || '-' || p.id
             WHERE EXISTS (SELECT 1 FROM catalog_product q WHERE q.slug = p.slug AND q.id < p.id)`,
  'not-null-no-default': `DELETE FROM catalog_supplier`
}

async function inTransaction(dbUrl: string, statements: string[]): Promise<void> {
  const client = new pg.Client({connectionString: dbUrl})
  await client.connect()
  try {
    await client.query('BEGIN')
    for (const sql of statements) await client.query(sql)
    await client.query('COMMIT')
  } catch (e) {
    await client.query('ROLLBACK').catch(() => undefined)
    throw e
  } finally {
    await client.end()
  }
}

/**
 * At release B (or any state with all of catalog's B migrations applied), writes
 * the loss data (BASE_PRODUCTS products with LOST_SKU_VALUES sku values and
 * LOST_LABELS labels) and, for each kind, HAZARDS[kind].rows bad rows. Call it
 * once per database: it inserts, it does not check what is there.
 */
export async function writeBadData(dbUrl: string, kinds: readonly HazardKind[] = HAZARD_KINDS): Promise<void> {
  await inTransaction(dbUrl, [
    `INSERT INTO catalog_product (name, code, slug, sku) VALUES ('widget', 'W-1', 'widget', 'SKU-W'), ('gadget', 'G-1', 'gadget', 'SKU-G')`,
    `INSERT INTO catalog_label (product_id, text)
       SELECT p.id, l.text FROM (VALUES ('widget', 'red'), ('widget', 'blue'), ('gadget', 'green')) AS l(slug, text)
       JOIN catalog_product p ON p.slug = l.slug`,
    ...HAZARD_KINDS.filter(k => kinds.includes(k)).map(k => WRITE_SQL[k])
  ])
}

/**
 * Repairs the bad rows of each kind (FIX_SQL) so every catalog reverse goes
 * through. Labels and sku values stay, so their loss on the rollback is real;
 * 'not-null-no-default' deletes every catalog_supplier row (see FIX_SQL).
 */
export async function fixBadData(dbUrl: string, kinds: readonly HazardKind[] = HAZARD_KINDS): Promise<void> {
  await inTransaction(
    dbUrl,
    HAZARD_KINDS.filter(k => kinds.includes(k)).map(k => FIX_SQL[k])
  )
}

export interface Snapshot {
  /** Sorted `app.name` of every django_migrations row. */
  history: string[]
  /** pg_dump --schema-only without SET lines, comments, \restrict lines and blank lines. */
  schema: string
  /** For each public table except django_migrations: its rows ordered by the first column, as JSON text. */
  data: Record<string, string>
}

/** pg_dump --schema-only --no-owner --no-privileges, made comparable between two dumps. */
export async function schemaDump(dbUrl: string): Promise<string> {
  const result = await run(PG_DUMP, ['--schema-only', '--no-owner', '--no-privileges', `--dbname=${dbUrl}`], {env: process.env})
  if (result.exitCode !== 0) throw new Error(`pg_dump failed (${result.exitCode}):\n${result.stderr}`)
  return (
    result.stdout
      .split('\n')
      // pg_dump 15.14+ brackets its output in \restrict KEY ... \unrestrict KEY with a random key.
      .filter(l => l.trim() !== '' && !l.startsWith('--') && !l.startsWith('SET ') && !/^\\(un)?restrict /.test(l))
      .join('\n')
  )
}

/** Everything a rollback could change: history, schema and data, for toEqual between two moments. */
export async function snapshot(dbUrl: string): Promise<Snapshot> {
  const [history, schema, names] = await Promise.all([
    appliedMigrations(dbUrl),
    schemaDump(dbUrl),
    query<{t: string}>(
      dbUrl,
      `SELECT table_name AS t FROM information_schema.tables
        WHERE table_schema = 'public' AND table_type = 'BASE TABLE' AND table_name <> 'django_migrations' ORDER BY 1`
    )
  ])
  const data: Record<string, string> = {}
  for (const {t} of names) {
    const quoted = `"${t.replace(/"/g, '""')}"`
    const rows = await query<{j: string}>(
      dbUrl,
      `SELECT coalesce(json_agg(s), '[]'::json)::text AS j FROM (SELECT * FROM public.${quoted} ORDER BY 1) s`
    )
    data[t] = rows[0].j
  }
  return {history, schema, data}
}
