/**
 * Helpers around the hazard project in __tests__/fixtures/hazard-project: a real
 * Django project whose reverse migrations fail on data written after release B
 * (see its README.md). Every call is a real `manage.py` process, pg_dump or SQL
 * against a real PostgreSQL database.
 */
import fs from 'node:fs'
import path from 'node:path'
import pg from 'pg'
import {appliedMigrations, serverNow} from './django-project.js'
import {manageIn, migrateSteps, schemaDump, type ManageOptions, type ManageResult} from './manage.js'
import {createDatabase, query} from './postgres.js'
import {REPO_ROOT, pythonBin} from './python.js'

export {serverNow} from './django-project.js'
export {schemaDump} from './manage.js'

export const hazardProjectDir = path.join(REPO_ROOT, '__tests__', 'fixtures', 'hazard-project')

export type HazardRelease = 'A' | 'B'
interface HazardReleases {
  A: Array<[string, string]>
  B: 'latest'
  env: Record<string, Record<string, string>>
}
export const hazardReleases = JSON.parse(fs.readFileSync(path.join(hazardProjectDir, 'releases.json'), 'utf8')) as HazardReleases

const project = {dir: hazardProjectDir, python: pythonBin}

/** `python manage.py ARGS` in the hazard project. */
export function manageHazard(dbUrl: string, args: string[], opts: ManageOptions = {}): Promise<ManageResult> {
  return manageIn(project, dbUrl, args, opts)
}

/**
 * Applies release A or B from releases.json in one Django process. Run on a
 * database that is further on, release A's steps migrate it backwards (give
 * `env: {LEDGER_BACKFILL_REVERSIBLE: '1'}` to get past the irreversible ledger.0002).
 */
export async function deployHazardRelease(dbUrl: string, name: HazardRelease, options: {env?: Record<string, string>} = {}): Promise<void> {
  const release = hazardReleases[name]
  await migrateSteps(project, dbUrl, release === 'latest' ? [] : release, {env: {...(hazardReleases.env[name] ?? {}), ...options.env}})
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

/**
 * Rows of an app the project does not have, applied long before anything else: `count` rows from 2019, a
 * deploy batch of 10 every `every` (an SQL interval). Call after django_migrations exists.
 */
export async function addOldHistory(dbUrl: string, count: number, every: '1 hour' | '1 day'): Promise<void> {
  await query(
    dbUrl,
    `INSERT INTO django_migrations (app, name, applied)
       SELECT 'oldapp', lpad(i::text, 6, '0') || '_x', timestamptz '2019-01-01' + (i / 10) * $2::interval + (i % 10) * interval '1 second'
         FROM generate_series(1, $1) i`,
    [count, every]
  )
}

/**
 * A fresh database at release B whose history starts with `count` old rows (addOldHistory), and the cutoff
 * between releases A and B, from the database clock.
 */
export async function atReleaseBWithOldHistory(
  prefix: string,
  count: number,
  every: '1 hour' | '1 day'
): Promise<{db: string; cutoff: string}> {
  const db = await createDatabase(prefix)
  await manageHazard(db, ['migrate', 'contenttypes', '-v', '0'])
  await addOldHistory(db, count, every)
  await deployHazardRelease(db, 'A')
  const cutoff = await serverNow(db)
  await deployHazardRelease(db, 'B')
  return {db, cutoff}
}

/** The action's inputs for a dry run of the hazard project back to `cutoff` (ledger.0002's irreversible step skipped). */
export function hazardDryRunInputs(dbUrl: string, cutoff: string): Record<string, string> {
  return {
    'target-datetime': cutoff,
    'database-url': dbUrl,
    executor: 'local',
    'manage-command': `${pythonBin()} ${hazardProjectDir}/manage.py`,
    'noop-reverse': 'ledger.0002_backfill',
    'dry-run': 'true'
  }
}
