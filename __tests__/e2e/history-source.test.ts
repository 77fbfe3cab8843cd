/**
 * history-source: container, end to end: the built action (`node dist/index.js`)
 * with `database-url` empty and no PG* variables in its environment, so nothing
 * on the runner's side can reach PostgreSQL. Only the "container" knows
 * DATABASE_URL: the docker stand-in behind a real sshd (support/sshd.ts), or the
 * pod of the test Kubernetes API server (support/kube-api-server.ts) that the
 * real kubectl talks to. The history is read through Django there, before and
 * after the rollback.
 */
import {afterAll, beforeAll, describe, expect, it} from '@jest/globals'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {json, runAction, type ActionRun} from '../support/action.js'
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
import {startKubeApiServer, type KubeApiServer} from '../support/kube-api-server.js'
import {freePort} from '../support/postgres.js'
import {pythonBin} from '../support/python.js'
import {startSshd, type Sshd} from '../support/sshd.js'

const CURRENT = 'v2.265.0'
const EARLIER = 'v2.150.0'
const NAMESPACE = 'flagsmith'
const POD = 'flagsmith-api-7d9f8-xk2lp'
const HISTORY_ROW = '<tr><th align="left">History</th><td>read through Django in the target (history-source: container)</td></tr>'
const STOPPED = '## ⛔ Rollback stopped before any change: the database is as it was'
const sorted = (s: Iterable<string>): string[] => [...s].sort()

let sshd: Sshd
let api: KubeApiServer
const home = fs.mkdtempSync(path.join(os.tmpdir(), 'rollback-history-source-home-'))
const savedEnv = {HOME: process.env.HOME, KUBECONFIG: process.env.KUBECONFIG}

beforeAll(async () => {
  flagsmithProject(CURRENT)
  // No ambient kubeconfig: only the kubeconfig input.
  process.env.HOME = home
  delete process.env.KUBECONFIG
  sshd = await startSshd({containers: ['flagsmith'], containerWorkdir: flagsmithProject(CURRENT)})
  api = await startKubeApiServer({
    pods: [
      {name: POD, namespace: NAMESPACE, labels: {app: 'flagsmith-api'}, containers: ['flagsmith-api'], cwd: flagsmithProject(CURRENT)}
    ],
    workloads: [{kind: 'deployment', name: 'flagsmith-api', namespace: NAMESPACE, matchLabels: {app: 'flagsmith-api'}}]
  })
}, 300000)

afterAll(async () => {
  await sshd?.stop()
  await api?.stop()
  fs.rmSync(home, {recursive: true, force: true})
  process.env.HOME = savedEnv.HOME
  if (savedEnv.KUBECONFIG !== undefined) process.env.KUBECONFIG = savedEnv.KUBECONFIG
})

async function deploy(a: string, b: string): Promise<{db: string; cutoff: string}> {
  const db = await databaseAtRelease(a, 'hsrc')
  const cutoff = await serverNow(db)
  await deployFlagsmith(db, b)
  return {db, cutoff}
}

type Via = 'ssh' | 'kubectl'

/**
 * The action with history-source container and database-url empty; containerDb is the DATABASE_URL only the
 * container (sshd's docker stand-in, or the pod) sees. runAction passes the action PATH, HOME and the runner's
 * files only: no PG* variable.
 */
function rollbackVia(via: Via, containerDb: string, cutoff: string): Promise<ActionRun> {
  const common = {
    'target-datetime': cutoff,
    'database-url': '',
    'history-source': 'container',
    'manage-command': `${pythonBin()} manage.py`
  }
  if (via === 'ssh') {
    sshd.setEnv({DATABASE_URL: containerDb})
    return runAction({
      ...common,
      executor: 'ssh',
      'ssh-host': sshd.host,
      'ssh-port': String(sshd.port),
      'ssh-user': sshd.user,
      'ssh-private-key': sshd.privateKey,
      'ssh-known-hosts': sshd.knownHosts,
      container: 'flagsmith'
    })
  }
  for (const pod of api.pods) pod.env = {DATABASE_URL: containerDb}
  return runAction({
    ...common,
    executor: 'kubectl',
    'kubectl-resource': 'deployment/flagsmith-api',
    'kubectl-namespace': NAMESPACE,
    'kubectl-container': 'flagsmith-api',
    kubeconfig: api.kubeconfig
  })
}

function errorLine(run: ActionRun): string {
  return run.stdout.split('\n').find(line => line.startsWith('::error::')) ?? ''
}

async function expectReleaseState(db: string, tag: string): Promise<void> {
  expect(sorted(await appliedMigrations(db))).toEqual(sorted(expectedApplied(tag)))
  expect(sorted(await flagsmithTables(db))).toEqual(sorted(expectedTables(tag)))
}

describe.each<Via>(['ssh', 'kubectl'])('history-source container over %s, database-url empty', via => {
  it(`${CURRENT} -> ${EARLIER}: rolled back, equal to ${EARLIER}'s state, the summary says the history came through the target`, async () => {
    const {db, cutoff} = await deploy(EARLIER, CURRENT)
    expect(sorted(await appliedMigrations(db))).toEqual(sorted(expectedApplied(CURRENT)))
    const execsBefore = api.execs.length
    const connectionsBefore = sshd.connections()

    const started = Date.now()
    const run = await rollbackVia(via, db, cutoff)
    const seconds = (Date.now() - started) / 1000
    expect(errorLine(run)).toBe('')
    expect(run.exitCode).toBe(0)
    expect(run.outputs.status).toBe('rolled-back')
    const rolledBack = json(run.outputs['rolled-back'])
    expect(rolledBack.length).toBeGreaterThan(90)
    // rolled-back is read back through the container: exactly what CURRENT applied on top of EARLIER.
    const added = sorted(expectedApplied(CURRENT)).filter(m => !new Set(expectedApplied(EARLIER)).has(m))
    expect(rolledBack.filter(m => !added.includes(m))).toEqual([])
    await expectReleaseState(db, EARLIER)

    expect(run.summary.split('\n')[0]).toMatch(/^## ✅ Rolled back \d+ migrations in \d+ apps/)
    expect(run.summary).toContain(HISTORY_ROW)
    // No lock: history-source container has no database connection to hold one on, and the summary says so.
    expect(run.summary).toContain('lock not taken: history-source is container')
    // Nothing tried to reach PostgreSQL from the runner (no retry lines, no connection attempts named).
    expect(run.stdout).not.toMatch(/PostgreSQL at .*(retrying|giving up)/)
    if (via === 'ssh') {
      expect(run.summary).toContain(`ssh ${sshd.user}@127.0.0.1:${sshd.port} docker exec -i flagsmith`)
      expect(sshd.connections() - connectionsBefore).toBe(1)
    } else {
      const execs = api.execs.slice(execsBefore)
      // history before, check-and-run, history after: all in the one pod
      expect(execs.length).toBeGreaterThanOrEqual(3)
      expect(execs.every(e => e.pod === POD && e.container === 'flagsmith-api')).toBe(true)
    }
    expect(run.leftInRunnerTemp).toEqual([])
    console.log(`history-source container over ${via}: ${CURRENT} -> ${EARLIER}, ${rolledBack.length} migrations, ${seconds.toFixed(1)} s`)
  }, 300000)

  it("the container's database is down: fails before any change, with Django's own message", async () => {
    const {db, cutoff} = await deploy('v2.26.5', 'v2.27.0')
    const before = sorted(await appliedMigrations(db))
    const closed = await freePort()
    const down = `postgres://postgres@127.0.0.1:${closed}/flagsmith`

    const run = await rollbackVia(via, down, cutoff)
    expect(run.exitCode).not.toBe(0)
    expect(run.outputs.status).toBe('failed')
    const line = errorLine(run)
    // Django's OperationalError (psycopg2's "connection refused"), through the history read in the target
    expect(line).toMatch(/reading django_migrations through Django \(database alias 'default'\) in .* failed: OperationalError: /)
    expect(line).toMatch(/refused|could not connect|Connection refused/i)
    expect(line).toContain(String(closed))
    expect(run.summary.split('\n')[0]).toBe(STOPPED)
    expect(run.summary).toContain('OperationalError')
    expect(run.summary).toContain(HISTORY_ROW)
    expect(run.outputs['rolled-back'] ?? '[]').toBe('[]')
    // Nothing ran but the history read: the real database is untouched.
    expect(sorted(await appliedMigrations(db))).toEqual(before)
    expect(run.leftInRunnerTemp).toEqual([])
    console.log(`history-source container over ${via}, database down: ${line.slice(0, 400)}`)
  }, 300000)
})
