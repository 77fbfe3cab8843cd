/**
 * `target-source`: scanSource on source trees generated from Flagsmith's real
 * migration graph (flagsmith_project.py --source-tree), and selectFromSource
 * (pure) on real histories: deploy release A, then the later ones, read
 * django_migrations, and compare the source's S with what a datetime cutoff
 * between the deploys selects.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import type {MigrationRow} from '../../../src/history.js'
import {RollbackError} from '../../../src/errors.js'
import {scanSource, selectFromSource, type SourceMigrations} from '../../../src/target/source.js'
import {databaseAtRelease, deployFlagsmith, expectedApplied, flagsmithSourceManifest, flagsmithSourceTree} from '../../support/flagsmith.js'
import {query} from '../../support/postgres.js'

const UTC_TEXT = `'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'`
const keys = (rows: {app: string; name: string}[]): string[] => rows.map(r => `${r.app}.${r.name}`).sort()
const SQUASH = 'features.0011_historicalfeature_squashed_0012_historicalfeaturestate_historicalfeaturestatevalue'
const SQUASHED = ['features.0011_historicalfeature', 'features.0012_historicalfeaturestate_historicalfeaturestatevalue']

const tmpDirs: string[] = []
function copyTree(tag: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rollback-source-'))
  tmpDirs.push(dir)
  fs.cpSync(flagsmithSourceTree(tag), dir, {recursive: true})
  return dir
}
function put(file: string, text = ''): void {
  fs.mkdirSync(path.dirname(file), {recursive: true})
  fs.writeFileSync(file, text)
}
afterAll(() => {
  for (const dir of tmpDirs) fs.rmSync(dir, {recursive: true, force: true})
})

function asMap(scan: SourceMigrations): Record<string, string[]> {
  return Object.fromEntries([...scan].map(([app, names]) => [app, [...names].sort()]).sort())
}

describe('scanSource on generated Flagsmith source trees', () => {
  it.each(['v2.265.0', 'v2.150.0', 'v2.128.0', 'v2.20.0'])('finds every app, label and migration at %s', async tag => {
    const manifest = flagsmithSourceManifest(tag)
    const scan = await scanSource(flagsmithSourceTree(tag))
    const expected: Record<string, string[]> = Object.fromEntries(
      Object.entries(manifest.apps).map(([app, a]) => [app, [...a.migrations].sort()])
    )
    // The squash stands for the two migrations it replaces (their files were deleted before v2.7.2).
    expected.features = [...expected.features, ...SQUASHED.map(k => k.split('.')[1])].sort()
    expect(asMap(scan.migrations)).toEqual(Object.fromEntries(Object.entries(expected).sort()))
    expect(scan.replaced.map(r => `${r.app}.${r.name} by ${r.by}`).sort()).toEqual(SQUASHED.map(k => `${k} by ${SQUASH}`))
    expect(scan.folders.map(f => [f.app, f.dir, f.labelFrom]).sort()).toEqual(
      Object.entries(manifest.apps)
        .map(([app, a]) => [app, a.dir, a.labelFrom])
        .sort()
    )
  })

  it('takes the label from apps.py where the folder name differs, else the folder name', async () => {
    const scan = await scanSource(flagsmithSourceTree('v2.265.0'))
    expect(scan.folders.filter(f => f.labelFrom === 'apps.py').map(f => `${f.dir} -> ${f.app}`)).toEqual([
      'api/environments/permissions -> environment_permissions',
      'api/features/import_export -> features_import_export',
      'api/features/release_pipelines/core -> release_pipelines_core',
      'api/features/versioning -> feature_versioning',
      'api/features/workflows/core -> workflows_core',
      'api/organisations/permissions -> organisation_permissions'
    ])
    expect(scan.folders.find(f => f.app === 'permissions')).toEqual({dir: 'api/permissions', app: 'permissions', labelFrom: 'folder'})
    expect(scan.folders.find(f => f.app === 'traits')?.dir).toBe('api/environments/identities/traits')
  })

  it('has task_processor in the repository up to v2.128.0 only', async () => {
    expect((await scanSource(flagsmithSourceTree('v2.128.0'))).migrations.has('task_processor')).toBe(true)
    expect((await scanSource(flagsmithSourceTree('v2.129.0'))).migrations.has('task_processor')).toBe(false)
  })

  it('loads what Django loads and skips installed packages, VCS data and caches', async () => {
    const root = copyTree('v2.26.5')
    const seg = path.join(root, 'api', 'segments', 'migrations')
    put(path.join(seg, '_helpers.py'))
    put(path.join(seg, '~0099_editor_backup.py'))
    put(path.join(seg, 'README.md'))
    put(path.join(seg, '0100_x.orig.py'))
    put(path.join(seg, 'subpackage', '__init__.py'))
    put(path.join(seg, 'subpackage', '0001_nested.py'))
    put(path.join(seg, 'fix_names.py')) // no number: Django loads it all the same
    // Skipped: a virtualenv (by pyvenv.cfg and by site-packages), node_modules, .git, __pycache__.
    put(path.join(root, '.venv', 'pyvenv.cfg'))
    put(path.join(root, '.venv', 'lib', 'python3.12', 'site-packages', 'task_processor', 'migrations', '__init__.py'))
    put(path.join(root, '.venv', 'lib', 'python3.12', 'site-packages', 'task_processor', 'migrations', '0001_initial.py'))
    put(path.join(root, 'myenv', 'pyvenv.cfg'))
    put(path.join(root, 'myenv', 'src', 'pkg', 'migrations', '__init__.py'))
    put(path.join(root, 'myenv', 'src', 'pkg', 'migrations', '0001_initial.py'))
    put(path.join(root, 'build', 'lib', 'site-packages', 'oauth2_provider', 'migrations', '__init__.py'))
    put(path.join(root, 'build', 'lib', 'site-packages', 'oauth2_provider', 'migrations', '0001_initial.py'))
    put(path.join(root, 'frontend', 'node_modules', 'x', 'migrations', '__init__.py'))
    put(path.join(root, 'frontend', 'node_modules', 'x', 'migrations', '0001_initial.py'))
    put(path.join(root, '.git', 'y', 'migrations', '__init__.py'))
    put(path.join(root, '.git', 'y', 'migrations', '0001_initial.py'))
    put(path.join(root, 'api', '__pycache__', 'z', 'migrations', '__init__.py'))
    put(path.join(root, 'api', '__pycache__', 'z', 'migrations', '0001_initial.py'))
    // A namespace package (no __init__.py): Django treats the app as unmigrated.
    put(path.join(root, 'api', 'sales_dashboard', 'migrations', '0001_initial.py'))
    // Labels in single quotes and annotated.
    put(path.join(root, 'api', 'extra', 'one', 'apps.py'), "class C(AppConfig):\n    name = 'extra.one'\n    label = 'extra_one'\n")
    put(path.join(root, 'api', 'extra', 'one', 'migrations', '__init__.py'))
    put(path.join(root, 'api', 'extra', 'one', 'migrations', '0001_initial.py'))
    put(path.join(root, 'api', 'extra', 'two', 'apps.py'), 'class C(AppConfig):\n    label: str = "extra_two"\n')
    put(path.join(root, 'api', 'extra', 'two', 'migrations', '__init__.py'))

    const scan = await scanSource(root)
    const manifest = flagsmithSourceManifest('v2.26.5')
    expect([...scan.migrations.keys()].sort()).toEqual([...Object.keys(manifest.apps), 'extra_one', 'extra_two'].sort())
    expect([...scan.migrations.get('segments')!].sort()).toEqual([...manifest.apps.segments.migrations, 'fix_names'].sort())
    expect([...scan.migrations.get('extra_one')!]).toEqual(['0001_initial'])
    expect([...scan.migrations.get('extra_two')!]).toEqual([])
  })

  it('refuses two folders with one label, naming both', async () => {
    const root = copyTree('v2.150.0')
    // Without its label, api/environments/permissions is "permissions", like api/permissions.
    put(path.join(root, 'api', 'environments', 'permissions', 'apps.py'), 'from django.apps import AppConfig\n')
    const error = await scanSource(root).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(RollbackError)
    expect((error as Error).message).toContain('"permissions"')
    expect((error as Error).message).toContain('api/environments/permissions/migrations')
    expect((error as Error).message).toContain('api/permissions/migrations')
  })

  it('says how to check the release out when the path is missing or holds no migrations', async () => {
    const missing = path.join(os.tmpdir(), 'rollback-no-such-checkout')
    await expect(scanSource(missing)).rejects.toThrow(RollbackError)
    await expect(scanSource(missing)).rejects.toThrow(/does not exist.*actions\/checkout.*ref: v2\.150\.0.*path: /s)
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'rollback-source-'))
    tmpDirs.push(empty)
    put(path.join(empty, 'README.md'), '# not a checkout\n')
    await expect(scanSource(empty)).rejects.toThrow(/holds no Django migrations.*actions\/checkout/s)
    await expect(scanSource(path.join(empty, 'README.md'))).rejects.toThrow(/is not a directory/)
  })
})

describe('selectFromSource (pure)', () => {
  const row = (id: number, app: string, name: string, applied: string): MigrationRow => ({id, app, name, applied})
  const source: SourceMigrations = new Map([
    ['features', new Set(['0001_initial', '0002_a'])],
    ['segments', new Set(['0001_initial'])]
  ])

  it('selects exactly what the source lacks in its apps, and other apps from the earliest of those', () => {
    const rows = [
      row(1, 'auth', '0001_initial', '2024-01-01T00:00:00.000000Z'),
      row(2, 'features', '0001_initial', '2024-01-01T00:00:00.000001Z'),
      row(3, 'features', '0002_a', '2024-02-01T00:00:00.000000Z'),
      row(4, 'segments', '0001_initial', '2024-03-01T00:00:00.000000Z'),
      row(5, 'features', '0003_b', '2024-03-01T00:00:00.000000Z'), // the cutoff, to the microsecond
      row(6, 'oauth2_provider', '0012_x', '2024-02-29T23:59:59.999999Z'), // before it: kept
      row(7, 'oauth2_provider', '0013_y', '2024-03-01T00:00:00.000000Z'), // at it: selected
      row(8, 'segments', '0002_b', '2024-04-01T00:00:00.000000Z'),
      row(9, 'task_processor', '0012_z', '2024-04-01T00:00:00.000000Z')
    ]
    const s = selectFromSource(rows, source)
    expect(s.after.map(r => r.id)).toEqual([9, 8, 7, 5])
    expect(s.before.map(r => r.id)).toEqual([4, 6, 3, 2, 1])
    expect(s.cutoffUtc).toBe('2024-03-01T00:00:00.000000Z')
    expect(s.outsideApps).toEqual([
      {app: 'auth', rows: 0},
      {app: 'oauth2_provider', rows: 1},
      {app: 'task_processor', rows: 1}
    ])
  })

  it('selects nothing, not even recent rows of other apps, when the source has every row of its apps', () => {
    const rows = [
      row(1, 'features', '0001_initial', '2024-01-01T00:00:00.000000Z'),
      row(2, 'task_processor', '0012_z', '2024-04-01T00:00:00.000000Z')
    ]
    expect(selectFromSource(rows, source)).toEqual({
      after: [],
      before: [rows[1], rows[0]],
      cutoffUtc: null,
      outsideApps: [{app: 'task_processor', rows: 0}]
    })
  })
})

describe('squash bookkeeping', () => {
  it('keeps a squashed migration recorded late, and the rows of what it replaces, out of S (a datetime cutoff would not)', async () => {
    // A database older than the squash applied features 0011 and 0012 one by one; Django records the
    // squash's own row only at the end of a later migrate run, possibly the deploy being rolled back.
    // The source has the squash (and through its `replaces`, 0011 and 0012): none of the three is in S,
    // whereas `applied >= cutoff` would take the late squash row.
    const {migrations} = await scanSource(flagsmithSourceTree('v2.150.0'))
    const [squashApp, squashName] = SQUASH.split('.')
    const rows: MigrationRow[] = [
      {id: 1, app: 'features', name: SQUASHED[0].split('.')[1], applied: '2019-04-24T10:00:00.000000Z'},
      {id: 2, app: 'features', name: SQUASHED[1].split('.')[1], applied: '2019-04-24T10:00:00.100000Z'},
      {id: 3, app: 'features', name: '0012_auto_20190424_1555', applied: '2019-04-24T10:00:00.200000Z'},
      {id: 4, app: 'features', name: '0099_from_a_later_release', applied: '2024-10-24T08:23:45.000001Z'},
      {id: 5, app: squashApp, name: squashName, applied: '2024-10-24T08:23:46.000000Z'}
    ]
    const s = selectFromSource(rows, migrations)
    expect(s.after.map(r => r.id)).toEqual([4])
    expect(s.before.map(r => r.id)).toEqual([5, 3, 2, 1])
    expect(rows.filter(r => r.applied >= s.cutoffUtc!).map(r => r.id)).toEqual([4, 5])
  })
})

async function rowsOf(db: string): Promise<MigrationRow[]> {
  const rows = await query<MigrationRow>(
    db,
    `SELECT id, app, name, to_char(applied AT TIME ZONE 'UTC', ${UTC_TEXT}) AS applied FROM django_migrations ORDER BY applied, id`
  )
  return rows.map(r => ({...r, id: Number(r.id)}))
}

async function clock(db: string): Promise<string> {
  return (await query<{now: string}>(db, `SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', ${UTC_TEXT}) AS now`))[0].now
}

/**
 * Deploys `first`, then each of `later`; `cutoff` is the database's clock just
 * before the last deploy (what a person would type as target-datetime).
 * Returns every row and the datetime S (applied >= cutoff, compared in PostgreSQL).
 */
async function history(
  first: string,
  ...later: string[]
): Promise<{db: string; rows: MigrationRow[]; byDatetime: string[]; newRows: string[]}> {
  const db = await databaseAtRelease(first, 'src')
  for (const tag of later.slice(0, -1)) await deployFlagsmith(db, tag)
  const beforeLast = new Set(keys(await rowsOf(db)))
  const cutoff = await clock(db)
  await deployFlagsmith(db, later[later.length - 1])
  const rows = await rowsOf(db)
  const byDatetime = (
    await query<{k: string}>(db, `SELECT app || '.' || name AS k FROM django_migrations WHERE applied >= $1::timestamptz`, [cutoff])
  ).map(r => r.k)
  return {db, rows, byDatetime: byDatetime.sort(), newRows: keys(rows).filter(k => !beforeLast.has(k))}
}

async function fromSource(tag: string, rows: MigrationRow[]) {
  return selectFromSource(rows, (await scanSource(flagsmithSourceTree(tag))).migrations)
}

describe('selectFromSource on real Flagsmith histories', () => {
  it('v2.150.0 <- v2.265.0: S is exactly what v2.265.0 applied, the same as the datetime cutoff', async () => {
    const {rows, byDatetime, newRows} = await history('v2.150.0', 'v2.265.0')
    const s = await fromSource('v2.150.0', rows)
    expect(byDatetime).toEqual(newRows)
    expect(keys(s.after)).toEqual(newRows)
    // Apps the v2.150.0 source does not contain go by the cutoff rule: the apps Flagsmith added after
    // v2.150.0 (clickhouse, gitlab, ...: all their rows are v2.265.0's) and oauth2_provider
    // (django-oauth-toolkit, needed from v2.255.0). task_processor (a package since v2.129.0) and Django's
    // contrib apps only have rows from before: none selected.
    const inSource = new Set(Object.keys(flagsmithSourceManifest('v2.150.0').apps))
    const outside = new Map<string, number>()
    for (const r of rows)
      if (!inSource.has(r.app)) outside.set(r.app, (outside.get(r.app) ?? 0) + (newRows.includes(`${r.app}.${r.name}`) ? 1 : 0))
    expect(s.outsideApps).toEqual([...outside].map(([app, n]) => ({app, rows: n})).sort((a, b) => (a.app < b.app ? -1 : 1)))
    expect(s.outsideApps.filter(a => a.rows === 0).map(a => a.app)).toEqual(['auth', 'contenttypes', 'task_processor'])
    expect(s.outsideApps.map(a => a.app)).toContain('clickhouse')
    expect(s.outsideApps.map(a => a.app)).toContain('oauth2_provider')
    expect(keys(s.before)).toEqual([...expectedApplied('v2.150.0')].sort())
    expect(s.cutoffUtc).toBe([...s.after].filter(r => r.app !== 'oauth2_provider').pop()!.applied)
  })

  it('v2.26.5 <- v2.27.0: segments.0010_add_uuid_fields (after a gap) is selected, as by the datetime cutoff', async () => {
    const {rows, byDatetime, newRows} = await history('v2.26.5', 'v2.27.0')
    const s = await fromSource('v2.26.5', rows)
    expect(keys(s.after)).toEqual(newRows)
    expect(keys(s.after)).toEqual(byDatetime)
    expect(keys(s.after)).toContain('segments.0010_add_uuid_fields')
    expect(keys(s.after)).toContain('features.0043_add_uuid_fields')
    expect(keys(s.before)).toEqual([...expectedApplied('v2.26.5')].sort())
  })

  it("v2.19.2 <- v2.20.0: only v2.20.0's branch of features 0036 is selected", async () => {
    const {rows, byDatetime, newRows} = await history('v2.19.2', 'v2.20.0')
    const s = await fromSource('v2.19.2', rows)
    expect(keys(s.after)).toEqual(newRows)
    expect(keys(s.after)).toEqual(byDatetime)
    expect(keys(s.after)).toContain('features.0036_remove_existing_constraints')
    expect(keys(s.before)).toContain('features.0036_alter_feature_options')
  })

  it('v2.128.0 <- v2.129.0, then <- v2.150.0: task_processor is still in the v2.128.0 source and gains no row', async () => {
    // v2.129.0 (task_processor leaves the repository for a package) applies no migration at all: nothing to select.
    const first = await history('v2.128.0', 'v2.129.0')
    expect(first.newRows).toEqual([])
    const empty = await fromSource('v2.128.0', first.rows)
    expect(empty.after).toEqual([])
    expect(empty.cutoffUtc).toBeNull()
    // Across the move: v2.128.0 <- v2.150.0, the database deployed v2.128.0, v2.129.0, v2.150.0.
    const {rows, byDatetime, newRows} = await history('v2.128.0', 'v2.129.0', 'v2.150.0')
    const s = await fromSource('v2.128.0', rows)
    expect(newRows.filter(k => k.startsWith('task_processor.'))).toEqual([])
    expect(keys(s.after)).toEqual(newRows)
    expect(keys(s.after)).toEqual(byDatetime)
    expect(s.outsideApps.filter(a => a.rows === 0).map(a => a.app)).toEqual(['auth', 'contenttypes'])
    expect(keys(s.before)).toEqual([...expectedApplied('v2.128.0')].sort())
  })

  it('v2.129.0 <- v2.150.0 (deployed through v2.128.0, v2.129.0): task_processor, now a package, goes by the cutoff rule', async () => {
    const {db, byDatetime} = await history('v2.128.0', 'v2.129.0', 'v2.150.0')
    // The generated projects freeze the package at the repository's last set of task_processor migrations;
    // the real package went on adding migrations, which a deploy applies along with the release's own. Record
    // one as such a deploy would (during the v2.150.0 deploy, i.e. after the cutoff): the source cannot know
    // it, so only the cutoff rule can select it, while the rows v2.128.0 applied stay.
    await query(db, `INSERT INTO django_migrations (app, name, applied) VALUES ('task_processor', '0012_from_the_package', now())`)
    const rows = await rowsOf(db)
    const s = await fromSource('v2.129.0', rows)
    expect(keys(s.after)).toEqual([...byDatetime, 'task_processor.0012_from_the_package'].sort())
    expect(s.outsideApps).toEqual([
      {app: 'auth', rows: 0},
      {app: 'contenttypes', rows: 0},
      {app: 'task_processor', rows: 1}
    ])
    expect(keys(s.before).filter(k => k.startsWith('task_processor.'))).toEqual(
      [...expectedApplied('v2.128.0')].filter(k => k.startsWith('task_processor.')).sort()
    )
  })

  it('v2.28.0 <- v2.29.0 (deployed through v2.27.0): a migration deleted before the target release is selected, but does not date the cutoff', async () => {
    // features.0043_add_uuid_fields exists in v2.27.0 and v2.27.1 only. A database deployed at v2.27.0
    // keeps its row for good (Django ignores rows without a file), and the v2.28.0 source does not have
    // it, so the exact rule selects it (the check in the target then reports it as an orphan: the current
    // code has no file for it either). Its applied time must not become the cutoff for apps outside the
    // source: that would roll back their rows from the v2.28.0 deploy too.
    const {rows, byDatetime, newRows} = await history('v2.27.0', 'v2.28.0', 'v2.29.0')
    const s = await fromSource('v2.28.0', rows)
    expect(byDatetime).toEqual(newRows)
    expect(keys(s.after)).toEqual([...newRows, 'features.0043_add_uuid_fields'].sort())
    const earliestNew = rows
      .filter(r => newRows.includes(`${r.app}.${r.name}`))
      .map(r => r.applied)
      .sort()[0]
    expect(s.cutoffUtc).toBe(earliestNew)
  })
})
