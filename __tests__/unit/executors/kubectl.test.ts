/** The kubectl executor: the real kubectl binary against a test API server speaking the real exec protocol. */
import {afterAll, afterEach, beforeAll, describe, expect, test} from '@jest/globals'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import type {KubectlConfig} from '../../../src/config.js'
import {RollbackError} from '../../../src/errors.js'
import type {Executor} from '../../../src/executors/executor.js'
import {createKubectlExecutor, KubectlExecutor} from '../../../src/executors/kubectl.js'
import {startKubeApiServer, type KubeApiServer} from '../../support/kube-api-server.js'

const PY = '/usr/bin/python3'
const ECHO_ARGV = 'import json, sys; print(json.dumps(sys.argv[1:]))'
const NASTY = [
  'two words',
  "it's",
  'say "hi"',
  '$(touch /tmp/rollback-pwned)',
  '`id`',
  'a; b',
  'a | b',
  'line\nbreak',
  '',
  '--',
  '-c',
  'é ✓'
]

let api: KubeApiServer
const opened: Executor[] = []
const home = fs.mkdtempSync(path.join(os.tmpdir(), 'rollback-kube-home-'))
const savedEnv = {HOME: process.env.HOME, KUBECONFIG: process.env.KUBECONFIG}

function config(overrides: Partial<KubectlConfig> = {}): KubectlConfig {
  return {kind: 'kubectl', resource: {kind: 'deployment', name: 'api'}, kubeconfig: api.kubeconfig, ...overrides}
}

async function open(overrides: Partial<KubectlConfig> = {}): Promise<KubectlExecutor> {
  const executor = (await createKubectlExecutor(config(overrides))) as KubectlExecutor
  opened.push(executor)
  return executor
}

async function failure(promise: Promise<unknown>): Promise<string> {
  try {
    await promise
  } catch (error) {
    expect(error).toBeInstanceOf(RollbackError)
    const message = (error as Error).message
    expect(message).not.toContain(api.token)
    return message
  }
  throw new Error('expected a failure')
}

beforeAll(async () => {
  // No ambient kubeconfig from the machine: only what the tests give.
  process.env.HOME = home
  delete process.env.KUBECONFIG
  api = await startKubeApiServer({
    pods: [
      {name: 'api-old-1', labels: {app: 'api'}, containers: ['cloud-sql-proxy', 'api'], env: {ROLLBACK_TEST_VALUE: 'old pod'}},
      {
        name: 'api-new-2',
        labels: {app: 'api'},
        containers: ['cloud-sql-proxy', 'api'],
        defaultContainer: 'api',
        env: {ROLLBACK_TEST_VALUE: 'new pod'}
      },
      {name: 'api-starting-3', labels: {app: 'api'}, containers: ['cloud-sql-proxy', 'api'], phase: 'Pending'},
      {name: 'worker-1', labels: {app: 'worker'}, containers: ['worker'], phase: 'Pending'},
      {name: 'db-0', labels: {app: 'db'}, containers: ['db'], env: {ROLLBACK_TEST_VALUE: 'statefulset pod'}},
      {name: 'done-1', containers: ['job'], phase: 'Succeeded'}
    ],
    workloads: [
      {kind: 'deployment', name: 'api', matchLabels: {app: 'api'}},
      {kind: 'deployment', name: 'worker', matchLabels: {app: 'worker'}},
      {kind: 'deployment', name: 'idle', matchLabels: {app: 'idle'}},
      {kind: 'statefulset', name: 'db', matchLabels: {app: 'db'}}
    ]
  })
})

afterEach(() => {
  api.deny.length = 0
})

afterAll(async () => {
  for (const executor of opened) await executor.close()
  await api?.stop()
  fs.rmSync(home, {recursive: true, force: true})
  process.env.HOME = savedEnv.HOME
  if (savedEnv.KUBECONFIG !== undefined) process.env.KUBECONFIG = savedEnv.KUBECONFIG
})

describe('resolving the resource to one running pod', () => {
  test('deployment/NAME: a ready running pod, the newest; every command goes to it', async () => {
    const executor = await open({container: 'api'})
    expect(executor.pod).toBe('api-new-2')
    expect(executor.where).toBe('kubectl exec -n default api-new-2 -c api (pod of deployment/api)')
    const before = api.execs.length
    for (let i = 0; i < 3; i++) {
      const result = await executor.exec([PY, '-c', 'import os; print(os.environ["ROLLBACK_TEST_VALUE"])'])
      expect(result).toEqual({exitCode: 0, stdout: 'new pod\n', stderr: ''})
    }
    expect(api.execs.slice(before).map(e => `${e.pod}/${e.container}`)).toEqual(['api-new-2/api', 'api-new-2/api', 'api-new-2/api'])
  })

  test('without a container: the annotated default container, passed explicitly (no "Defaulted container" noise)', async () => {
    const executor = await open()
    expect(executor.container).toBe('api')
    const result = await executor.exec(['true'])
    expect(result).toEqual({exitCode: 0, stdout: '', stderr: ''})
  })

  test('statefulset/NAME and pod/NAME', async () => {
    const sts = await open({resource: {kind: 'statefulset', name: 'db'}, namespace: 'default'})
    expect(sts.pod).toBe('db-0')
    expect((await sts.exec([PY, '-c', 'import os; print(os.environ["ROLLBACK_TEST_VALUE"])'])).stdout).toBe('statefulset pod\n')
    const pod = await open({resource: {kind: 'pod', name: 'api-old-1'}, container: 'api'})
    expect(pod.where).toBe('kubectl exec -n default api-old-1 -c api')
    expect((await pod.exec([PY, '-c', 'import os; print(os.environ["ROLLBACK_TEST_VALUE"])'])).stdout).toBe('old pod\n')
  })
})

test('argv arrives exactly, stdin is delivered, the exit code and stderr come back', async () => {
  const executor = await open({container: 'api'})
  const echoed = await executor.exec([PY, '-c', ECHO_ARGV, ...NASTY])
  expect(echoed.stderr).toBe('')
  expect(JSON.parse(echoed.stdout)).toEqual(NASTY)
  expect(fs.existsSync('/tmp/rollback-pwned')).toBe(false)

  const input = 'first line\nsecond "line" $(x)\n' + 'x'.repeat(100000) + '\n'
  const result = await executor.exec(
    [PY, '-c', 'import sys; data = sys.stdin.read(); print(len(data), data[:10]); sys.stderr.write("bad\\n"); sys.exit(3)'],
    {input}
  )
  expect(result).toEqual({exitCode: 3, stdout: `${input.length} first line\n`, stderr: 'bad\n'})
})

test('cost of one kubectl exec round trip', async () => {
  const executor = await open({container: 'api'})
  const times: number[] = []
  for (let i = 0; i < 5; i++) {
    const start = process.hrtime.bigint()
    await executor.exec(['true'])
    times.push(Number(process.hrtime.bigint() - start) / 1e6)
  }
  const sorted = [...times].sort((a, b) => a - b)
  console.log(`kubectl exec round trip: ${times.map(t => t.toFixed(0)).join(', ')} ms (median ${sorted[2].toFixed(0)} ms)`)
})

test('close() removes the kubeconfig file; secrets stay out of results', async () => {
  const executor = await open({container: 'api'})
  const dir = (executor as unknown as {secrets: {path: string}}).secrets.path
  const file = path.join(dir, 'kubeconfig')
  expect(fs.statSync(dir).mode & 0o777).toBe(0o700)
  expect(fs.statSync(file).mode & 0o777).toBe(0o600)
  expect(fs.readFileSync(file, 'utf8')).toContain(api.token)
  // A command that prints the kubeconfig's token: the executor never hands it back.
  const result = await executor.exec(['sh', '-c', `echo ${api.token}; echo ${api.token} >&2`])
  expect(result.stdout).toBe('***\n')
  expect(result.stderr).toBe('***\n')
  await executor.close()
  expect(fs.existsSync(dir)).toBe(false)
  await executor.close()
  await expect(executor.exec(['true'])).rejects.toThrow(/closed/)
})

describe('errors carry the fix', () => {
  test('forbidden: exec (create on pods/exec)', async () => {
    const executor = await open({container: 'api'})
    api.deny.push({verb: 'create', resource: 'pods/exec'})
    const message = await failure(executor.exec(['true']))
    expect(message).toMatch(/RBAC refused: the credentials lack "create" on pods\/exec in namespace default/)
    expect(message).toContain(
      'needs "get" on pods and "create" on pods/exec, plus "get" on deployments (API group apps) and "list" on pods'
    )
  })

  test('forbidden: get on deployments, list on pods, get on pods', async () => {
    api.deny.push({verb: 'get', resource: 'deployments'})
    expect(await failure(createKubectlExecutor(config()))).toMatch(/lack "get" on deployments \(API group apps\) in namespace/)
    api.deny.length = 0
    api.deny.push({verb: 'list', resource: 'pods'})
    expect(await failure(createKubectlExecutor(config()))).toMatch(/lack "list" on pods in namespace/)
    api.deny.length = 0
    api.deny.push({verb: 'get', resource: 'pods'})
    const message = await failure(createKubectlExecutor(config({resource: {kind: 'pod', name: 'api-old-1'}})))
    expect(message).toMatch(/lack "get" on pods in namespace .*needs "get" on pods and "create" on pods\/exec\.$/s)
  })

  test('wrong token: 401', async () => {
    const message = await failure(createKubectlExecutor(config({kubeconfig: api.kubeconfigWithToken('wrong-token-value')})))
    expect(message).toMatch(/rejected the credentials \(401 Unauthorized\)/)
    expect(message).not.toContain('wrong-token-value')
  })

  test('resource not found, pod not found', async () => {
    expect(await failure(createKubectlExecutor(config({resource: {kind: 'deployment', name: 'nope'}})))).toMatch(
      /deployment\/nope was not found in namespace .*deployments\.apps "nope" not found.*Check kubectl-resource and kubectl-namespace/s
    )
    expect(await failure(createKubectlExecutor(config({resource: {kind: 'pod', name: 'nope'}})))).toMatch(
      /pod\/nope was not found in namespace the kubeconfig's default namespace .*pods "nope" not found/s
    )
    expect(await failure(createKubectlExecutor(config({resource: {kind: 'pod', name: 'api-new-2'}, namespace: 'prod'})))).toMatch(
      /Namespace prod does not exist: .*namespaces "prod" not found.*Check kubectl-namespace/s
    )
  })

  test('the chosen pod goes away during the run', async () => {
    api.pods.push({name: 'api-temp-9', containers: ['api']})
    const executor = await open({resource: {kind: 'pod', name: 'api-temp-9'}})
    api.pods.splice(
      api.pods.findIndex(p => p.name === 'api-temp-9'),
      1
    )
    expect(await failure(executor.exec(['true']))).toMatch(/Pod api-temp-9, chosen for this run, no longer exists/)
  })

  test('container not found', async () => {
    expect(await failure(createKubectlExecutor(config({container: 'web'})))).toBe(
      "Container web not found in pod api-new-2; its containers are: cloud-sql-proxy, api. Set kubectl-container (or container) to the application's container."
    )
  })

  test('no running pod', async () => {
    expect(await failure(createKubectlExecutor(config({resource: {kind: 'deployment', name: 'worker'}})))).toMatch(
      /No running pod for deployment\/worker: its pods are worker-1 \(Pending\)\./
    )
    expect(await failure(createKubectlExecutor(config({resource: {kind: 'deployment', name: 'idle'}})))).toMatch(
      /No running pod for deployment\/idle: it selects no pods \(scaled to 0\?\)/
    )
    expect(await failure(createKubectlExecutor(config({resource: {kind: 'pod', name: 'done-1'}})))).toMatch(
      /No running pod: done-1 \(Succeeded\) is not running/
    )
  })

  test('manage.py not found in the container', async () => {
    const executor = await open({container: 'api'})
    expect(await failure(executor.exec(['python9', 'manage.py', 'showmigrations']))).toMatch(
      /manage\.py could not be started in pod api-new-2, container api: OCI runtime exec failed.*"python9": executable file not found.*Set manage-command/s
    )
  })

  test('kubectl not installed', async () => {
    const saved = process.env.PATH
    process.env.PATH = '/nonexistent'
    try {
      expect(await failure(createKubectlExecutor(config()))).toMatch(/kubectl is not installed on the runner.*azure\/setup-kubectl/s)
    } finally {
      process.env.PATH = saved
    }
  })

  test('no secret-file directory is left after failures', async () => {
    const base = os.tmpdir()
    const before = new Set(fs.readdirSync(base).filter(n => n.startsWith('django-rollback-')))
    await failure(createKubectlExecutor(config({resource: {kind: 'deployment', name: 'nope'}})))
    const after = fs.readdirSync(base).filter(n => n.startsWith('django-rollback-') && !before.has(n))
    expect(after).toEqual([])
  })
})
