/**
 * End to end through the bundle: expected-schema, a pg_dump --schema-only of
 * release A taken right after it was deployed, checks the schema the rollback
 * leaves (and, in a dry run, everything the plan does not change).
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {json, runAction} from '../support/action.js'
import {deployHazardRelease, hazardProjectDir, manageHazard, serverNow, snapshot} from '../support/hazard-project.js'
import {PG_DUMP, runToEnd} from '../support/manage.js'
import {createDatabase, query} from '../support/postgres.js'
import {pythonBin} from '../support/python.js'

interface Deployed {
  db: string
  cutoff: string
  schemaFile: string
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'expected-schema-'))
afterAll(() => fs.rmSync(dir, {recursive: true, force: true}))

/** Release A (every app at A, search and archive at B: no atomic = False step), its dump, the cutoff, release B. */
async function deploy(prefix: string): Promise<Deployed> {
  const db = await createDatabase(prefix)
  await deployHazardRelease(db, 'A')
  await manageHazard(db, ['migrate', 'search', '-v', '0'])
  await manageHazard(db, ['migrate', 'archive', '-v', '0'])
  const dump = await runToEnd(PG_DUMP, ['--schema-only', '--no-owner', db], {env: process.env})
  if (dump.exitCode !== 0) throw new Error(dump.stderr)
  const schemaFile = path.join(dir, `${prefix}.sql`)
  fs.writeFileSync(schemaFile, dump.stdout)
  const cutoff = await serverNow(db)
  await deployHazardRelease(db, 'B')
  return {db, cutoff, schemaFile}
}

const rollback = (d: Deployed, inputs: Record<string, string> = {}) =>
  runAction(
    {
      'target-datetime': d.cutoff,
      'database-url': d.db,
      executor: 'local',
      'manage-command': `${pythonBin()} ${hazardProjectDir}/manage.py`,
      'noop-reverse': 'ledger.0002_backfill',
      'expected-schema': d.schemaFile,
      ...inputs
    },
    {env: {DATABASE_URL: d.db}}
  )

describe('expected-schema', () => {
  it('a rollback verified against the dump taken at release A: the schema matches', async () => {
    const d = await deploy('schema_ok')
    const run = await rollback(d)
    expect(run.outputs.status).toBe('rolled-back')
    expect(run.outputs.schema).toBe('matches')
    expect(json(run.outputs['schema-differences'])).toEqual([])
    expect(run.summary).toMatch(/✅ The schema matches <code>[^<]+schema_ok\.sql<\/code>: \d+ objects compared/)
  })

  it('a column added by hand after B: the history is rolled back, the schema differs, and the column is named', async () => {
    const d = await deploy('schema_hotfix')
    await query(d.db, 'ALTER TABLE catalog_product ADD COLUMN hotfix text')
    const run = await rollback(d)
    expect(run.outputs.status).toBe('failed')
    expect(run.outputs.schema).toBe('differs')
    expect(json(run.outputs['schema-differences'])).toEqual(['column public.catalog_product.hotfix: only in the database'])
    expect(json(run.outputs['rolled-back']).length).toBeGreaterThan(0)
    expect(run.outputs.changed).toBe('true')
    expect(run.summary.split('\n')[0]).toMatch(
      /^## ❌ Rolled back \d+ migrations, but the schema differs from expected-schema \(1 difference\)$/
    )
    expect(run.summary).toContain('<code>column public.catalog_product.hotfix</code>: only in the database')
    expect(run.summary).toContain('+ hotfix text')
    expect(run.stdout).toMatch(/::error::the history is rolled back, but the schema differs from expected-schema/)
  })

  it('a dry run compares what the plan does not change, and says what it left out', async () => {
    const d = await deploy('schema_dry')
    const clean = await rollback(d, {'dry-run': 'true'})
    expect(clean.outputs.status).toBe('planned')
    expect(clean.outputs.schema).toBe('matches')
    expect(clean.summary).toMatch(/Everything the plan does not change matches/)
    expect(clean.summary).toMatch(/Not compared yet, since the rollback changes them: .*<code>catalog_product<\/code>/)

    await query(d.db, 'ALTER TABLE django_content_type ADD COLUMN hotfix text')
    const before = await snapshot(d.db)
    const dirty = await rollback(d, {'dry-run': 'true'})
    expect(dirty.outputs.status).toBe('failed')
    expect(json(dirty.outputs['schema-differences'])).toEqual(['column public.django_content_type.hotfix: only in the database'])
    expect(dirty.stdout).toMatch(/::error::the schema differs from expected-schema .* outside what the plan changes/)
    expect(await snapshot(d.db)).toEqual(before)
  })

  it('refuses a missing, non-pg_dump or custom-format file, naming the input, before any change', async () => {
    const d = await deploy('schema_bad')
    const before = await snapshot(d.db)
    const custom = path.join(dir, 'custom.dump')
    fs.writeFileSync(custom, 'PGDMP\u0001\u000e\u0000binary')
    const other = path.join(dir, 'notes.txt')
    fs.writeFileSync(other, 'release notes for v2\n')
    const cases: [string, RegExp][] = [
      [path.join(dir, 'nope.sql'), /expected-schema ".*nope\.sql" cannot be read \(no such file\): expected the path/],
      [dir, /expected-schema ".*" cannot be read \(it is a directory\)/],
      [custom, /expected-schema ".*custom\.dump" is a custom-format dump: expected plain SQL/],
      [other, /expected-schema ".*notes\.txt" is not pg_dump --schema-only output/]
    ]
    for (const [file, message] of cases) {
      const run = await rollback(d, {'expected-schema': file})
      expect(run.outputs.status).toBe('failed')
      expect(run.stdout).toMatch(new RegExp(`::error::${message.source}`))
      expect(run.summary).toContain('stopped before any change')
    }
    expect(await snapshot(d.db)).toEqual(before)
  })
})
