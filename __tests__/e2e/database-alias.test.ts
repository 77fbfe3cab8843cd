/**
 * database-alias: the test project with a second database (ANALYTICS_DATABASE_URL;
 * project/routers.py sends the audit app there). Releases A then B are deployed to
 * both databases; a rollback on alias `analytics` must unapply exactly the rows of
 * that database's django_migrations applied after the cutoff, undo audit's schema
 * change there, and leave `default` as it was. history.py must read that
 * database's table.
 */
import {parseDatabaseUrl} from '../../src/database.js'
import path from 'node:path'
import type {Cutoff} from '../../src/config.js'
import {migrateArgv, withDatabase} from '../../src/django/commands.js'
import {LocalExecutor} from '../../src/executors/local.js'
import {readHistory} from '../../src/history.js'
import {readHistoryInContainer} from '../../src/history-container.js'
import {
  columns,
  deployRelease,
  manage,
  projectDir,
  releases,
  rowsAfter,
  runRollbackScript,
  serverNow,
  tables
} from '../support/django-project.js'
import {createDatabase, query} from '../support/postgres.js'
import {pythonBin} from '../support/python.js'

const cutoffOf = (utc: string): Cutoff => ({input: utc, utc, assumedUtc: false})

/** Every row with its time: a change to any of them shows. */
async function rowsOf(url: string): Promise<string[]> {
  const rows = await query<{r: string}>(
    url,
    `SELECT id || ' ' || app || '.' || name || ' ' || to_char(applied AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS r
       FROM django_migrations ORDER BY id`
  )
  return rows.map(r => r.r)
}

/** deployRelease on the analytics alias: the same migrate calls with database="analytics". */
async function deployAnalytics(db: string, name: string): Promise<void> {
  const release = releases[name] as Array<[string, string]> | 'latest'
  const code = [
    'import json, sys',
    'from django.core.management import call_command',
    'steps = json.loads(sys.stdin.read())',
    'if not steps: call_command("migrate", database="analytics", verbosity=0)',
    'for app, target in steps: call_command("migrate", app, target, database="analytics", verbosity=0)'
  ].join('\n')
  await manage(db, ['shell', '-v', '0', '-c', code], {
    input: JSON.stringify(release === 'latest' ? [] : release),
    env: releases.env[name] ?? {}
  })
}

let db: string
let analytics: string
let cutoff: Cutoff
let defaultBefore: {rows: string[]; tables: string[]}
const saved = process.env.ANALYTICS_DATABASE_URL

beforeAll(async () => {
  db = await createDatabase('alias_default')
  analytics = await createDatabase('alias_analytics')
  // manage() (and so deployRelease and runRollbackScript) passes process.env on to manage.py.
  process.env.ANALYTICS_DATABASE_URL = analytics
  await deployRelease(db, 'A')
  await deployAnalytics(db, 'A')
  cutoff = cutoffOf(await serverNow(analytics))
  await deployRelease(db, 'B')
  await deployAnalytics(db, 'B')
  defaultBefore = {rows: await rowsOf(db), tables: await tables(db)}
})

afterAll(() => {
  if (saved === undefined) delete process.env.ANALYTICS_DATABASE_URL
  else process.env.ANALYTICS_DATABASE_URL = saved
})

const manageCommand = (): string[] => [
  '/usr/bin/env',
  'PYTHONDONTWRITEBYTECODE=1',
  `DATABASE_URL=${db}`,
  `ANALYTICS_DATABASE_URL=${analytics}`,
  pythonBin(),
  path.join(projectDir, 'manage.py')
]

test('the fixture: audit lives only in analytics, every other app only in default; both record every row', async () => {
  expect(await tables(analytics)).toEqual(['audit_entry', 'django_migrations'])
  expect(await tables(db)).not.toContain('audit_entry')
  expect(await tables(db)).toContain('shop_product')
  expect(await columns(analytics, 'audit_entry')).toContain('actor')
  const after = (await rowsAfter(analytics, cutoff.utc)).map(r => `${r.app}.${r.name}`)
  expect(after).toContain('audit.0002_entry_actor')
  expect(after).toContain('shop.0004_product_sku')
})

test('history.py reads the alias’s own django_migrations, exactly as a direct connection to that database', async () => {
  const local = new LocalExecutor()
  const viaAlias = await readHistoryInContainer(local, manageCommand(), 'analytics', cutoff)
  const direct = await readHistory(parseDatabaseUrl(analytics), cutoff)
  expect(viaAlias.rows).toEqual(direct.rows)
  const viaDefault = await readHistoryInContainer(local, manageCommand(), 'default', cutoff)
  expect(viaDefault.rows).toEqual((await readHistory(parseDatabaseUrl(db), cutoff)).rows)
  // Two databases, two different tables (same names, different times).
  expect(viaAlias.rows.map(r => r.applied)).not.toEqual(viaDefault.rows.map(r => r.applied))
})

test('rollback.py on alias analytics unapplies exactly that database’s rows after the cutoff; default is untouched', async () => {
  const s = await rowsAfter(analytics, cutoff.utc)
  const before = (await rowsOf(analytics)).filter(r => !s.some(x => r.includes(` ${x.app}.${x.name} `)))
  const run = await runRollbackScript(db, {database: 'analytics', after: s, execute: true})
  expect(run.report.error).toBeNull()
  expect(run.exitCode).toBe(0)
  expect(run.report.executed).toContain('audit.0002_entry_actor')

  expect(await rowsAfter(analytics, cutoff.utc)).toEqual([])
  expect(await rowsOf(analytics)).toEqual(before)
  expect(await columns(analytics, 'audit_entry')).not.toContain('actor')
  expect({rows: await rowsOf(db), tables: await tables(db)}).toEqual(defaultBefore)
  expect(await columns(db, 'shop_product')).toContain('sku')

  // And forwards again on analytics only, then a per-app `migrate ... --database analytics` from withDatabase.
  await deployAnalytics(db, 'B')
  expect(await columns(analytics, 'audit_entry')).toContain('actor')
  const argv = withDatabase(migrateArgv(manageCommand(), 'audit', '0001_initial'), 'analytics')
  expect(argv.slice(-2)).toEqual(['--database', 'analytics'])
  const result = await new LocalExecutor().exec(argv)
  expect(result.exitCode).toBe(0)
  expect(result.stdout).toMatch(/Unapplying audit\.0002_entry_actor\.\.\. OK/)
  expect(await columns(analytics, 'audit_entry')).not.toContain('actor')
  expect({rows: await rowsOf(db), tables: await tables(db)}).toEqual(defaultBefore)
})
