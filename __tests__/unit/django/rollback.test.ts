/**
 * The rollback script (src/django/rollback/, sent as the action sends it: support/django-project.ts
 * runRollbackScript) against the real Django project (__tests__/fixtures/django-project)
 * and a real PostgreSQL: deploy release X, cutoff = now(), deploy B, roll back.
 * The whole suite runs once per Django version (support/python.ts djangoPythons()).
 */
import {createDatabase, query} from '../../support/postgres.js'
import {djangoPythons, usePython} from '../../support/python.js'
import {
  appliedMigrations,
  columns,
  deployRelease,
  indexes,
  rowsAfter,
  runRollbackScript,
  serverNow,
  tables,
  type AppliedRow
} from '../../support/django-project.js'

interface Scenario {
  db: string
  cutoff: string
  after: AppliedRow[]
  s: string[]
}

/** Fresh DB at release `first`, cutoff, then release B. */
async function scenario(first: string): Promise<Scenario> {
  const db = await createDatabase(`rb_${first}`)
  await deployRelease(db, first)
  const cutoff = await serverNow(db)
  await deployRelease(db, 'B')
  const after = await rowsAfter(db, cutoff)
  return {db, cutoff, after, s: after.map(r => `${r.app}.${r.name}`).sort()}
}

/** Tables with their columns and indexes: what "the real schema" means here. */
async function schema(db: string): Promise<Record<string, {columns: string[]; indexes: string[]}>> {
  const out: Record<string, {columns: string[]; indexes: string[]}> = {}
  for (const t of await tables(db)) out[t] = {columns: await columns(db, t), indexes: await indexes(db, t)}
  return out
}

const SQUASH = 'legacy.0001_squashed_0003_record_flag'
const names = (plan: Array<{migration: string}>): string[] => plan.map(p => p.migration)

// Each block deploys and rolls back with its own interpreter (manage() reads pythonBin() per call).
describe.each(djangoPythons())('$label', ({bin, version}) => {
  // Django before 4.0 cannot plan a replaced migration as a target while its squash is applied.
  const before40 = Number(version.split('.')[0]) < 4
  usePython(bin)

  let releaseA: {applied: string[]; schema: Awaited<ReturnType<typeof schema>>}
  let releaseB: {applied: string[]; schema: Awaited<ReturnType<typeof schema>>}

  beforeAll(async () => {
    const a = await createDatabase('ref_a')
    await deployRelease(a, 'A')
    releaseA = {applied: await appliedMigrations(a), schema: await schema(a)}
    const b = await createDatabase('ref_b')
    await deployRelease(b, 'B')
    releaseB = {applied: await appliedMigrations(b), schema: await schema(b)}
  })

  describe('the fixture project', () => {
    test('every app except contenttypes gains a migration between A and B (10+ apps)', () => {
      const apps = (list: string[]): Set<string> => new Set(list.map(m => m.split('.')[0]))
      const gained = [...apps(releaseB.applied)].filter(app =>
        releaseB.applied.filter(m => m.startsWith(`${app}.`)).some(m => !releaseA.applied.includes(m))
      )
      expect(gained.length).toBeGreaterThanOrEqual(10)
      expect(releaseA.applied).toContain('features.0002_feature_enabled')
      expect(releaseA.applied).not.toContain('features.0002_feature_owner')
      expect(releaseA.applied).toContain('tags.0003_x')
      expect(releaseA.schema.shop_product.columns).not.toContain('sku')
      expect(releaseB.schema.shop_product.columns).toContain('sku')
    })
  })

  describe('rollback.py, A -> B -> A', () => {
    let sc: Scenario
    beforeAll(async () => {
      sc = await scenario('A')
    })

    test('dry run: the plan is exactly S (less the split squash row) and changes nothing', async () => {
      const before = await appliedMigrations(sc.db)
      const schemaBefore = await schema(sc.db)
      const {report, exitCode} = await runRollbackScript(sc.db, {after: sc.after})
      expect(exitCode).toBe(0)
      expect(report.error).toBeNull()
      expect(report.django).toBe(version)
      expect(report.hasFlagsmithCommand).toBe(true)
      expect(report.orphans).toEqual([])
      expect(report.bookkeeping).toEqual([])
      expect(report.rowsOnly).toEqual([SQUASH])
      expect(sc.s).toContain(SQUASH)
      expect(names(report.plan).sort()).toEqual(sc.s.filter(m => m !== SQUASH))
      // Branch point: the sibling from release A stays.
      expect(names(report.plan)).toContain('features.0002_feature_owner')
      expect(names(report.plan)).not.toContain('features.0002_feature_enabled')
      // Children before parents, across apps.
      const pos = (m: string): number => names(report.plan).indexOf(m)
      expect(pos('reports.0002_report_invoice')).toBeLessThan(pos('billing.0002_invoice_product'))
      expect(pos('billing.0002_invoice_product')).toBeLessThan(pos('shop.0004_product_sku'))
      expect(pos('features.0003_merge')).toBeLessThan(pos('features.0002_feature_owner'))
      expect(pos('legacy.0004_record_note')).toBeLessThan(pos('legacy.0003_record_flag'))
      expect(pos('tags.0003_x_more')).toBeGreaterThanOrEqual(0)
      expect(report.plan.find((p: {migration: string}) => p.migration === 'shop.0004_product_sku').operations).toEqual([
        {description: 'Undo Add field sku to product', irreversible: false}
      ])
      expect(report.problems).toEqual([])
      expect(report.blocked).toBe(false)
      expect(report.executed).toEqual([])
      expect(await appliedMigrations(sc.db)).toEqual(before)
      expect(await schema(sc.db)).toEqual(schemaBefore)
    })

    test('commands: branch point, gap, ambiguous prefix, non-numeric, zero, unknown app, replaced target', async () => {
      const commands = [
        {app: 'features', target: '0001'}, // Flagsmith's number-minus-one
        {app: 'features', target: '0002_feature_enabled'},
        {app: 'catalog', target: '0003'}, // gap 0002 -> 0004
        {app: 'catalog', target: '0002_category_slug'},
        {app: 'tags', target: '0003_x'}, // also a prefix of 0003_x_more
        {app: 'inventory', target: 'initial'},
        {app: 'notes', target: 'zero'},
        {app: 'nope', target: 'zero'},
        {app: 'legacy', target: '0002_record_code'}
      ]
      const {report} = await runRollbackScript(sc.db, {after: sc.after, commands})
      const byTarget = (app: string, target: string) =>
        report.commands.find((c: {app: string; target: string}) => c.app === app && c.target === target)
      expect(report.commands).toHaveLength(commands.length)

      const nm = byTarget('features', '0001')
      expect(nm.resolved).toBe('0001_initial')
      expect(nm.error).toBeNull()
      expect(names(nm.plan).sort()).toEqual(['features.0002_feature_enabled', 'features.0002_feature_owner', 'features.0003_merge'])
      expect(nm.plan.every((p: {backwards: boolean}) => p.backwards)).toBe(true)
      // The full name of the last pre-cutoff migration leaves the B sibling applied.
      expect(names(byTarget('features', '0002_feature_enabled').plan)).toEqual(['features.0003_merge'])

      expect(byTarget('catalog', '0003').resolved).toBeNull()
      expect(byTarget('catalog', '0003').error).toMatch(/^not-found: /)
      expect(names(byTarget('catalog', '0002_category_slug').plan)).toEqual(['catalog.0004_category_description'])

      expect(byTarget('tags', '0003_x').error).toMatch(/^ambiguous: .*0003_x_more/)
      expect(byTarget('tags', '0003_x').plan).toEqual([])
      expect(names(byTarget('inventory', 'initial').plan)).toEqual(['inventory.add_index'])
      expect(byTarget('notes', 'zero').resolved).toBe('zero')
      expect(names(byTarget('notes', 'zero').plan)).toEqual(['notes.0001_initial'])
      expect(byTarget('nope', 'zero').error).toMatch(/^unknown-app: /)
      // Django 4.0+ rebuilds the graph without replacements for a replaced target and then
      // does not see that legacy.0004 depends on the squash: it stays applied. 3.2 cannot plan it at all.
      if (before40) {
        expect(byTarget('legacy', '0002_record_code').error).toMatch(
          /^squash: Django cannot plan this target .*replaced by a squashed migration/
        )
        expect(byTarget('legacy', '0002_record_code').plan).toEqual([])
      } else {
        expect(names(byTarget('legacy', '0002_record_code').plan)).toEqual(['legacy.0003_record_flag'])
      }

      const kinds = report.problems.map((p: {kind: string}) => p.kind).sort()
      expect(kinds).toEqual(before40 ? ['ambiguous', 'not-found', 'squash', 'unknown-app'] : ['ambiguous', 'not-found', 'unknown-app'])
      expect(report.blocked).toBe(false) // command problems do not block the exact plan
      expect(report.commandsExtra).toEqual(['features.0002_feature_enabled'])
      // Apps without a command are missing; legacy.0004 is missing although legacy has one.
      expect(report.commandsMissing).toEqual([
        'accounts.0002_profile_bio',
        'accounts.0003_backfill_bio',
        'audit.0002_entry_actor',
        'billing.0002_invoice_product',
        ...(before40 ? ['legacy.0003_record_flag'] : []),
        'legacy.0004_record_note',
        'reports.0002_report_invoice',
        'shop.0004_product_sku',
        'tags.0003_x_more'
      ])
    })

    test('outside: a migration outside S that depends on a planned one blocks the run', async () => {
      const partial = sc.after.filter(r => !['billing', 'reports'].includes(r.app))
      const before = await appliedMigrations(sc.db)
      const {report, exitCode} = await runRollbackScript(sc.db, {after: partial, execute: true})
      expect(exitCode).toBe(0)
      expect(report.blocked).toBe(true)
      const outside = report.problems.filter((p: {kind: string}) => p.kind === 'outside')
      expect(outside.map((p: {migration: string}) => p.migration)).toContain('billing.0002_invoice_product')
      expect(outside.some((p: {message: string}) => p.message.includes('shop.0004_product_sku'))).toBe(true)
      expect(report.executed).toEqual([])
      expect(await appliedMigrations(sc.db)).toEqual(before)
    })

    test('execute: leaves exactly release A (applied set and schema)', async () => {
      const {report, exitCode, stdout} = await runRollbackScript(sc.db, {after: sc.after, execute: true})
      expect(report.error).toBeNull()
      expect(exitCode).toBe(0)
      expect(report.executed).toEqual(names(report.plan))
      expect(report.rowsDeleted).toEqual([SQUASH])
      expect(stdout).toContain('  Unapplying shop.0004_product_sku... OK')
      expect(await appliedMigrations(sc.db)).toEqual(releaseA.applied)
      expect(await schema(sc.db)).toEqual(releaseA.schema)
      // And release A can be deployed again (its migrate has nothing to do).
      await deployRelease(sc.db, 'A')
      expect(await appliedMigrations(sc.db)).toEqual(releaseA.applied)
    })
  })

  describe('rollback.py, irreversible step (cutoff before release A)', () => {
    let sc: Scenario
    beforeAll(async () => {
      sc = await scenario('A0')
    })

    test('blocks, and execute changes nothing', async () => {
      expect(sc.s).toContain('shop.0003_seed_products')
      const before = await appliedMigrations(sc.db)
      const {report, exitCode} = await runRollbackScript(sc.db, {after: sc.after, execute: true})
      expect(exitCode).toBe(0)
      expect(report.blocked).toBe(true)
      expect(report.problems).toEqual([
        expect.objectContaining({kind: 'irreversible', migration: 'shop.0003_seed_products', blocking: true})
      ])
      const step = report.plan.find((p: {migration: string}) => p.migration === 'shop.0003_seed_products')
      expect(step.operations).toEqual([{description: 'Raw Python operation -> IRREVERSIBLE', irreversible: true}])
      expect(step.sql).toEqual(['-- Raw Python operation', '-- IRREVERSIBLE: no reverse operation'])
      expect(report.executed).toEqual([])
      expect(await appliedMigrations(sc.db)).toEqual(before)
    })

    test('commands report the irreversible step', async () => {
      const {report} = await runRollbackScript(sc.db, {after: sc.after, commands: [{app: 'shop', target: '0002'}]})
      expect(report.commands[0].irreversible).toEqual(['shop.0003_seed_products'])
      expect(names(report.commands[0].plan)).toEqual(expect.arrayContaining(['billing.0002_invoice_product', 'shop.0004_product_sku']))
    })

    test('allowIrreversible commits the migrations before it and stops there: error names it, executed lists them', async () => {
      const {report, exitCode} = await runRollbackScript(sc.db, {after: sc.after, execute: true, allowIrreversible: true})
      expect(exitCode).toBe(1)
      expect(report.blocked).toBe(false)
      expect(report.problems[0]).toEqual(expect.objectContaining({kind: 'irreversible', blocking: false}))
      expect(report.error.migration).toBe('shop.0003_seed_products')
      expect(report.stoppedBefore).toBe('shop.0003_seed_products')
      expect(report.error.message).toMatch(/stopped before shop\.0003_seed_products, which is irreversible/)
      expect(report.error.traceback).toMatch(/Traceback/)
      const plan = names(report.plan)
      expect(report.executed).toEqual(plan.slice(0, plan.indexOf('shop.0003_seed_products')))
      expect(report.executed).toContain('shop.0004_product_sku')
      const left = await appliedMigrations(sc.db)
      // The split squash's stale row goes before the plan runs, so a failure leaves none behind.
      expect(report.rowsDeleted).toEqual([SQUASH])
      expect(left).toEqual(releaseB.applied.filter(m => !report.executed.includes(m) && m !== SQUASH))
      expect(left).toContain('shop.0003_seed_products')
      expect(await columns(sc.db, 'shop_product')).not.toContain('sku')
    })
  })

  describe('rollback.py, special rows', () => {
    test('squash bookkeeping row recorded after the cutoff is left alone', async () => {
      // A1 ran legacy 0001..0003 without the squash file; B's first migrate records the squash row.
      const sc = await scenario('A1')
      expect(sc.s).toContain(SQUASH)
      expect(sc.s).not.toContain('legacy.0003_record_flag')
      const {report} = await runRollbackScript(sc.db, {after: sc.after, execute: true})
      expect(report.error).toBeNull()
      expect(report.bookkeeping).toEqual([SQUASH])
      expect(report.rowsOnly).toEqual([])
      expect(names(report.plan)).not.toContain(SQUASH)
      expect(names(report.plan).sort()).toEqual(sc.s.filter(m => m !== SQUASH))
      const left = await appliedMigrations(sc.db)
      expect(left).toEqual(expect.arrayContaining([SQUASH, 'legacy.0003_record_flag']))
      expect(left).not.toContain('legacy.0004_record_note')
      expect(await columns(sc.db, 'legacy_record')).toEqual(['code', 'flag', 'id', 'name'])
    })

    test('orphan row (no migration file) is reported, not planned, and stays', async () => {
      const sc = await scenario('A')
      await query(sc.db, `INSERT INTO django_migrations (app, name, applied) VALUES ('shop', '0005_deleted_later', now())`)
      const after = await rowsAfter(sc.db, sc.cutoff)
      const {report} = await runRollbackScript(sc.db, {after, execute: true})
      expect(report.error).toBeNull()
      expect(report.orphans).toEqual(['shop.0005_deleted_later'])
      expect(names(report.plan)).not.toContain('shop.0005_deleted_later')
      expect(await appliedMigrations(sc.db)).toEqual([...releaseA.applied, 'shop.0005_deleted_later'].sort())
    })

    test('a command that would migrate forwards is reported', async () => {
      const db = await createDatabase('rb_fwd')
      await deployRelease(db, 'A')
      const {report} = await runRollbackScript(db, {after: [], commands: [{app: 'shop', target: '0004_product_sku'}]})
      expect(report.plan).toEqual([])
      expect(report.commands[0].plan).toEqual([{migration: 'shop.0004_product_sku', backwards: false}])
      expect(report.problems).toEqual([expect.objectContaining({kind: 'forward', migration: 'shop.0004_product_sku'})])
      expect(report.commandsExtra).toEqual([])
      expect(await appliedMigrations(db)).toEqual(releaseA.applied)
    })

    test('a bad request still ends with a report line and exit status 1', async () => {
      const db = await createDatabase('rb_bad')
      await deployRelease(db, 'A')
      const {report, exitCode} = await runRollbackScript(db, {version: 2 as 1, after: []})
      expect(exitCode).toBe(1)
      expect(report.error.message).toMatch(/unsupported request version/)
    })
  })
})
