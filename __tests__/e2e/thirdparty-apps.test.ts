/**
 * End to end on Django 3.2 with real third-party apps and their real migrations
 * (__tests__/fixtures/thirdparty-project, Debian's packages): the built action,
 * executor local, rolls a database at release B back to a release A. The
 * invariant of every scenario: status rolled-back, the django_migrations rows
 * exactly release A's, and pg_dump's schema exactly release A's.
 */
import {json, runAction, type ActionRun} from '../support/action.js'
import {appliedMigrations, serverNow} from '../support/django-project.js'
import {createDatabase, query} from '../support/postgres.js'
import {pythonBin32} from '../support/python.js'
import {deployThirdparty, manage32, schemaDump, thirdpartyProjectDir, type ThirdpartyRelease} from '../support/thirdparty-project.js'

const manageCommand = `${pythonBin32()} ${thirdpartyProjectDir}/manage.py`

const CAS_SQUASH = 'cas_server.0001_squashed_0013_auto_20170329_1748'
const HEALTH_SQUASH = 'db.0001_initial'
const AXES_0007 = 'axes.0007_alter_accessattempt_unique_together'

interface Deployed {
  db: string
  cutoff: string
  rowsA: string[]
  schemaA: string
  rowsB: string[]
  schemaB: string
  /** Rows applied at/after the cutoff: what the rollback must remove. */
  after: string[]
}

/** Fresh database at `release`, `seed` run on it, cutoff from the database clock, then release B. */
async function deployAThenB(release: ThirdpartyRelease, seed?: (db: string) => Promise<unknown>): Promise<Deployed> {
  const db = await createDatabase(`tp_${release}`)
  await deployThirdparty(db, release)
  if (seed) await seed(db)
  const rowsA = await appliedMigrations(db)
  const schemaA = await schemaDump(db)
  const cutoff = await serverNow(db)
  await deployThirdparty(db, 'B')
  return {
    db,
    cutoff,
    rowsA,
    schemaA,
    rowsB: await appliedMigrations(db),
    schemaB: await schemaDump(db),
    after: await appliedMigrations(db, cutoff)
  }
}

function rollback(d: Deployed, inputs: Record<string, string> = {}): Promise<ActionRun> {
  return runAction(
    {'target-datetime': d.cutoff, 'database-url': d.db, executor: 'local', 'manage-command': manageCommand, ...inputs},
    {env: {DATABASE_URL: d.db}}
  )
}

/** The action's `::error::` lines: put next to the status so a failure shows why. */
const errors = (run: ActionRun): string[] => run.stdout.split('\n').filter(l => l.startsWith('::error::'))

const appsOf = (rows: string[]): string[] => [...new Set(rows.map(r => r.split('.')[0]))].sort()

/** Schema lines only in release A's dump, and only in today's: what a failed comparison shows first. */
function lineDiff(a: string, now: string): {onlyInA: string[]; onlyNow: string[]} {
  const la = a.split('\n').filter(l => l.trim())
  const ln = now.split('\n').filter(l => l.trim())
  return {onlyInA: la.filter(l => !ln.includes(l)), onlyNow: ln.filter(l => !la.includes(l))}
}

/**
 * The invariant: rolled back, and history and schema are release A's exactly.
 * One comparison of everything first, so that a failure shows the status, the
 * action's errors and both differences together.
 */
async function expectReleaseA(d: Deployed, run: ActionRun): Promise<void> {
  const rows = await appliedMigrations(d.db)
  const schema = await schemaDump(d.db)
  expect({
    status: run.outputs.status,
    exitCode: run.exitCode,
    errors: errors(run),
    rowsNotInA: rows.filter(r => !d.rowsA.includes(r)),
    rowsMissingFromA: d.rowsA.filter(r => !rows.includes(r)),
    schemaVsA: lineDiff(d.schemaA, schema)
  }).toEqual({
    status: 'rolled-back',
    exitCode: 0,
    errors: [],
    rowsNotInA: [],
    rowsMissingFromA: [],
    schemaVsA: {onlyInA: [], onlyNow: []}
  })
  expect(rows).toEqual(d.rowsA)
  expect(schema).toEqual(d.schemaA) // order too
}

describe('the fixture project', () => {
  test('runs Debian Django 3.2; its squashes replace migrations whose files are gone', async () => {
    // What the README says about the apps, read from Django's own loader.
    const code = [
      'import json, django',
      'from django.db.migrations.loader import MigrationLoader',
      'loader = MigrationLoader(None, ignore_no_migrations=True)',
      'disk = sorted("%s.%s" % k for k in loader.disk_migrations)',
      'replaces = {"%s.%s" % k: ["%s.%s" % r for r in m.replaces] for k, m in loader.disk_migrations.items() if m.replaces}',
      'print(json.dumps({"django": django.get_version(), "disk": disk, "replaces": replaces}))'
    ].join('\n')
    const {stdout} = await manage32('postgres://unused@127.0.0.1:1/none', ['shell', '-v', '0', '-c', code])
    const info = JSON.parse(stdout) as {django: string; disk: string[]; replaces: Record<string, string[]>}
    expect(info.django).toMatch(/^3\.2\./)
    expect(Object.keys(info.replaces).sort()).toEqual([CAS_SQUASH, HEALTH_SQUASH])
    expect(info.replaces[CAS_SQUASH]).toHaveLength(13)
    expect(info.replaces[CAS_SQUASH][0]).toBe('cas_server.0001_squashed_0021_auto_20150611_2102') // a squash of a squash
    expect(info.replaces[HEALTH_SQUASH]).toEqual(['health_check_db.0001_initial']) // another app label
    expect(info.disk.filter(m => m.startsWith('cas_server.') || m.startsWith('db.'))).toEqual([CAS_SQUASH, HEALTH_SQUASH])
    for (const replaced of [...info.replaces[CAS_SQUASH], ...info.replaces[HEALTH_SQUASH]]) expect(info.disk).not.toContain(replaced)
  })
})

describe('(a) squashes: cas_server and health_check from zero to their squashed migrations', () => {
  let d: Deployed
  beforeAll(async () => {
    d = await deployAThenB('A-squash')
  })

  test('B records each squash and every migration it replaces', () => {
    expect(d.after).toEqual(expect.arrayContaining([CAS_SQUASH, HEALTH_SQUASH, 'health_check_db.0001_initial']))
    expect(d.after.filter(m => m.startsWith('cas_server.'))).toHaveLength(14)
    expect(appsOf(d.after)).toEqual(['cas_server', 'db', 'health_check_db'])
    expect(d.schemaB).not.toEqual(d.schemaA)
  })

  test('rolls back exactly: history and schema equal release A', async () => {
    const run = await rollback(d)
    await expectReleaseA(d, run)
    expect(json(run.outputs['rolled-back'])).toEqual(expect.arrayContaining([CAS_SQUASH, HEALTH_SQUASH]))
  })
})

describe('(b) a spread across all the apps', () => {
  let d: Deployed
  beforeAll(async () => {
    d = await deployAThenB('A-spread')
  })

  test('B crosses a data migration, a three-way 0006 branch and a named-only squash', () => {
    expect(appsOf(d.after)).toEqual(['admin', 'auth', 'axes', 'django_celery_beat', 'oauth2_provider', 'reversion', 'taggit'])
    expect(d.after).toEqual(
      expect.arrayContaining([
        'auth.0011_update_proxy_permissions', // RunPython with a reverse
        'django_celery_beat.0006_auto_20180210_1226', // sibling of A's 0006_auto_20180322_0932
        'django_celery_beat.0006_periodictask_priority', // depends on 0008
        'reversion.0002_add_index_on_version_for_content_type_and_db' // after 0001_squashed_0004, which replaces nothing
      ])
    )
    expect(d.rowsA).toContain('django_celery_beat.0006_auto_20180322_0932')
    expect(d.rowsA).toEqual(expect.arrayContaining([CAS_SQUASH, HEALTH_SQUASH])) // squash rows from before the cutoff stay
    expect(d.after.length).toBeGreaterThanOrEqual(25)
  })

  test('rolls back exactly: history and schema equal release A', async () => {
    const run = await rollback(d)
    await expectReleaseA(d, run)
    expect(json(run.outputs['rolled-back']).sort()).toEqual(d.after)
  })
})

describe('(c) axes across 0007, whose RunPython has no reverse', () => {
  // Two identical attempts at A: 0007's RunPython deletes one so its unique_together can be added.
  const seedDuplicates = (db: string) =>
    query(
      db,
      `INSERT INTO axes_accessattempt (user_agent, ip_address, username, http_accept, path_info, attempt_time, get_data, post_data, failures_since_start)
       SELECT 'curl', '127.0.0.1', 'alice', '*/*', '/login', now(), '', '', 1 FROM generate_series(1, 2)`
    )
  const attempts = async (db: string): Promise<number> =>
    Number((await query<{n: string}>(db, 'SELECT count(*) AS n FROM axes_accessattempt'))[0].n)

  test('without noop-reverse: refused before any change', async () => {
    const d = await deployAThenB('A-axes', seedDuplicates)
    expect(d.after).toEqual([AXES_0007, 'axes.0008_accessfailurelog'])
    expect(await attempts(d.db)).toBe(1)
    const run = await rollback(d)
    expect(run.exitCode).toBe(1)
    expect(run.outputs.status).toBe('failed')
    expect(errors(run).join('\n')).toMatch(/irreversible/i)
    expect(errors(run).join('\n')).toContain(AXES_0007)
    expect(await appliedMigrations(d.db)).toEqual(d.rowsB)
    expect(await schemaDump(d.db)).toEqual(d.schemaB)
  })

  test('noop-reverse names 0007: rolls back exactly, and the deduplication stays done', async () => {
    const d = await deployAThenB('A-axes', seedDuplicates)
    const run = await rollback(d, {'noop-reverse': AXES_0007})
    await expectReleaseA(d, run)
    expect(json(run.outputs['rolled-back']).sort()).toEqual(d.after)
    // The RunPython ran as a no-op on the way back: the deleted duplicate is not restored.
    expect(await attempts(d.db)).toBe(1)
  })
})
