/**
 * A test Kubernetes API server that the real kubectl (1.30+) talks to
 * (docs/development.md, "kubectl in the tests"): HTTPS with a self-signed certificate for
 * 127.0.0.1 made by openssl at test time, a bearer token, discovery, GET pod,
 * GET deployment/statefulset, pod list by label selector, and the exec
 * subresource over WebSocket (`v5.channel.k8s.io`). exec runs the requested
 * argv as a real local process, with the pod's env and working directory.
 *
 * RBAC denials per verb and resource give 403 Status objects shaped like the
 * real API server's, so kubectl prints what it prints against a real cluster.
 */
import {spawn, spawnSync} from 'node:child_process'
import fs from 'node:fs'
import https from 'node:https'
import type {IncomingMessage, ServerResponse} from 'node:http'
import os from 'node:os'
import path from 'node:path'
import {WebSocketServer, type WebSocket} from 'ws'

export interface TestPod {
  name: string
  namespace?: string
  labels?: Record<string, string>
  /** Container names, in spec order. Default ["app"]. */
  containers?: string[]
  /** Default "Running". */
  phase?: 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Unknown'
  /** Default true when Running. */
  ready?: boolean
  /** ISO time; default: the order pods were added. */
  creationTimestamp?: string
  /** Set: the pod is terminating. */
  deleting?: boolean
  /** `kubectl.kubernetes.io/default-container` annotation. */
  defaultContainer?: string
  /** Environment of exec'd processes, on top of the server's own process.env. */
  env?: Record<string, string>
  /** Working directory of exec'd processes. */
  cwd?: string
}

export interface TestWorkload {
  kind: 'deployment' | 'statefulset'
  name: string
  namespace?: string
  matchLabels: Record<string, string>
}

/** An RBAC rule the server refuses: verb on resource (e.g. create on pods/exec, list on pods, get on deployments). */
export interface Denial {
  verb: 'get' | 'list' | 'create'
  resource: 'pods' | 'pods/exec' | 'deployments' | 'statefulsets'
}

export interface ExecCall {
  namespace: string
  pod: string
  container: string
  command: string[]
}

export interface KubeApiServerOptions {
  pods?: TestPod[]
  workloads?: TestWorkload[]
  deny?: Denial[]
  /** Server version minor reported to the kubectl dispatcher; must be >= 30 (older ones speak SPDY). */
  minor?: number
  /** User named in Forbidden messages. */
  user?: string
}

export interface KubeApiServer {
  url: string
  port: number
  token: string
  /** kubeconfig text: cluster with certificate-authority-data, user with the token, context "test" (namespace default). */
  kubeconfig: string
  /** kubeconfig text with a wrong token (401). */
  kubeconfigWithToken(token: string): string
  /** Mutable: tests may add, change or remove pods and workloads between commands. */
  pods: TestPod[]
  workloads: TestWorkload[]
  deny: Denial[]
  /** Every exec the server ran, in order. */
  execs: ExecCall[]
  /** Every request: "METHOD path?query". */
  requests: string[]
  stop(): Promise<void>
}

function status(code: number, reason: string, message: string, details?: Record<string, unknown>): Record<string, unknown> {
  return {kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, ...(details ? {details} : {}), code}
}

function makeCertificate(dir: string): {key: string; cert: string} {
  const keyFile = path.join(dir, 'key.pem')
  const certFile = path.join(dir, 'cert.pem')
  const result = spawnSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      keyFile,
      '-out',
      certFile,
      '-days',
      '2',
      '-subj',
      '/CN=kube-apiserver-test',
      '-addext',
      'subjectAltName=IP:127.0.0.1,DNS:localhost'
    ],
    {encoding: 'utf8'}
  )
  if (result.status !== 0) throw new Error(`openssl failed: ${result.stderr}`)
  return {key: fs.readFileSync(keyFile, 'utf8'), cert: fs.readFileSync(certFile, 'utf8')}
}

const API_RESOURCES_V1 = {
  kind: 'APIResourceList',
  apiVersion: 'v1',
  groupVersion: 'v1',
  resources: [
    {name: 'pods', singularName: 'pod', namespaced: true, kind: 'Pod', verbs: ['get', 'list'], shortNames: ['po']},
    {name: 'pods/exec', singularName: '', namespaced: true, kind: 'PodExecOptions', verbs: ['create', 'get']},
    {name: 'namespaces', singularName: 'namespace', namespaced: false, kind: 'Namespace', verbs: ['get', 'list'], shortNames: ['ns']}
  ]
}
const API_RESOURCES_APPS = {
  kind: 'APIResourceList',
  apiVersion: 'v1',
  groupVersion: 'apps/v1',
  resources: [
    {name: 'deployments', singularName: 'deployment', namespaced: true, kind: 'Deployment', verbs: ['get', 'list'], shortNames: ['deploy']},
    {name: 'statefulsets', singularName: 'statefulset', namespaced: true, kind: 'StatefulSet', verbs: ['get', 'list'], shortNames: ['sts']}
  ]
}

function selectorMatches(selector: string | null, labels: Record<string, string>): boolean {
  if (!selector) return true
  return selector.split(',').every(term => {
    const t = term.trim()
    let m: RegExpExecArray | null
    if ((m = /^([^!=\s]+)\s*(==|=)\s*(.*)$/.exec(t))) return labels[m[1]] === m[3]
    if ((m = /^([^!=\s]+)\s*!=\s*(.*)$/.exec(t))) return labels[m[1]] !== m[2]
    if ((m = /^(\S+)\s+in\s+\((.*)\)$/.exec(t)))
      return m[2]
        .split(',')
        .map(v => v.trim())
        .includes(labels[m[1]])
    if ((m = /^(\S+)\s+notin\s+\((.*)\)$/.exec(t)))
      return !m[2]
        .split(',')
        .map(v => v.trim())
        .includes(labels[m[1]])
    if ((m = /^!(\S+)$/.exec(t))) return !(m[1] in labels)
    return t in labels
  })
}

export async function startKubeApiServer(options: KubeApiServerOptions = {}): Promise<KubeApiServer> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rollback-kube-'))
  const {key, cert} = makeCertificate(dir)
  fs.rmSync(dir, {recursive: true, force: true})
  const token = `test-token-${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}`
  const minor = options.minor ?? 32
  const user = options.user ?? 'system:serviceaccount:ci:rollback'
  const pods = options.pods ?? []
  const workloads = options.workloads ?? []
  const deny = options.deny ?? []
  const execs: ExecCall[] = []
  const requests: string[] = []
  const created = new Map<string, string>()
  const base = Date.UTC(2025, 0, 1)

  const podObject = (pod: TestPod, index: number) => {
    const namespace = pod.namespace ?? 'default'
    const containers = pod.containers ?? ['app']
    const phase = pod.phase ?? 'Running'
    const ready = pod.ready ?? phase === 'Running'
    if (!created.has(pod.name)) created.set(pod.name, new Date(base + index * 1000).toISOString().replace('.000', ''))
    return {
      kind: 'Pod',
      apiVersion: 'v1',
      metadata: {
        name: pod.name,
        namespace,
        uid: `uid-${pod.name}`,
        labels: pod.labels ?? {},
        creationTimestamp: pod.creationTimestamp ?? created.get(pod.name),
        ...(pod.deleting ? {deletionTimestamp: new Date(base).toISOString()} : {}),
        ...(pod.defaultContainer ? {annotations: {'kubectl.kubernetes.io/default-container': pod.defaultContainer}} : {})
      },
      spec: {containers: containers.map(name => ({name, image: `example/${name}:test`}))},
      status: {
        phase,
        conditions: [{type: 'Ready', status: ready ? 'True' : 'False'}],
        containerStatuses: containers.map(name => ({
          name,
          ready,
          restartCount: 0,
          image: `example/${name}:test`,
          state: phase === 'Running' ? {running: {startedAt: created.get(pod.name)}} : {waiting: {reason: 'ContainerCreating'}}
        }))
      }
    }
  }

  const forbidden = (verb: string, resource: string, group: string, name: string | undefined, namespace: string) => {
    const [plural, sub] = resource.split('/')
    const qualified = group ? `${plural}.${group}` : plural
    const what = name ? `${qualified} "${name}"` : qualified
    return status(
      403,
      'Forbidden',
      `${what} is forbidden: User "${user}" cannot ${verb} resource "${resource}" in API group "${group}" in the namespace "${namespace}"`,
      {...(name ? {name} : {}), ...(group ? {group} : {}), kind: sub ? plural : plural}
    )
  }

  const send = (res: ServerResponse, code: number, body: unknown) => {
    const text = JSON.stringify(body)
    res.writeHead(code, {'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text)})
    res.end(text)
  }

  const authorized = (req: IncomingMessage): boolean => req.headers.authorization === `Bearer ${token}`

  const isDenied = (verb: string, resource: string) => deny.some(d => d.verb === verb && d.resource === resource)

  const server = https.createServer({key, cert}, (req, res) => {
    const url = new URL(req.url ?? '/', 'https://127.0.0.1')
    requests.push(`${req.method} ${url.pathname}${url.search}`)
    if (!authorized(req)) return send(res, 401, status(401, 'Unauthorized', 'Unauthorized'))
    const p = url.pathname
    if (p === '/version') {
      return send(res, 200, {
        major: '1',
        minor: String(minor),
        gitVersion: `v1.${minor}.0`,
        platform: 'linux/amd64',
        goVersion: 'go1.22.0',
        compiler: 'gc'
      })
    }
    if (p === '/api') {
      return send(res, 200, {
        kind: 'APIVersions',
        versions: ['v1'],
        serverAddressByClientCIDRs: [{clientCIDR: '0.0.0.0/0', serverAddress: `127.0.0.1:${port}`}]
      })
    }
    if (p === '/apis') {
      return send(res, 200, {
        kind: 'APIGroupList',
        apiVersion: 'v1',
        groups: [
          {name: 'apps', versions: [{groupVersion: 'apps/v1', version: 'v1'}], preferredVersion: {groupVersion: 'apps/v1', version: 'v1'}}
        ]
      })
    }
    if (p === '/api/v1') return send(res, 200, API_RESOURCES_V1)
    if (p === '/apis/apps/v1') return send(res, 200, API_RESOURCES_APPS)
    let m: RegExpExecArray | null
    if ((m = /^\/api\/v1\/namespaces\/([^/]+)$/.exec(p)) && req.method === 'GET') {
      const name = m[1]
      const known = new Set(['default', ...pods.map(x => x.namespace ?? 'default'), ...workloads.map(x => x.namespace ?? 'default')])
      if (!known.has(name)) return send(res, 404, status(404, 'NotFound', `namespaces "${name}" not found`, {name, kind: 'namespaces'}))
      return send(res, 200, {kind: 'Namespace', apiVersion: 'v1', metadata: {name}, status: {phase: 'Active'}})
    }
    if ((m = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)$/.exec(p)) && req.method === 'GET') {
      const [, namespace, name] = m
      if (isDenied('get', 'pods')) return send(res, 403, forbidden('get', 'pods', '', name, namespace))
      const index = pods.findIndex(pod => pod.name === name && (pod.namespace ?? 'default') === namespace)
      if (index < 0) return send(res, 404, status(404, 'NotFound', `pods "${name}" not found`, {name, kind: 'pods'}))
      return send(res, 200, podObject(pods[index], index))
    }
    if ((m = /^\/api\/v1\/namespaces\/([^/]+)\/pods$/.exec(p)) && req.method === 'GET') {
      const [, namespace] = m
      if (isDenied('list', 'pods')) return send(res, 403, forbidden('list', 'pods', '', undefined, namespace))
      const selector = url.searchParams.get('labelSelector')
      const items = pods
        .map((pod, index) => ({pod, index}))
        .filter(({pod}) => (pod.namespace ?? 'default') === namespace && selectorMatches(selector, pod.labels ?? {}))
        .map(({pod, index}) => podObject(pod, index))
      return send(res, 200, {kind: 'PodList', apiVersion: 'v1', metadata: {resourceVersion: '1'}, items})
    }
    if ((m = /^\/apis\/apps\/v1\/namespaces\/([^/]+)\/(deployments|statefulsets)\/([^/]+)$/.exec(p)) && req.method === 'GET') {
      const [, namespace, plural, name] = m
      if (isDenied('get', plural)) return send(res, 403, forbidden('get', plural, 'apps', name, namespace))
      const kind = plural === 'deployments' ? 'deployment' : 'statefulset'
      const workload = workloads.find(w => w.kind === kind && w.name === name && (w.namespace ?? 'default') === namespace)
      if (!workload)
        return send(res, 404, status(404, 'NotFound', `${plural}.apps "${name}" not found`, {name, group: 'apps', kind: plural}))
      return send(res, 200, {
        kind: kind === 'deployment' ? 'Deployment' : 'StatefulSet',
        apiVersion: 'apps/v1',
        metadata: {name, namespace},
        spec: {selector: {matchLabels: workload.matchLabels}, template: {metadata: {labels: workload.matchLabels}}}
      })
    }
    if (/\/exec$/.test(p)) return send(res, 400, status(400, 'BadRequest', 'exec needs a WebSocket upgrade (v5.channel.k8s.io)'))
    return send(res, 404, status(404, 'NotFound', 'the server could not find the requested resource'))
  })

  const wss = new WebSocketServer({
    noServer: true,
    handleProtocols: protocols => (protocols.has('v5.channel.k8s.io') ? 'v5.channel.k8s.io' : false)
  })

  const reject = (socket: import('node:stream').Duplex, code: number, body: Record<string, unknown>) => {
    const text = JSON.stringify(body)
    const reason = code === 403 ? 'Forbidden' : code === 404 ? 'Not Found' : code === 401 ? 'Unauthorized' : 'Bad Request'
    socket.end(
      `HTTP/1.1 ${code} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`
    )
  }

  server.on('upgrade', (req, socket, head) => {
    const url = new URL(req.url ?? '/', 'https://127.0.0.1')
    requests.push(`UPGRADE ${url.pathname}${url.search}`)
    if (!authorized(req)) return reject(socket, 401, status(401, 'Unauthorized', 'Unauthorized'))
    const m = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/exec$/.exec(url.pathname)
    if (!m) return reject(socket, 404, status(404, 'NotFound', 'the server could not find the requested resource'))
    const [, namespace, name] = m
    if (isDenied('create', 'pods/exec')) return reject(socket, 403, forbidden('create', 'pods/exec', '', name, namespace))
    const index = pods.findIndex(pod => pod.name === name && (pod.namespace ?? 'default') === namespace)
    if (index < 0) return reject(socket, 404, status(404, 'NotFound', `pods "${name}" not found`, {name, kind: 'pods'}))
    const pod = pods[index]
    const containers = pod.containers ?? ['app']
    const container = url.searchParams.get('container') ?? pod.defaultContainer ?? containers[0]
    if (!containers.includes(container)) {
      return reject(socket, 400, status(400, 'BadRequest', `container ${container} is not valid for pod ${name}`))
    }
    if ((pod.phase ?? 'Running') !== 'Running') {
      return reject(socket, 400, status(400, 'BadRequest', `pod ${name} is not running, phase: ${pod.phase}`))
    }
    const command = url.searchParams.getAll('command')
    const protocols = String(req.headers['sec-websocket-protocol'] ?? '')
      .split(',')
      .map(s => s.trim())
    if (!protocols.includes('v5.channel.k8s.io')) {
      return reject(socket, 400, status(400, 'BadRequest', 'this test server speaks only v5.channel.k8s.io'))
    }
    wss.handleUpgrade(req, socket, head, ws => runExec(ws, pod, container, namespace, command, url.searchParams.get('stdin') === 'true'))
  })

  const runExec = (ws: WebSocket, pod: TestPod, container: string, namespace: string, command: string[], stdin: boolean) => {
    execs.push({namespace, pod: pod.name, container, command})
    const frame = (channel: number, data: Buffer | string) => {
      if (ws.readyState === ws.OPEN) ws.send(Buffer.concat([Buffer.from([channel]), Buffer.isBuffer(data) ? data : Buffer.from(data)]))
    }
    const finish = (exitCode: number) => {
      const body =
        exitCode === 0
          ? {metadata: {}, status: 'Success'}
          : {
              metadata: {},
              status: 'Failure',
              message: `command terminated with non-zero exit code: error executing command [${command.join(' ')}], exit code ${exitCode}`,
              reason: 'NonZeroExitCode',
              details: {causes: [{reason: 'ExitCode', message: String(exitCode)}]}
            }
      frame(3, JSON.stringify(body))
      ws.close(1000)
    }
    if (command.length === 0) {
      frame(2, 'you must specify at least one command for the container\n')
      return finish(1)
    }
    const child = spawn(command[0], command.slice(1), {
      cwd: pod.cwd ?? process.cwd(),
      env: {...process.env, ...(pod.env ?? {})},
      stdio: ['pipe', 'pipe', 'pipe']
    })
    let spawnFailed = false
    child.on('error', (error: NodeJS.ErrnoException) => {
      spawnFailed = true
      frame(
        2,
        `OCI runtime exec failed: exec failed: unable to start container process: exec: "${command[0]}": ${
          error.code === 'ENOENT' ? 'executable file not found in $PATH' : error.message
        }: unknown\n`
      )
      finish(error.code === 'ENOENT' ? 127 : 126)
    })
    child.stdout.on('data', (chunk: Buffer) => frame(1, chunk))
    child.stderr.on('data', (chunk: Buffer) => frame(2, chunk))
    child.stdin.on('error', () => undefined)
    if (!stdin) child.stdin.end()
    ws.on('message', (data: Buffer) => {
      if (data.length === 0) return
      if (data[0] === 0) child.stdin.write(data.subarray(1))
      else if (data[0] === 255 && data[1] === 0) child.stdin.end()
    })
    ws.on('close', () => {
      if (child.exitCode === null && !spawnFailed) child.kill('SIGKILL')
    })
    child.on('close', (code, signal) => {
      if (!spawnFailed) finish(code ?? (signal ? 137 : 1))
    })
  }

  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as import('node:net').AddressInfo).port
  const url = `https://127.0.0.1:${port}`
  const kubeconfigWithToken = (t: string) =>
    [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      '- name: test',
      '  cluster:',
      `    server: ${url}`,
      `    certificate-authority-data: ${Buffer.from(cert).toString('base64')}`,
      'users:',
      '- name: test',
      '  user:',
      `    token: ${t}`,
      'contexts:',
      '- name: test',
      '  context:',
      '    cluster: test',
      '    user: test',
      '    namespace: default',
      'current-context: test',
      ''
    ].join('\n')

  return {
    url,
    port,
    token,
    kubeconfig: kubeconfigWithToken(token),
    kubeconfigWithToken,
    pods,
    workloads,
    deny,
    execs,
    requests,
    async stop() {
      for (const client of wss.clients) client.terminate()
      server.closeAllConnections()
      await new Promise<void>(resolve => server.close(() => resolve()))
    }
  }
}
