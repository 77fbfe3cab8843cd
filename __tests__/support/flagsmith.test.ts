/**
 * The Flagsmith-shaped projects (flagsmith_project.py + flagsmith.ts) against a
 * real PostgreSQL and real Django: each expectation is derived from the fixture
 * or pinned to a fact of Flagsmith's history, never from the deploy it checks.
 */
import fs from 'node:fs'
import path from 'node:path'
import {createDatabase, query} from './postgres.js'
import {
  appliedMigrations,
  databaseAtRelease,
  deployFlagsmith,
  expectedApplied,
  expectedTables,
  flagsmithGraph,
  flagsmithManifest,
  flagsmithProject,
  flagsmithTables,
  runManage
} from './flagsmith.js'

const CONTRIB = new Set(['auth', 'contenttypes'])

function difference(a: Set<string>, b: Set<string>): string[] {
  return [...a].filter(x => !b.has(x)).sort()
}

/** Migration files of an app in a generated project (names without .py). */
function migrationFiles(tag: string, app: string): string[] {
  const m = flagsmithManifest(tag)
  const root = m.packagedApps.includes(app) || m.stubApps.includes(app) ? 'site-packages' : 'apps'
  const dir = path.join(flagsmithProject(tag), root, app, 'migrations')
  if (!fs.existsSync(dir)) return []
  return fs
    .readdirSync(dir)
    .filter(f => f.endsWith('.py') && f !== '__init__.py')
    .map(f => f.slice(0, -3))
    .sort()
}

/** "app.name" rows recorded by the last deploy: applied after every row that was there before it. */
async function deployAndDiff(dbUrl: string, tag: string): Promise<{before: Set<string>; after: Set<string>; added: string[]}> {
  const before = await appliedMigrations(dbUrl)
  const [{t}] = await query<{t: string}>(dbUrl, 'SELECT max(applied)::text AS t FROM django_migrations')
  await deployFlagsmith(dbUrl, tag)
  const after = await appliedMigrations(dbUrl)
  const added = await query<{m: string}>(
    dbUrl,
    "SELECT app || '.' || name AS m FROM django_migrations WHERE applied > $1::timestamptz ORDER BY m",
    [t]
  )
  expect(added.map(r => r.m)).toEqual(difference(after, before))
  return {before, after, added: added.map(r => r.m)}
}

describe('generated Flagsmith project', () => {
  test('is deterministic and fast to generate', () => {
    const dir = flagsmithProject('v2.265.0')
    expect(flagsmithProject('v2.265.0')).toBe(dir)
    const m = flagsmithManifest('v2.265.0')
    expect(m.graphApps.length).toBe(50)
    expect(m.packagedApps).toEqual(['task_processor'])
    expect(m.stubApps).toEqual(['oauth2_provider'])
    expect(m.vendorCommand).toBe(true)
    expect(flagsmithManifest('v2.150.0').vendorCommand).toBe(false)
    expect(fs.existsSync(path.join(dir, 'apps', 'core', 'management', 'commands', 'rollbackmigrationsappliedafter.py'))).toBe(true)
    expect(fs.existsSync(path.join(flagsmithProject('v2.150.0'), 'apps', 'core', 'management'))).toBe(false)
    expect(() => flagsmithProject('v9.9.9')).toThrow(/unknown Flagsmith release tag/)
  })

  test('every migration present at the tag is generated, with its real dependencies', () => {
    const tag = 'v2.265.0'
    const graph = flagsmithGraph()
    const at = graph.tags.indexOf(tag)
    const live = graph.nodes.filter(n => n.present.some(([a, b]) => graph.tags.indexOf(a) <= at && at <= graph.tags.indexOf(b)))
    for (const app of new Set(live.map(n => n.app))) {
      expect(migrationFiles(tag, app)).toEqual(
        live
          .filter(n => n.app === app)
          .map(n => n.name)
          .sort()
      )
    }
    const src = fs.readFileSync(
      path.join(flagsmithProject(tag), 'apps', 'features', 'migrations', '0037_add_feature_state_versioning_fields.py'),
      'utf8'
    )
    expect(src).toContain("dependencies = [('features', '0036_remove_existing_constraints')]")
    expect(src).toMatch(/reverse_sql=\['DROP TABLE "fsm_features_0037_[0-9a-f]{8}"'\]/)
  })

  test('v2.265.0: showmigrations --plan loads the whole graph', async () => {
    const db = await createDatabase('fs_show')
    const result = await runManage('v2.265.0', db, ['showmigrations', '--plan'])
    expect(result.stderr).toBe('')
    expect(result.exitCode).toBe(0)
    const listed = result.stdout
      .split('\n')
      .filter(l => l.startsWith('[ ]'))
      .map(l => l.slice(3).trim())
    expect(new Set(listed).size).toBe(listed.length)
    const graphListed = new Set(listed.filter(m => !CONTRIB.has(m.split('.')[0])))
    // The squash stands in for the two migrations it replaces, which have no files.
    expect(difference(graphListed, expectedTables('v2.265.0'))).toEqual([])
    expect(difference(expectedTables('v2.265.0'), graphListed)).toEqual([])
    expect(graphListed.size).toBeGreaterThan(500)
  })

  test('a fresh deploy (template copy) leaves exactly the derived rows and tables; copies are independent', async () => {
    const a = await databaseAtRelease('v2.265.0')
    const b = await databaseAtRelease('v2.265.0')
    expect(a).not.toBe(b)
    expect(difference(await appliedMigrations(a), expectedApplied('v2.265.0'))).toEqual([])
    expect(difference(expectedApplied('v2.265.0'), await appliedMigrations(a))).toEqual([])
    expect([...(await flagsmithTables(a))].sort()).toEqual([...expectedTables('v2.265.0')].sort())
    await query(a, "DELETE FROM django_migrations WHERE app = 'webhook'")
    expect((await appliedMigrations(b)).has('webhook.0001_initial')).toBe(true)
    // Nothing left to do.
    const noop = await deployFlagsmith(b, 'v2.265.0')
    expect(noop.stdout).toContain('No migrations to apply.')
  })

  test('vendor command exists from v2.151.0 only', async () => {
    const db = await createDatabase('fs_vendor')
    expect((await runManage('v2.151.0', db, ['help', 'rollbackmigrationsappliedafter'])).exitCode).toBe(0)
    const before = await runManage('v2.150.0', db, ['help', 'rollbackmigrationsappliedafter'])
    expect(before.exitCode).not.toBe(0)
    expect(before.stderr).toContain('Unknown command')
  })
})

describe("Flagsmith's hard cases, deployed", () => {
  test('v2.26.5 -> v2.27.0: segments 0008 -> 0010 gap, no 0009 anywhere', async () => {
    const db = await databaseAtRelease('v2.26.5')
    expect(migrationFiles('v2.26.5', 'segments').at(-1)).toBe('0008_auto_20210223_1603')
    const {added} = await deployAndDiff(db, 'v2.27.0')
    expect(added).toContain('segments.0010_add_uuid_fields')
    expect(added).toEqual(difference(expectedApplied('v2.27.0'), expectedApplied('v2.26.5')))
    expect(added.length).toBe(20)
    expect(new Set(added.map(m => m.split('.')[0])).size).toBe(19)
    const nines = await query(db, "SELECT name FROM django_migrations WHERE app = 'segments' AND name LIKE '0009%'")
    expect(nines).toEqual([])
    for (const tag of ['v2.26.5', 'v2.27.0', 'v2.265.0']) {
      expect(migrationFiles(tag, 'segments').filter(n => n.startsWith('0009'))).toEqual([])
    }
    // features.0043_add_uuid_fields, applied by v2.27.0, was deleted at v2.27.2
    // (replaced by 0043_add_uuid_field_to_feature): its row outlives its file.
    expect(added).toContain('features.0043_add_uuid_fields')
    await deployFlagsmith(db, 'v2.27.2')
    const rows = await appliedMigrations(db)
    expect(rows.has('features.0043_add_uuid_fields')).toBe(true)
    expect(rows.has('features.0043_add_uuid_field_to_feature')).toBe(true)
    expect(migrationFiles('v2.27.2', 'features')).not.toContain('0043_add_uuid_fields')
    expect(await flagsmithTables(db)).toContain('features.0043_add_uuid_fields')
  })

  test('v2.19.2 -> v2.20.0: branch point, features 0036_* siblings with one parent', async () => {
    const graph = flagsmithGraph()
    const node = (name: string) => graph.nodes.find(n => n.app === 'features' && n.name === name)!
    const older = node('0036_alter_feature_options')
    const newer = node('0036_remove_existing_constraints')
    expect(older.dependencies).toEqual([['features', '0035_auto_20211109_0603']])
    expect(newer.dependencies).toEqual([['features', '0035_auto_20211109_0603']])
    expect(older.present).toEqual([['v2.19.0', 'v2.265.0']])
    expect(newer.present).toEqual([['v2.20.0', 'v2.265.0']])
    // 0037 builds on the newer sibling only; v2.20.0 itself merges the older one back
    // (0039_merge_20220329_1252), then 0041_merge joins the two 0039s.
    expect(node('0037_add_feature_state_versioning_fields').dependencies).toEqual([['features', '0036_remove_existing_constraints']])
    expect(node('0039_merge_20220329_1252').dependencies).toEqual([
      ['features', '0036_alter_feature_options'],
      ['features', '0038_remove_old_versions_and_drafts']
    ])
    expect(node('0039_merge_20220329_1252').present).toEqual([['v2.20.0', 'v2.265.0']])

    const db = await databaseAtRelease('v2.19.2')
    expect(await appliedMigrations(db)).toContain('features.0036_alter_feature_options')
    const {added} = await deployAndDiff(db, 'v2.20.0')
    expect(added).toContain('features.0036_remove_existing_constraints')
    expect(added).not.toContain('features.0036_alter_feature_options')
    expect(added).toEqual([
      'environments.0018_add_minimum_change_request_approvals_to_environment',
      'features.0036_remove_existing_constraints',
      'features.0037_add_feature_state_versioning_fields',
      'features.0038_remove_old_versions_and_drafts',
      'features.0039_allow_null_version',
      'features.0039_merge_20220329_1252',
      'features.0040_add_change_request_to_feature_state',
      'features.0041_merge_20220406_0806',
      'workflows_core.0001_initial'
    ])
    // `migrate features 0035` (the documented number-minus-one target) would unapply both siblings.
    const plan = await runManage('v2.20.0', db, ['migrate', 'features', '0035_auto_20211109_0603', '--plan'])
    expect(plan.exitCode).toBe(0)
    expect(plan.stdout).toContain('features.0036_alter_feature_options')
    expect(plan.stdout).toContain('features.0036_remove_existing_constraints')
  })

  test('squash bookkeeping: replaced rows without files, the squash row recorded last in its migrate run', async () => {
    const squash = 'features.0011_historicalfeature_squashed_0012_historicalfeaturestate_historicalfeaturestatevalue'
    const replaced = ['features.0011_historicalfeature', 'features.0012_historicalfeaturestate_historicalfeaturestatevalue']
    const db = await createDatabase('fs_squash')
    await deployFlagsmith(db, 'v2.7.2')
    const rows = await appliedMigrations(db)
    for (const m of [squash, ...replaced]) expect(rows.has(m)).toBe(true)
    expect(migrationFiles('v2.7.2', 'features')).not.toContain('0011_historicalfeature')
    // Its own row comes at the end of the run (check_replacements), after rows of
    // migrations that depend on it and ran later.
    const [last] = await query<{m: string; later: string}>(
      db,
      `SELECT app || '.' || name AS m,
              (SELECT count(*) FROM django_migrations o WHERE o.applied > d.applied)::text AS later
       FROM django_migrations d ORDER BY applied DESC, id DESC LIMIT 1`
    )
    expect(last).toEqual({m: squash, later: '0'})
    const [{n}] = await query<{n: string}>(
      db,
      `SELECT count(*)::text AS n FROM django_migrations
       WHERE app = 'features' AND name > '0012' AND applied < (SELECT applied FROM django_migrations WHERE name = $1)`,
      [squash.split('.')[1]]
    )
    expect(Number(n)).toBeGreaterThan(10)
    // The squash's table exists; the replaced migrations never had any.
    const tables = await flagsmithTables(db)
    expect(tables.has(squash)).toBe(true)
    for (const m of replaced) expect(tables.has(m)).toBe(false)
    // A later deploy does not record it again.
    const [{t}] = await query<{t: string}>(db, 'SELECT applied::text AS t FROM django_migrations WHERE name = $1', [squash.split('.')[1]])
    const {added} = await deployAndDiff(db, 'v2.8.0')
    expect(added).not.toContain(squash)
    const again = await query<{t: string}>(db, 'SELECT applied::text AS t FROM django_migrations WHERE name = $1', [squash.split('.')[1]])
    expect(again).toEqual([{t}])
  })

  test('v2.128.0 -> v2.129.0: task_processor moves to a package and keeps working', async () => {
    expect(flagsmithManifest('v2.128.0').packagedApps).toEqual([])
    expect(flagsmithManifest('v2.129.0').packagedApps).toEqual(['task_processor'])
    expect(fs.existsSync(path.join(flagsmithProject('v2.128.0'), 'apps', 'task_processor'))).toBe(true)
    expect(fs.existsSync(path.join(flagsmithProject('v2.129.0'), 'apps', 'task_processor'))).toBe(false)
    expect(migrationFiles('v2.129.0', 'task_processor')).toEqual(migrationFiles('v2.128.0', 'task_processor'))
    expect(migrationFiles('v2.129.0', 'task_processor').length).toBe(11)

    const db = await databaseAtRelease('v2.128.0')
    const tablesBefore = await flagsmithTables(db)
    const {added} = await deployAndDiff(db, 'v2.129.0')
    expect(added).toEqual([])
    expect(await flagsmithTables(db)).toEqual(tablesBefore)
    const shown = await runManage('v2.129.0', db, ['showmigrations', 'task_processor'])
    expect(shown.exitCode).toBe(0)
    expect(shown.stdout).toContain('[X] 0011_add_priority_to_get_tasks_to_process')
    expect(shown.stdout).not.toContain('[ ]')
    // Unapplying and reapplying from the package works too.
    const back = await runManage('v2.129.0', db, ['migrate', 'task_processor', '0010_task_priority'])
    expect(back.exitCode).toBe(0)
    expect(await appliedMigrations(db)).not.toContain('task_processor.0011_add_priority_to_get_tasks_to_process')
    await deployFlagsmith(db, 'v2.129.0')
    expect(await flagsmithTables(db)).toEqual(tablesBefore)
  })

  test('v2.150.0 -> v2.265.0 deploys', async () => {
    const db = await databaseAtRelease('v2.150.0')
    const {after, added} = await deployAndDiff(db, 'v2.265.0')
    expect(added).toEqual(difference(expectedApplied('v2.265.0'), expectedApplied('v2.150.0')))
    expect(added.length).toBe(98)
    expect(new Set(added.map(m => m.split('.')[0])).size).toBe(38)
    expect(difference(after, expectedApplied('v2.265.0'))).toEqual([])
    expect([...(await flagsmithTables(db))].sort()).toEqual([...expectedTables('v2.265.0')].sort())
  })
})
