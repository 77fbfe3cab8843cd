/**
 * End to end: `target-version` resolved through GitHub deployments (a local
 * server speaking the REST API, reached through GITHUB_API_URL), on Flagsmith's
 * real graph, through the built action.
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
  flagsmithSourceTree,
  flagsmithTables
} from '../support/flagsmith.js'
import {startGitHubApiServer, type GitHubApiServer} from '../support/github-api-server.js'
import {pythonBin} from '../support/python.js'

const sorted = (s: Set<string>): string[] => [...s].sort()
const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

let api: GitHubApiServer | undefined
afterEach(async () => {
  await api?.close()
  api = undefined
})

function rollbackToVersion(version: string, current: string, db: string, server: GitHubApiServer, extra: Record<string, string> = {}) {
  return runAction(
    {
      'target-version': version,
      environment: 'production',
      'github-token': server.token,
      'database-url': db,
      executor: 'local',
      'manage-command': `${pythonBin()} ${flagsmithProject(current)}/manage.py`,
      ...extra
    },
    {env: {DATABASE_URL: db, GITHUB_API_URL: server.apiUrl, GITHUB_REPOSITORY: server.repository}}
  )
}

describe('target-version through GitHub deployments', () => {
  it('v2.20.0 -> v2.19.2: the cutoff is the creation of the next deployment, and the summary shows which', async () => {
    const db = await databaseAtRelease('v2.19.2')
    await sleep(1100) // GitHub's created_at has whole seconds: keep release A's rows strictly before it
    const deployedAt = `${(await serverNow(db)).slice(0, 19)}Z`
    await deployFlagsmith(db, 'v2.20.0')
    api = await startGitHubApiServer({
      environments: {
        production: [
          {ref: 'v2.19.1', createdAt: '2022-03-01T09:00:00Z'},
          {ref: 'v2.19.2', createdAt: '2022-03-20T09:00:00Z'},
          {ref: 'v2.20.0', createdAt: deployedAt, creator: 'release-bot'}
        ],
        staging: [{ref: 'v2.21.0', createdAt: '2022-04-01T09:00:00Z'}]
      }
    })
    const run = await rollbackToVersion('v2.19.2', 'v2.20.0', db, api)
    expect(run.stdout).not.toContain('::error::')
    expect(run.outputs.status).toBe('rolled-back')
    expect(run.outputs.cutoff).toBe(deployedAt.replace('Z', '.000000+00:00'))
    expect(sorted(await appliedMigrations(db))).toEqual(sorted(expectedApplied('v2.19.2')))
    expect(sorted(await flagsmithTables(db))).toEqual(sorted(expectedTables('v2.19.2')))
    expect(run.summary.split('\n')[0]).toMatch(/back to release v2\.19\.2 \(its state before/)
    expect(run.summary).toMatch(/the creation of deployment #\d+ of <code>v2.20.0<\/code> \(created .* by release-bot\)/)
    expect(run.everything.replace(/::add-mask::.*\n/g, '')).not.toContain(api.token)
    expect(json(run.outputs['rolled-back'])).toContain('features.0036_remove_existing_constraints')
  })

  it('nothing deployed after the version: nothing to roll back, database untouched', async () => {
    const db = await databaseAtRelease('v2.19.2')
    api = await startGitHubApiServer({environments: {production: [{ref: 'v2.19.2', createdAt: '2022-03-20T09:00:00Z'}]}})
    const run = await rollbackToVersion('v2.19.2', 'v2.19.2', db, api)
    expect(run.exitCode).toBe(0)
    expect(run.outputs.status).toBe('nothing-to-roll-back')
    expect(run.summary.split('\n')[0]).toBe('## ✅ Nothing to roll back: v2.19.2 is still the latest deployment to production')
    expect(sorted(await appliedMigrations(db))).toEqual(sorted(expectedApplied('v2.19.2')))
  })

  it('a version never deployed there fails before any change, listing what was deployed', async () => {
    const db = await databaseAtRelease('v2.19.2')
    api = await startGitHubApiServer({environments: {production: [{ref: 'v2.19.2', createdAt: '2022-03-20T09:00:00Z'}]}})
    const run = await rollbackToVersion('v2.18.0', 'v2.19.2', db, api)
    expect(run.exitCode).toBe(1)
    expect(run.stdout).toMatch(/::error::.*v2\.18\.0 was never deployed to environment "production"/)
    expect(run.stdout).toContain('the releases deployed there most recently are v2.19.2.')
    expect(run.summary.split('\n')[0]).toBe('## ⛔ Rollback stopped before any change: the database is as it was')
  })
})

describe('target-version from the release source (target-source)', () => {
  function rollbackToSource(version: string, current: string, db: string) {
    return runAction(
      {
        'target-version': version,
        'target-source': flagsmithSourceTree(version),
        'database-url': db,
        executor: 'local',
        'manage-command': `${pythonBin()} ${flagsmithProject(current)}/manage.py`
      },
      {env: {DATABASE_URL: db}}
    )
  }

  it('v2.265.0 -> v2.150.0: every applied migration the v2.150.0 tree lacks, and new apps by the cutoff rule', async () => {
    const db = await databaseAtRelease('v2.150.0')
    await deployFlagsmith(db, 'v2.265.0')
    const run = await rollbackToSource('v2.150.0', 'v2.265.0', db)
    expect(run.stdout).not.toContain('::error::')
    expect(run.outputs.status).toBe('rolled-back')
    expect(sorted(await appliedMigrations(db))).toEqual(sorted(expectedApplied('v2.150.0')))
    expect(sorted(await flagsmithTables(db))).toEqual(sorted(expectedTables('v2.150.0')))
    expect(run.summary).toMatch(/Every applied migration that the source of <code>v2.150.0<\/code>/)
    expect(run.summary).toMatch(/Apps the source does not contain \(.*<code>oauth2_provider<\/code>/)
  })

  it('v2.150.0 -> v2.128.0 across the release where task_processor left the repository', async () => {
    const db = await databaseAtRelease('v2.128.0')
    await deployFlagsmith(db, 'v2.129.0')
    await deployFlagsmith(db, 'v2.150.0')
    const run = await rollbackToSource('v2.128.0', 'v2.150.0', db)
    expect(run.outputs.status).toBe('rolled-back')
    expect(sorted(await appliedMigrations(db))).toEqual(sorted(expectedApplied('v2.128.0')))
    expect(sorted(await flagsmithTables(db))).toEqual(sorted(expectedTables('v2.128.0')))
  })
})
