/**
 * End to end on Flagsmith's real migration graph: deploy release A, then B,
 * roll back with the built action to the time between them, and compare the
 * database with release A's own state (django_migrations and real tables).
 */
import {json, runAction} from '../support/action.js'
import {serverNow} from '../support/django-project.js'
import {
  appliedMigrations,
  databaseAtRelease,
  deployFlagsmith,
  expectedApplied,
  expectedTables,
  flagsmithProject,
  flagsmithTables
} from '../support/flagsmith.js'
import {pythonBin} from '../support/python.js'

const sorted = (s: Set<string>): string[] => [...s].sort()

async function deploy(a: string, ...later: string[]): Promise<{db: string; cutoff: string}> {
  const db = await databaseAtRelease(a)
  const cutoff = await serverNow(db)
  for (const tag of later) await deployFlagsmith(db, tag)
  return {db, cutoff}
}

function rollback(current: string, db: string, cutoff: string, inputs: Record<string, string> = {}) {
  return runAction(
    {
      'target-datetime': cutoff,
      'database-url': db,
      executor: 'local',
      'manage-command': `${pythonBin()} ${flagsmithProject(current)}/manage.py`,
      ...inputs
    },
    {env: {DATABASE_URL: db}}
  )
}

async function expectReleaseState(db: string, tag: string): Promise<void> {
  expect(sorted(await appliedMigrations(db))).toEqual(sorted(expectedApplied(tag)))
  expect(sorted(await flagsmithTables(db))).toEqual(sorted(expectedTables(tag)))
}

describe("Flagsmith's graph, executor local", () => {
  it('v2.27.0 -> v2.26.5: across the segments 0008 -> 0010 gap, where number-minus-one asks for a 0009 that does not exist', async () => {
    const {db, cutoff} = await deploy('v2.26.5', 'v2.27.0')
    expect(await appliedMigrations(db)).toContain('segments.0010_add_uuid_fields')

    const run = await rollback('v2.27.0', db, cutoff)
    expect(run.outputs.status).toBe('rolled-back')
    expect(json(run.outputs['rolled-back'])).toContain('segments.0010_add_uuid_fields')
    await expectReleaseState(db, 'v2.26.5')
  })

  it('v2.20.0 -> v2.19.2: exact keeps features.0036_alter_feature_options, which migrate features 0035 would lose', async () => {
    const {db, cutoff} = await deploy('v2.19.2', 'v2.20.0')
    const run = await rollback('v2.20.0', db, cutoff)
    expect(run.outputs.status).toBe('rolled-back')
    expect(json(run.outputs['rolled-back'])).toContain('features.0036_remove_existing_constraints')
    expect(json(run.outputs['rolled-back'])).not.toContain('features.0036_alter_feature_options')
    await expectReleaseState(db, 'v2.19.2')
    // No migrate APP TARGET sequence does this, and the summary says so instead of offering one.
    expect(run.summary).toContain('No set of `migrate APP TARGET` commands does this rollback exactly')
  })

  it('v2.20.0 -> v2.19.2: per-app refuses before any change and points to exact; flagsmith explains the missing command', async () => {
    const {db, cutoff} = await deploy('v2.19.2', 'v2.20.0')
    const before = sorted(await appliedMigrations(db))

    const perApp = await rollback('v2.20.0', db, cutoff, {strategy: 'per-app'})
    expect(perApp.outputs.status).toBe('failed')
    expect(perApp.stdout).toMatch(/::error::.*features\.0036_remove_existing_constraints.*strategy: exact|::error::.*strategy: exact/s)
    expect(perApp.summary.split('\n')[0]).toBe('## ⛔ Rollback stopped before any change: the database is as it was')

    const vendor = await rollback('v2.20.0', db, cutoff, {strategy: 'flagsmith'})
    expect(vendor.outputs.status).toBe('failed')
    expect(vendor.stdout).toContain('it arrived in Flagsmith v2.151.0')
    expect(vendor.stdout).toContain('rollbackmigrationsafter')
    expect(sorted(await appliedMigrations(db))).toEqual(before)
  })

  it('v2.265.0 -> v2.150.0: a long range over dozens of apps, and a second run has nothing to do', async () => {
    const {db, cutoff} = await deploy('v2.150.0', 'v2.265.0')
    const run = await rollback('v2.265.0', db, cutoff)
    expect(run.outputs.status).toBe('rolled-back')
    expect(json(run.outputs['rolled-back']).length).toBeGreaterThan(90)
    await expectReleaseState(db, 'v2.150.0')

    const again = await rollback('v2.265.0', db, cutoff)
    expect(again.outputs.status).toBe('nothing-to-roll-back')
    await expectReleaseState(db, 'v2.150.0')
  })

  it('v2.27.2 -> v2.26.5 through v2.27.0: a migration deleted from the code is reported as an orphan, never hidden', async () => {
    const {db, cutoff} = await deploy('v2.26.5', 'v2.27.0', 'v2.27.2')
    const run = await rollback('v2.27.2', db, cutoff)
    expect(run.outputs.status).toBe('rolled-back')
    expect(run.summary).toContain('features.0043_add_uuid_fields')
    expect(run.summary).toMatch(/code no longer has, so Django cannot unapply them/)
    expect(await appliedMigrations(db)).toContain('features.0043_add_uuid_fields')
  })
})

describe("Flagsmith's graph, the other strategies", () => {
  it('v2.27.0 -> v2.26.5 per-app: full-name targets cross the gap that number-minus-one cannot', async () => {
    const {db, cutoff} = await deploy('v2.26.5', 'v2.27.0')
    const run = await rollback('v2.27.0', db, cutoff, {strategy: 'per-app'})
    expect(run.outputs.status).toBe('rolled-back')
    const commands = json(run.outputs.commands)
    expect(commands).toContain(`${pythonBin()} ${flagsmithProject('v2.27.0')}/manage.py migrate segments 0008_auto_20210223_1603`)
    expect(commands.every(c => /migrate \w+ (\d{4}_\w+|zero)$/.test(c))).toBe(true)
    await expectReleaseState(db, 'v2.26.5')
  })

  it('v2.265.0 -> v2.150.0 dry runs: the summary offers the equivalent per-app commands; flagsmith is checked against S', async () => {
    const {db, cutoff} = await deploy('v2.150.0', 'v2.265.0')
    const exact = await rollback('v2.265.0', db, cutoff, {'dry-run': 'true'})
    expect(exact.outputs.status).toBe('planned')
    // features' newest row before the cutoff is the squash bookkeeping row; it must not become a target.
    expect(exact.summary).not.toMatch(/migrate features 0011_historicalfeature_squashed/)
    expect(exact.summary).toContain('The same rollback by hand')

    // The oauth2_provider stand-in starts at 0012, so number-minus-one asks for an 0011 it does not have.
    const vendor = await rollback('v2.265.0', db, cutoff, {strategy: 'flagsmith', 'dry-run': 'true'})
    expect(vendor.outputs.status).toBe('failed')
    expect(vendor.stdout).toContain("Cannot find a migration matching '0011' from app 'oauth2_provider'")
  })

  it("v2.254.0 -> v2.200.0 flagsmith: the vendor's own command runs where the check shows it is exact", async () => {
    const {db, cutoff} = await deploy('v2.200.0', 'v2.254.0')
    const run = await rollback('v2.254.0', db, cutoff, {strategy: 'flagsmith'})
    expect(run.stdout).not.toContain('::error::')
    expect(run.outputs.status).toBe('rolled-back')
    expect(json(run.outputs.commands)).toEqual([
      `${pythonBin()} ${flagsmithProject('v2.254.0')}/manage.py rollbackmigrationsappliedafter ${cutoff.replace('Z', '+00:00')}`
    ])
    await expectReleaseState(db, 'v2.200.0')
  })
})
