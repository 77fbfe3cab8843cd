/**
 * End to end with kubectl: the built action (`node dist/index.js`) with
 * executor kubectl, the real kubectl binary against the test API server
 * (support/kube-api-server.ts), whose exec runs manage.py of a
 * Flagsmith-shaped project generated from Flagsmith's real migration graph,
 * with the pod's DATABASE_URL and working directory.
 */
import {afterAll, afterEach, beforeAll, describe, expect, it} from '@jest/globals'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {json, parseOutputFile, runAction, type ActionRun} from '../support/action.js'
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
import {startKubeApiServer, type KubeApiServer, type TestPod} from '../support/kube-api-server.js'
import {query, testServer} from '../support/postgres.js'
import {pythonBin} from '../support/python.js'

const CURRENT = 'v2.265.0'
const EARLIER = 'v2.150.0'
const NAMESPACE = 'flagsmith'
/** The pod the action must choose: running, ready and the newest of deployment/flagsmith-api. */
const CHOSEN = 'flagsmith-api-7d9f8-xk2lp'
const sorted = (s: Iterable<string>): string[] => [...s].sort()

let api: KubeApiServer
const home = fs.mkdtempSync(path.join(os.tmpdir(), 'rollback-kube-e2e-home-'))
const savedEnv = {HOME: process.env.HOME, KUBECONFIG: process.env.KUBECONFIG}

const apiPod = (name: string, extra: Partial<TestPod> = {}): TestPod => ({
  name,
  namespace: NAMESPACE,
  labels: {app: 'flagsmith-api'},
  containers: ['cloud-sql-proxy', 'flagsmith-api'],
  cwd: flagsmithProject(CURRENT),
  ...extra
})

beforeAll(async () => {
  // No ambient kubeconfig from the machine: only the kubeconfig input.
  process.env.HOME = home
  delete process.env.KUBECONFIG
  api = await startKubeApiServer({
    pods: [
      apiPod('flagsmith-api-5c4b7-old01', {creationTimestamp: '2025-01-01T00:00:00Z'}),
      apiPod(CHOSEN, {creationTimestamp: '2025-01-02T00:00:00Z'}),
      apiPod('flagsmith-api-7d9f8-pend1', {creationTimestamp: '2025-01-03T00:00:00Z', phase: 'Pending'}),
      {
        name: 'flagsmith-task-processor-66d-aaaaa',
        namespace: NAMESPACE,
        labels: {app: 'flagsmith-task-processor'},
        containers: ['task-processor'],
        phase: 'Pending'
      }
    ],
    workloads: [
      {kind: 'deployment', name: 'flagsmith-api', namespace: NAMESPACE, matchLabels: {app: 'flagsmith-api'}},
      {kind: 'deployment', name: 'flagsmith-task-processor', namespace: NAMESPACE, matchLabels: {app: 'flagsmith-task-processor'}}
    ]
  })
}, 300000)

afterEach(() => {
  api.deny.length = 0
})

afterAll(async () => {
  await api?.stop()
  fs.rmSync(home, {recursive: true, force: true})
  process.env.HOME = savedEnv.HOME
  if (savedEnv.KUBECONFIG !== undefined) process.env.KUBECONFIG = savedEnv.KUBECONFIG
})

async function deploy(a: string, b: string): Promise<{db: string; cutoff: string}> {
  const db = await databaseAtRelease(a)
  const cutoff = await serverNow(db)
  await deployFlagsmith(db, b)
  return {db, cutoff}
}

/** Runs the action with the pods' DATABASE_URL set to podDb, as the Deployment's env would. */
function rollback(db: string, cutoff: string, inputs: Record<string, string> = {}, podDb = db): Promise<ActionRun> {
  for (const pod of api.pods) pod.env = {DATABASE_URL: podDb}
  return runAction({
    'target-datetime': cutoff,
    'database-url': db,
    executor: 'kubectl',
    'kubectl-resource': 'deployment/flagsmith-api',
    'kubectl-namespace': NAMESPACE,
    'kubectl-container': 'flagsmith-api',
    kubeconfig: api.kubeconfig,
    'manage-command': `${pythonBin()} manage.py`,
    ...inputs
  })
}

async function expectReleaseState(db: string, tag: string): Promise<void> {
  expect(sorted(await appliedMigrations(db))).toEqual(sorted(expectedApplied(tag)))
  expect(sorted(await flagsmithTables(db))).toEqual(sorted(expectedTables(tag)))
}

function djangoProcesses(summary: string): {processes: number; seconds: number} | undefined {
  const m = /Django processes<\/th><td>(\d+), ([\d.]+) s in all/.exec(summary)
  return m ? {processes: Number(m[1]), seconds: Number(m[2])} : undefined
}

function errorLine(run: ActionRun): string {
  return run.stdout.split('\n').find(line => line.startsWith('::error::')) ?? ''
}

const WHERE = `kubectl exec -n ${NAMESPACE} ${CHOSEN} -c flagsmith-api (pod of deployment/flagsmith-api)`

describe('executor kubectl, end to end on the Flagsmith graph', () => {
  it(`${CURRENT} -> ${EARLIER}: the database equals ${EARLIER}'s; every command went to one pod, named in the summary`, async () => {
    const {db, cutoff} = await deploy(EARLIER, CURRENT)
    const execsBefore = api.execs.length

    const run = await rollback(db, cutoff)
    expect(errorLine(run)).toBe('')
    expect(run.exitCode).toBe(0)
    expect(run.outputs.status).toBe('rolled-back')
    expect(json(run.outputs['rolled-back']).length).toBeGreaterThan(90)
    await expectReleaseState(db, EARLIER)

    const execs = api.execs.slice(execsBefore)
    expect(execs.length).toBeGreaterThan(0)
    expect(execs.every(e => e.namespace === NAMESPACE && e.pod === CHOSEN && e.container === 'flagsmith-api')).toBe(true)
    expect(execs[0].command.slice(0, 3)).toEqual([pythonBin(), 'manage.py', 'shell'])
    // kubectl exec puts argv in the request URL: it must fit the 8 KiB request line that proxies such as
    // nginx accept by default (the test server, like Node, refuses over 16 KiB; the API server over 1 MiB).
    const execRequests = api.requests.filter(r => r.startsWith('UPGRADE ') && r.includes(`/pods/${CHOSEN}/exec?`))
    expect(execRequests.length).toBe(execs.length)
    for (const r of execRequests) expect(Buffer.byteLength(r)).toBeLessThan(8 * 1024)
    expect(run.summary).toContain(`<th align="left">Ran in</th><td>${WHERE}</td>`)
    const timing = djangoProcesses(run.summary)
    expect(timing?.processes).toBe(1)
    console.log(
      `kubectl ${CURRENT} -> ${EARLIER}: ${json(run.outputs['rolled-back']).length} migrations, Django processes ${timing?.processes}, ` +
        `${timing?.seconds} s, ${execs.length} exec(s) to ${CHOSEN}`
    )
    expect(run.leftInRunnerTemp).toEqual([])
  }, 300000)
})

describe('executor kubectl, errors end to end: the message in ::error:: and the summary, the database unchanged', () => {
  let db: string
  let cutoff: string
  let before: string[]
  const manage = (): string => `${pythonBin()} ${flagsmithProject('v2.27.0')}/manage.py`

  beforeAll(async () => {
    ;({db, cutoff} = await deploy('v2.26.5', 'v2.27.0'))
    before = sorted(await appliedMigrations(db))
  }, 300000)

  async function expectFailure(inputs: Record<string, string>, ...messages: string[]): Promise<ActionRun> {
    const execsBefore = api.execs.length
    const run = await rollback(db, cutoff, {'manage-command': manage(), ...inputs})
    expect(run.exitCode).not.toBe(0)
    expect(run.outputs.status).toBe('failed')
    const line = errorLine(run)
    // The summary shows the message HTML-escaped: compare the text between quotes.
    for (const message of messages) {
      expect(line).toContain(message)
      expect(run.summary).toContain(message.replace(/"/g, '&#34;'))
    }
    expect(run.summary.split('\n')[0]).toBe('## ⛔ Rollback stopped before any change: the database is as it was')
    expect(api.execs.length).toBe(execsBefore)
    expect(sorted(await appliedMigrations(db))).toEqual(before)
    expect(run.leftInRunnerTemp).toEqual([])
    expect(
      run.everything
        .split('\n')
        .filter(line => !line.startsWith('::add-mask::'))
        .join('\n')
    ).not.toContain(api.token)
    return run
  }

  it('forbidden exec: names the missing permission and what the Role needs', async () => {
    api.deny.push({verb: 'create', resource: 'pods/exec'})
    await expectFailure(
      {},
      `Kubernetes RBAC refused: the credentials lack "create" on pods/exec in namespace ${NAMESPACE}`,
      '"get" on pods and "create" on pods/exec, plus "get" on deployments (API group apps) and "list" on pods'
    )
  })

  it('no running pod: says what the pods are doing', async () => {
    await expectFailure(
      {'kubectl-resource': 'deployment/flagsmith-task-processor', 'kubectl-container': ''},
      'No running pod for deployment/flagsmith-task-processor: its pods are flagsmith-task-processor-66d-aaaaa (Pending)'
    )
  })

  it("container not found: lists the pod's containers", async () => {
    await expectFailure(
      {'kubectl-container': 'flagsmith'},
      `Container flagsmith not found in pod ${CHOSEN}; its containers are: cloud-sql-proxy, flagsmith-api`
    )
  })
})

describe('executor kubectl, secrets', () => {
  it('a full rollback never shows the kubeconfig token or the database password, and leaves no kubeconfig file', async () => {
    const {db, cutoff} = await deploy('v2.26.5', 'v2.27.0')
    const password = `Db-Pa55word-${Math.random().toString(36).slice(2)}-kq`
    const role = `rollback_kube_secret_${process.pid}`
    const admin = testServer().adminUrl
    await query(admin, `DROP ROLE IF EXISTS ${role}`)
    // Superuser: Django drops tables the template's owner created. (The test server trusts 127.0.0.1, so the
    // password is not checked by the server; what matters here is that it travels in the URL.)
    await query(admin, `CREATE ROLE ${role} LOGIN SUPERUSER PASSWORD '${password}'`)
    const url = new URL(db)
    url.username = role
    url.password = password
    const secretDb = url.toString()

    const run = await rollback(secretDb, cutoff, {'manage-command': `${pythonBin()} ${flagsmithProject('v2.27.0')}/manage.py`})
    expect(errorLine(run)).toBe('')
    expect(run.outputs.status).toBe('rolled-back')
    await expectReleaseState(db, 'v2.26.5')

    const visible = [
      run.stdout
        .split('\n')
        .filter(line => !line.startsWith('::add-mask::'))
        .join('\n'),
      run.stderr
        .split('\n')
        .filter(line => !line.startsWith('::add-mask::'))
        .join('\n'),
      run.summary,
      JSON.stringify(run.outputs)
    ]
    for (const secret of [api.token, password, secretDb]) for (const text of visible) expect(text.includes(secret)).toBe(false)
    expect(run.stdout).toContain(`::add-mask::${api.token}`)
    expect(run.stdout).toContain(`::add-mask::${password}`)
    // The kubeconfig (and kubectl's cache) went to a private dir under RUNNER_TEMP, removed by the main step itself.
    expect(run.state).toMatch(/"\/[^"]*action-run-[^"/]+\/django-rollback-[^"]+"/)
    expect(run.leftInRunnerTemp).toEqual([])
    expect(parseOutputFile(run.state)['secret-dirs']).toBe('[]')
    // Nothing written to the ambient places either.
    expect(fs.existsSync(path.join(home, '.kube'))).toBe(false)
    await query(admin, `DROP ROLE IF EXISTS ${role}`).catch(() => undefined)
  }, 300000)
})
