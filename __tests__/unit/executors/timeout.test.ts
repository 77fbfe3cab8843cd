/**
 * command-timeout and connection retries, with real processes: the local
 * executor, the real OpenSSH client against a real sshd (support/sshd.ts) and
 * the real kubectl against the test API server (support/kube-api-server.ts).
 * A command that runs into its limit must end where it runs, not only on the
 * runner; connecting retries refused connections, never a rejected key or RBAC.
 */
import {afterAll, beforeAll, describe, expect, test} from '@jest/globals'
import {spawnSync} from 'node:child_process'
import {randomUUID} from 'node:crypto'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import type {SshConfig} from '../../../src/config.js'
import {RollbackError} from '../../../src/errors.js'
import type {Executor} from '../../../src/executors/executor.js'
import {createKubectlExecutor} from '../../../src/executors/kubectl.js'
import {LocalExecutor} from '../../../src/executors/local.js'
import {createSshExecutor} from '../../../src/executors/ssh.js'
import {CommandTimeoutError} from '../../../src/executors/timeout.js'
import {freePort} from '../../support/postgres.js'
import {startKubeApiServer, type KubeApiServer} from '../../support/kube-api-server.js'
import {startSshd, type Sshd, sshConfigFor} from '../../support/sshd.js'

const PY = '/usr/bin/python3'
const FAST_RETRY = {attempts: 8, baseDelayMs: 250, maxDelayMs: 500}

/** A command that starts a child (like a wrapper would), both sleeping, both named by a unique marker. */
function sleeper(marker: string): string[] {
  const child = `import time; time.sleep(120)  # ${marker}`
  return [
    PY,
    '-c',
    `import subprocess, sys, time; subprocess.Popen([sys.executable, "-c", ${JSON.stringify(child)}]); print("started", flush=True); time.sleep(120)  # ${marker}`
  ]
}

/** Processes whose command line holds marker (ps, not /proc of this process only). */
function processesWith(marker: string): string[] {
  const ps = spawnSync('ps', ['-eo', 'pid,args'], {encoding: 'utf8'})
  return ps.stdout.split('\n').filter(line => line.includes(marker) && !line.includes('ps -eo'))
}

async function gone(marker: string, withinMs = 3000): Promise<string[]> {
  const until = Date.now() + withinMs
  let left = processesWith(marker)
  while (left.length > 0 && Date.now() < until) {
    await new Promise(r => setTimeout(r, 100))
    left = processesWith(marker)
  }
  return left
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise
  } catch (error) {
    return error as Error
  }
  throw new Error('expected a failure')
}

/** A TCP port that accepts nothing until listen(), then forwards every connection to target. */
function lateProxy(port: number, targetPort: number): {listen(): Promise<void>; close(): Promise<void>} {
  const sockets = new Set<net.Socket>()
  const server = net.createServer(client => {
    const upstream = net.connect(targetPort, '127.0.0.1')
    for (const s of [client, upstream]) {
      sockets.add(s)
      s.on('error', () => undefined)
      s.on('close', () => sockets.delete(s))
    }
    client.pipe(upstream).pipe(client)
  })
  return {
    listen: () => new Promise<void>(resolve => server.listen(port, '127.0.0.1', resolve)),
    close: () =>
      new Promise<void>(resolve => {
        for (const s of sockets) s.destroy()
        server.close(() => resolve())
        if (!server.listening) resolve()
      })
  }
}

describe('command-timeout, local executor', () => {
  test('the command and the processes it started end at the limit; the error says what happened', async () => {
    const marker = `ct-local-${randomUUID()}`
    const executor = new LocalExecutor(2)
    const lines: string[] = []
    const started = Date.now()
    const error = await rejection(executor.exec(sleeper(marker), {onStdoutLine: l => lines.push(l)}))
    const seconds = (Date.now() - started) / 1000
    expect(error).toBeInstanceOf(CommandTimeoutError)
    expect(error.message).toMatch(
      /was stopped after 0\.033 minutes \(2 s\) \(command-timeout\): its process group on the runner got SIGTERM/
    )
    expect(lines).toContain('started')
    expect(seconds).toBeGreaterThanOrEqual(2)
    expect(seconds).toBeLessThan(6)
    expect(await gone(marker)).toEqual([])
  })

  test('no limit, or a command that ends in time: the result as before', async () => {
    expect((await new LocalExecutor().exec([PY, '-c', 'print("ok")'])).stdout.trim()).toBe('ok')
    const limited = await new LocalExecutor(30).exec([PY, '-c', 'import sys; print(sys.stdin.read()); sys.exit(3)'], {input: 'in'})
    expect(limited).toEqual({exitCode: 3, stdout: 'in\n', stderr: ''})
  })
})

describe('SSH', () => {
  let sshd: Sshd
  const opened: Executor[] = []

  const config = (overrides: Partial<SshConfig> = {}): SshConfig => sshConfigFor(sshd, overrides)

  beforeAll(async () => {
    sshd = await startSshd({containers: ['api']})
  })

  afterAll(async () => {
    for (const executor of opened) await executor.close()
    await sshd?.stop()
  })

  test('command-timeout: `timeout` on the host ends the remote command (through the container prefix), not only the ssh client', async () => {
    const marker = `ct-ssh-${randomUUID()}`
    const executor = await createSshExecutor(config({remotePrefix: ['docker', 'exec', '-i', 'api']}), undefined, {commandTimeoutSeconds: 2})
    opened.push(executor)
    const started = Date.now()
    const error = await rejection(executor.exec(sleeper(marker)))
    expect(error).toBeInstanceOf(CommandTimeoutError)
    expect(error.message).toMatch(/\(2 s\) \(command-timeout\): `timeout` in the target ended it/)
    expect((Date.now() - started) / 1000).toBeLessThan(8)
    expect(await gone(marker)).toEqual([])
    // The connection is still good for the next command.
    expect((await executor.exec([PY, '-c', 'print(42)'])).stdout.trim()).toBe('42')
  })

  test('a port that starts accepting late: connecting is retried, and the log says so', async () => {
    const port = await freePort()
    const proxy = lateProxy(port, sshd.port)
    const log: string[] = []
    const knownHosts = sshd.knownHosts.replace(`]:${sshd.port} `, `]:${port} `)
    const executor = await createSshExecutor(config({port, knownHosts}), undefined, {retry: {...FAST_RETRY, log: l => log.push(l)}})
    opened.push(executor)
    setTimeout(() => void proxy.listen(), 1200)
    try {
      const result = await executor.exec([PY, '-c', 'print("connected")'])
      expect(result.stdout.trim()).toBe('connected')
      expect(log.length).toBeGreaterThan(0)
      expect(log[0]).toMatch(
        new RegExp(`^SSH to ${sshd.user}@127\\.0\\.0\\.1:${port}: connection refused; retrying in 0\\.25 s \\(attempt 2 of 8\\)$`)
      )
    } finally {
      await executor.close()
      await proxy.close()
    }
  })

  test('a key the host rejects is not retried: one attempt, at once', async () => {
    const log: string[] = []
    const before = sshd
      .log()
      .split('\n')
      .filter(l => /Connection from|Accepted|Failed|invalid|Disconnected/i.test(l)).length
    const executor = await createSshExecutor(config({privateKey: sshd.unauthorizedPrivateKey}), undefined, {
      retry: {...FAST_RETRY, log: l => log.push(l)}
    })
    opened.push(executor)
    const started = Date.now()
    const error = await rejection(executor.exec(['true']))
    expect(error).toBeInstanceOf(RollbackError)
    expect(error.message).toMatch(/rejected the key in ssh-private-key/)
    expect(log).toEqual([])
    expect(Date.now() - started).toBeLessThan(3000)
    // A second exec does not try again either: the failed connection is the answer for this run.
    await expect(executor.exec(['true'])).rejects.toThrow(/rejected the key/)
    expect(log).toEqual([])
    expect(before).toBeGreaterThanOrEqual(0)
  })

  test('a host key mismatch is not retried', async () => {
    const log: string[] = []
    const executor = await createSshExecutor(config({knownHosts: sshd.wrongKnownHosts}), undefined, {
      retry: {...FAST_RETRY, log: l => log.push(l)}
    })
    opened.push(executor)
    await expect(executor.exec(['true'])).rejects.toThrow(/does NOT match ssh-known-hosts/)
    expect(log).toEqual([])
  })
})

describe('kubectl', () => {
  let api: KubeApiServer
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'rollback-kube-home-'))
  const savedEnv = {HOME: process.env.HOME, KUBECONFIG: process.env.KUBECONFIG}
  const opened: Executor[] = []

  beforeAll(async () => {
    process.env.HOME = home
    delete process.env.KUBECONFIG
    api = await startKubeApiServer({
      pods: [{name: 'api-1', labels: {app: 'api'}, containers: ['api']}],
      workloads: [{kind: 'deployment', name: 'api', matchLabels: {app: 'api'}}]
    })
  })

  afterAll(async () => {
    for (const executor of opened) await executor.close()
    await api?.stop()
    fs.rmSync(home, {recursive: true, force: true})
    process.env.HOME = savedEnv.HOME
    if (savedEnv.KUBECONFIG !== undefined) process.env.KUBECONFIG = savedEnv.KUBECONFIG
  })

  test("command-timeout: `timeout` in the container ends the exec'd process", async () => {
    const marker = `ct-kube-${randomUUID()}`
    const executor = await createKubectlExecutor(
      {kind: 'kubectl', resource: {kind: 'pod', name: 'api-1'}, kubeconfig: api.kubeconfig},
      undefined,
      {commandTimeoutSeconds: 2}
    )
    opened.push(executor)
    const error = await rejection(executor.exec(sleeper(marker)))
    expect(error).toBeInstanceOf(CommandTimeoutError)
    expect(error.message).toMatch(/\(2 s\) \(command-timeout\): `timeout` in the target ended it .*pod api-1, container api/)
    expect(await gone(marker)).toEqual([])
    expect(api.execs.at(-1)?.command.slice(0, 6)).toEqual(['timeout', '-s', 'TERM', '-k', '30', '2'])
  })

  test('an API server that starts accepting late: the pod resolution is retried, and the log says so', async () => {
    const port = await freePort()
    const proxy = lateProxy(port, api.port)
    const log: string[] = []
    const kubeconfig = api.kubeconfig.replace(`127.0.0.1:${api.port}`, `127.0.0.1:${port}`)
    expect(kubeconfig).not.toBe(api.kubeconfig)
    setTimeout(() => void proxy.listen(), 1200)
    try {
      const executor = await createKubectlExecutor({kind: 'kubectl', resource: {kind: 'deployment', name: 'api'}, kubeconfig}, undefined, {
        retry: {...FAST_RETRY, log: l => log.push(l)}
      })
      opened.push(executor)
      expect(executor.where).toContain('api-1')
      expect(log.length).toBeGreaterThan(0)
      expect(log[0]).toMatch(/^Kubernetes API \(kubectl get deployment\.apps api\): connection refused; retrying in 0\.25 s/)
      expect((await executor.exec([PY, '-c', 'print("in the pod")'])).stdout.trim()).toBe('in the pod')
    } finally {
      await proxy.close()
    }
  })

  test('403 Forbidden is not retried', async () => {
    const log: string[] = []
    api.deny.push({verb: 'get', resource: 'deployments'})
    try {
      const started = Date.now()
      const error = await rejection(
        createKubectlExecutor({kind: 'kubectl', resource: {kind: 'deployment', name: 'api'}, kubeconfig: api.kubeconfig}, undefined, {
          retry: {...FAST_RETRY, log: l => log.push(l)}
        })
      )
      expect(error.message).toMatch(/Kubernetes RBAC refused/)
      expect(log).toEqual([])
      expect(Date.now() - started).toBeLessThan(5000)
    } finally {
      api.deny.length = 0
    }
  })

  test('401 Unauthorized is not retried', async () => {
    const log: string[] = []
    const error = await rejection(
      createKubectlExecutor(
        {kind: 'kubectl', resource: {kind: 'pod', name: 'api-1'}, kubeconfig: api.kubeconfigWithToken('wrong-token')},
        undefined,
        {
          retry: {...FAST_RETRY, log: l => log.push(l)}
        }
      )
    )
    expect(error.message).toMatch(/rejected the credentials/)
    expect(log).toEqual([])
  })
})
