/**
 * End to end through the bundle on the hazard project, whose reverses fail on
 * data written after release B: a rollback either completes or changes nothing
 * (history, pg_dump --schema-only and every table's rows compared), a trial
 * predicts it, a lock held by another session never makes it hang, and a dry
 * run says what is lost. On Django 5.2 and 3.2.
 */
import pg from 'pg'
import {json, runAction} from '../support/action.js'
import {
  deployHazardRelease,
  fixBadData,
  HAZARDS,
  type HazardKind,
  hazardProjectDir,
  LOST_LABELS,
  LOST_SKU_VALUES,
  manageHazard,
  schemaDump,
  serverNow,
  snapshot,
  writeBadData
} from '../support/hazard-project.js'
import {createDatabase} from '../support/postgres.js'
import {djangoPythons, usePython} from '../support/python.js'

const LEDGER = 'ledger.0002_backfill'

interface Deployed {
  db: string
  cutoff: string
  schemaA: string
  historyA: string[]
}

/**
 * Release A, cutoff, release B. `allAtomic`: search and archive go to B before the cutoff, so the plan has
 * no atomic = False migration.
 */
async function deploy(prefix: string, allAtomic: boolean): Promise<Deployed> {
  const db = await createDatabase(prefix)
  await deployHazardRelease(db, 'A')
  if (allAtomic) {
    await manageHazard(db, ['migrate', 'search', '-v', '0'])
    await manageHazard(db, ['migrate', 'archive', '-v', '0'])
  }
  const a = await snapshot(db)
  const cutoff = await serverNow(db)
  await deployHazardRelease(db, 'B')
  return {db, cutoff, schemaA: a.schema, historyA: a.history}
}

/** History and schema are release A's again, exactly. */
async function expectReleaseA(d: Deployed): Promise<void> {
  const now = await snapshot(d.db)
  expect(now.history).toEqual(d.historyA)
  expect(now.schema).toEqual(d.schemaA)
}

describe.each(djangoPythons())('$label: all or nothing on the hazard project', ({bin}) => {
  usePython(bin)
  const rollback = (d: Deployed, inputs: Record<string, string> = {}) =>
    runAction(
      {
        'target-datetime': d.cutoff,
        'database-url': d.db,
        executor: 'local',
        'manage-command': `${bin} ${hazardProjectDir}/manage.py`,
        'noop-reverse': LEDGER,
        ...inputs
      },
      {env: {DATABASE_URL: d.db}}
    )

  it.each(['not-null', 'max-length', 'unique', 'not-null-no-default'] as HazardKind[])(
    'a reverse failing on %s data changes nothing and says why; fixed, the next run restores release A exactly',
    async kind => {
      const d = await deploy(`aon_${kind}`, true)
      await writeBadData(d.db, [kind])
      const before = await snapshot(d.db)

      const failed = await rollback(d)
      expect(failed.outputs.status).toBe('failed')
      expect(failed.exitCode).not.toBe(0)
      expect(await snapshot(d.db)).toEqual(before)
      expect(json(failed.outputs['rolled-back'])).toEqual([])
      expect(failed.outputs.changed).toBe('false')
      const hazard = HAZARDS[kind]
      expect(failed.summary).toMatch(new RegExp(`## ⛔ Rollback failed at ${hazard.migration.replace('.', '\\.')}; nothing was changed`))
      expect(failed.summary).toContain(hazard.error.split('\n')[0].replace(/"/g, '&#34;'))
      expect(failed.summary).toMatch(/history, schema and data are exactly as before/)
      // The rows that cause it, counted before the run.
      const rows = {
        'not-null': '1 row of catalog_product has name NULL',
        'max-length': '1 row of catalog_product has code longer than 20 characters',
        unique: '2 rows of catalog_product share a value of (slug) with another row',
        'not-null-no-default': 'catalog_supplier has 2 rows, and legacy_flag comes back NOT NULL with no default'
      }[kind]
      expect(failed.summary).toContain(rows)

      await fixBadData(d.db, [kind])
      const done = await rollback(d)
      expect(done.outputs.status).toBe('rolled-back')
      expect(done.outputs.changed).toBe('true')
      await expectReleaseA(d)
    }
  )

  it('a trial finds the failure and changes nothing; after the fix it passes, with timings, and still changes nothing', async () => {
    const d = await deploy('aon_trial', true)
    await writeBadData(d.db, ['not-null'])
    const before = await snapshot(d.db)
    const failed = await rollback(d, {'dry-run': 'true', trial: 'true'})
    expect(failed.outputs.status).toBe('failed')
    expect(failed.summary).toContain('## ⛔ Trial failed at catalog.0002_product_name_nullable')
    expect(failed.summary).toContain('1 row of catalog_product has name NULL')
    expect(await snapshot(d.db)).toEqual(before)

    await fixBadData(d.db, ['not-null'])
    const fixed = await snapshot(d.db)
    const passed = await rollback(d, {'dry-run': 'true', trial: 'true'})
    expect(passed.outputs.status).toBe('planned')
    expect(passed.summary).toMatch(
      /## 🔍 Trial passed: 7 migrations in 2 apps went through on the live data and were rolled back; nothing was changed/
    )
    expect(passed.summary).toMatch(/Time per migration/)
    expect(await snapshot(d.db)).toEqual(fixed)
  })

  it('a dry run counts what is lost and which reverses would fail, and shows the SQL', async () => {
    const d = await deploy('aon_losses', true)
    await writeBadData(d.db, ['not-null', 'unique'])
    const run = await rollback(d, {'dry-run': 'true'})
    expect(run.outputs.status).toBe('planned')
    const losses = json<{
      tables: {table: string; rows: number; exact: boolean}[]
      columns: {table: string; column: string; values: number}[]
    }>(run.outputs.losses)
    expect(losses.tables).toEqual([
      expect.objectContaining({migration: 'catalog.0004_label', table: 'catalog_label', rows: LOST_LABELS, exact: true})
    ])
    expect(losses.columns).toEqual(
      expect.arrayContaining([
        expect.objectContaining({table: 'catalog_product', column: 'sku', values: LOST_SKU_VALUES, exact: true}),
        expect.objectContaining({table: 'ledger_entry', column: 'memo'})
      ])
    )
    const hazards = json<{kind: string; migration: string; rows: number | null}[]>(run.outputs.hazards)
    const byKind = (kind: string) => hazards.find(h => h.kind === kind && h.migration.startsWith('catalog.'))
    expect(byKind('not-null')).toEqual(expect.objectContaining({migration: 'catalog.0002_product_name_nullable', rows: 1}))
    expect(byKind('unique')).toEqual(expect.objectContaining({migration: 'catalog.0006_product_slug_not_unique', rows: 2}))
    expect(byKind('max-length')).toEqual(expect.objectContaining({rows: 0}))
    expect(byKind('not-null-no-default')).toEqual(expect.objectContaining({rows: 0}))
    expect(run.summary).toContain('### What is lost')
    expect(run.summary).toContain('### Reverse steps that can fail on data')
    expect(run.summary).toContain('DROP TABLE &#34;catalog_label&#34; CASCADE')
    expect(run.summary).toContain('-- Python: RunPython.noop (does nothing)')
    expect(run.summary).toContain('noop-reverse')
  })

  it('a plan with an atomic = False migration runs in parts, says so first, and rolls back exactly', async () => {
    const d = await deploy('aon_segments', false)
    const dry = await rollback(d, {'dry-run': 'true'})
    expect(dry.outputs.status).toBe('planned')
    expect(dry.summary).toMatch(/\*\*In \d parts:\*\*/)
    expect(dry.summary).toMatch(/`atomic = False`, runs alone outside a transaction: <code>search\.0002_doc_title_idx<\/code>/)
    const done = await rollback(d)
    expect(done.outputs.status).toBe('rolled-back')
    await expectReleaseA(d)
  })

  it('noop-reverse: without it the irreversible step is refused before any change; a name not in the plan is refused', async () => {
    const d = await deploy('aon_noop', true)
    const before = await snapshot(d.db)
    const refused = await rollback(d, {'noop-reverse': ''})
    expect(refused.outputs.status).toBe('failed')
    expect(refused.summary).toContain('## ⛔ Rollback stopped before any change')
    expect(refused.summary).toMatch(/ledger\.0002_backfill has an irreversible operation/)
    expect(refused.summary).toMatch(/name the migration in noop-reverse/)
    const unknown = await rollback(d, {'noop-reverse': `${LEDGER}\ncatalog.0001_initial`})
    expect(unknown.outputs.status).toBe('failed')
    expect(unknown.summary).toMatch(/noop-reverse names catalog\.0001_initial, which was applied before the cutoff/)
    const typo = await rollback(d, {'noop-reverse': `${LEDGER}\nledger.0009_nope`})
    expect(typo.outputs.status).toBe('failed')
    expect(typo.summary).toContain('## ⛔ Rollback stopped before any change')
    expect(typo.summary).toMatch(/noop-reverse names ledger\.0009_nope, which the code does not have/)
    expect(await snapshot(d.db)).toEqual(before)
    const done = await rollback(d)
    expect(done.outputs.status).toBe('rolled-back')
    expect(done.summary).toMatch(/noop-reverse:\*\* these irreversible operations were skipped/)
    expect(await schemaDump(d.db)).toEqual(d.schemaA)
  })
})

describe('lock-timeout', () => {
  const lockedRun = (d: Deployed) =>
    runAction(
      {
        'target-datetime': d.cutoff,
        'database-url': d.db,
        executor: 'local',
        'manage-command': `${djangoPythons()[0].bin} ${hazardProjectDir}/manage.py`,
        'noop-reverse': LEDGER,
        'lock-timeout': '2'
      },
      {env: {DATABASE_URL: d.db}}
    )

  it('a lock met by an atomic = False migration, after the all-or-nothing part committed: says exactly what was reached; the same inputs finish', async () => {
    const d = await deploy('aon_lock_late', false)
    const afterB = (await snapshot(d.db)).history.filter(m => !d.historyA.includes(m))
    const blocker = new pg.Client({connectionString: d.db, application_name: 'indexer'})
    await blocker.connect()
    let first
    try {
      // DROP INDEX CONCURRENTLY needs SHARE UPDATE EXCLUSIVE on archive_note, which no atomic migration touches.
      await blocker.query('BEGIN')
      await blocker.query('LOCK TABLE archive_note IN SHARE UPDATE EXCLUSIVE MODE')
      first = await lockedRun(d)
    } finally {
      await blocker.query('ROLLBACK').catch(() => undefined)
      await blocker.end()
    }
    expect(first.outputs.status).toBe('failed')
    const unapplied = json(first.outputs['rolled-back'])
    // The first part (every atomic migration not waiting for a non-atomic one) committed; archive stopped.
    expect(unapplied).toEqual(expect.arrayContaining(['search.0003_doc_body_nullable', 'catalog.0002_product_name_nullable', LEDGER]))
    expect(unapplied).not.toContain('archive.0003_note_title_idx')
    expect(unapplied).not.toContain('archive.0002_note_body')
    const left = afterB.filter(m => !unapplied.includes(m))
    expect(left).toEqual(expect.arrayContaining(['archive.0002_note_body', 'archive.0003_note_title_idx']))
    expect(first.outputs.changed).toBe('true')
    expect(first.summary.split('\n')[0]).toBe(
      `## ❌ Rollback failed part-way: ${unapplied.length} of ${afterB.length} migrations unapplied, ${left.length} still applied after the cutoff`
    )
    expect(first.summary).toContain('<code>archive.0003_note_title_idx</code>')
    expect(first.summary).toContain('<td>indexer</td>')

    const second = await lockedRun(d)
    expect(second.outputs.status).toBe('rolled-back')
    expect(json(second.outputs['rolled-back']).sort()).toEqual(left.sort())
    await expectReleaseA(d)
  })

  it('a session holding a lock on a table the plan drops: the run ends within seconds, changes nothing, names the blocker', async () => {
    const d = await deploy('aon_lock', true)
    await writeBadData(d.db, [])
    const before = await snapshot(d.db)
    const blocker = new pg.Client({connectionString: d.db, application_name: 'live-app'})
    await blocker.connect()
    try {
      await blocker.query('BEGIN')
      await blocker.query('SELECT count(*) FROM catalog_label')
      const {rows} = await blocker.query<{pid: number}>('SELECT pg_backend_pid() AS pid')
      const started = Date.now()
      const run = await runAction(
        {
          'target-datetime': d.cutoff,
          'database-url': d.db,
          executor: 'local',
          'manage-command': `${djangoPythons()[0].bin} ${hazardProjectDir}/manage.py`,
          'noop-reverse': LEDGER,
          'lock-timeout': '2'
        },
        {env: {DATABASE_URL: d.db}}
      )
      const seconds = (Date.now() - started) / 1000
      expect(run.outputs.status).toBe('failed')
      expect(seconds).toBeLessThan(15)
      expect(run.summary).toMatch(/nothing was changed/)
      expect(run.summary).toMatch(/waited longer than lock-timeout/)
      expect(run.summary).toContain(`<td>${rows[0].pid}</td><td>live-app</td>`)
      expect(run.summary).toContain('idle in transaction')
      await blocker.query('ROLLBACK')
      expect(await snapshot(d.db)).toEqual(before)
    } finally {
      await blocker.end()
    }
  })
})
