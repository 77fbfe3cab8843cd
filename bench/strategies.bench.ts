/**
 * Benchmark, not a test (`npm run bench`): wall time, Django processes and
 * connections to roll back K = 1, 5 and 10 apps of Flagsmith's graph with each
 * strategy (exact, per-app, flagsmith) through the local, SSH and kubectl
 * executors, next to the documented manual method: one
 * `manage.py migrate APP NNNN` per app ("number minus one"), each a fresh
 * process / a fresh `ssh` without ControlMaster / a fresh `kubectl exec`.
 *
 * The release pairs touch exactly K apps and every strategy succeeds on them
 * (numbers follow on, no branch point, no squash, vendor command present):
 *   K=1  v2.154.0 -> v2.153.0   (tags: 1 migration)
 *   K=5  v2.192.0 -> v2.191.0   (6 migrations)
 *   K=10 v2.229.0 -> v2.207.1   (12 migrations)
 * Each run gets a fresh database at the earlier release, deploys the later one,
 * then rolls back and checks the database equals the earlier release's.
 *
 * Also printed: one Django boot (`manage.py shell -c pass`), one connection per
 * executor (`true` as a fresh process / fresh ssh / kubectl exec), the
 * migrations' own time (the sum of Django's per-migration timings, `migrate -v 2`
 * "Unapplying ... OK (0.012s)", for the same steps in one process), and the
 * target: exact over SSH within 1.3x of boot + migrations + one SSH connection.
 *
 * Knobs: BENCH_REPEAT (default 3), BENCH_K=1,5,10, BENCH_EXECUTORS=local,ssh,kubectl,
 * BENCH_METHODS=exact,per-app,flagsmith,manual.
 */
import {parseDatabaseUrl} from '../src/database.js'
import {spawn} from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {runAction, type ActionRun} from '../__tests__/support/action.js'
import {serverNow} from '../__tests__/support/django-project.js'
import {appliedMigrations, databaseAtRelease, deployFlagsmith, expectedApplied, flagsmithProject} from '../__tests__/support/flagsmith.js'
import {startKubeApiServer, type KubeApiServer} from '../__tests__/support/kube-api-server.js'
import {pythonBin} from '../__tests__/support/python.js'
import {requireSetup} from '../__tests__/support/setup-check.mjs'
import {failureMessage, type Outcome} from '../__tests__/support/spawn.js'
import {startSshd, type Sshd} from '../__tests__/support/sshd.js'
import {readHistory} from '../src/history.js'
import {planRollback} from '../src/plan.js'
import {vendorCommands} from '../src/strategies/flagsmith.js'
import {REPEAT, fmt, now, print, stats, table, type Stats} from './stats.js'

const PAIRS = [
  {k: 1, earlier: 'v2.153.0', current: 'v2.154.0'},
  {k: 5, earlier: 'v2.191.0', current: 'v2.192.0'},
  {k: 10, earlier: 'v2.207.1', current: 'v2.229.0'}
].filter(p => (process.env.BENCH_K ?? '1,5,10').split(',').map(Number).includes(p.k))
const EXECUTORS = (process.env.BENCH_EXECUTORS ?? 'local,ssh,kubectl').split(',') as Executor[]
const METHODS = (process.env.BENCH_METHODS ?? 'exact,per-app,flagsmith,manual').split(',')
type Executor = 'local' | 'ssh' | 'kubectl'

// sshd is started whatever the executors; kubectl is needed only when it is one of them.
requireSetup('bench/strategies.bench.ts', ['venv', 'dist', 'ssh', ...(EXECUTORS.includes('kubectl') ? (['kubectl'] as const) : [])])

const NAMESPACE = 'flagsmith'
const POD = 'flagsmith-api-0'
const CONTAINER = 'api'

let sshd: Sshd
let api: KubeApiServer
let dir: string
let keyFile: string
let knownHostsFile: string
let kubeconfigFile: string
const savedEnv = {HOME: process.env.HOME, KUBECONFIG: process.env.KUBECONFIG}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rollback-bench-'))
  // Like the kubectl tests: no ambient kubeconfig, nothing written to the real HOME.
  process.env.HOME = dir
  delete process.env.KUBECONFIG
  sshd = await startSshd({containers: ['flagsmith'], containerWorkdir: dir})
  api = await startKubeApiServer({
    pods: [{name: POD, namespace: NAMESPACE, labels: {app: 'flagsmith-api'}, containers: [CONTAINER], cwd: dir}],
    workloads: [{kind: 'deployment', name: 'flagsmith-api', namespace: NAMESPACE, matchLabels: {app: 'flagsmith-api'}}]
  })
  keyFile = path.join(dir, 'id')
  fs.writeFileSync(keyFile, sshd.privateKey, {mode: 0o600})
  knownHostsFile = path.join(dir, 'known_hosts')
  fs.writeFileSync(knownHostsFile, `${sshd.knownHosts}\n`)
  kubeconfigFile = path.join(dir, 'kubeconfig')
  fs.writeFileSync(kubeconfigFile, api.kubeconfig, {mode: 0o600})
}, 300000)

afterAll(async () => {
  await sshd?.stop()
  await api?.stop()
  fs.rmSync(dir, {recursive: true, force: true})
  process.env.HOME = savedEnv.HOME
  if (savedEnv.KUBECONFIG !== undefined) process.env.KUBECONFIG = savedEnv.KUBECONFIG
})

/** Runs argv to completion; throws on a non-zero exit. Returns stdout. */
function run(argv: string[], env: NodeJS.ProcessEnv = process.env, cwd?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), {env, cwd, stdio: ['ignore', 'pipe', 'pipe']})
    let out = ''
    let err = ''
    child.stdout.on('data', (d: Buffer) => (out += d.toString()))
    child.stderr.on('data', (d: Buffer) => (err += d.toString()))
    const fail = (outcome: Outcome) =>
      reject(new Error(failureMessage(argv[0], argv.slice(1), {...outcome, stdout: out, stderr: err}, {cwd})))
    child.on('error', error => fail({error}))
    child.on('close', (status, signal) => (status === 0 ? resolve(out) : fail({status, signal})))
  })
}

/** The argv that runs `words` in the target with `executor`, over a fresh connection (no ControlMaster). */
function fresh(executor: Executor, words: string[]): string[] {
  switch (executor) {
    case 'local':
      return words
    case 'ssh':
      return [
        'ssh',
        '-F',
        'none',
        '-i',
        keyFile,
        '-o',
        `UserKnownHostsFile=${knownHostsFile}`,
        '-o',
        'StrictHostKeyChecking=yes',
        '-o',
        'BatchMode=yes',
        '-o',
        'ControlMaster=no',
        '-o',
        'ControlPath=none',
        '-p',
        String(sshd.port),
        `${sshd.user}@${sshd.host}`,
        'docker',
        'exec',
        '-i',
        'flagsmith',
        ...words
      ]
    case 'kubectl':
      return ['kubectl', '--kubeconfig', kubeconfigFile, 'exec', '-n', NAMESPACE, POD, '-c', CONTAINER, '--', ...words]
  }
}

/** Points the "remote" Django of every executor at db. */
function target(db: string): NodeJS.ProcessEnv {
  sshd.setEnv({DATABASE_URL: db})
  for (const pod of api.pods) pod.env = {DATABASE_URL: db}
  return {...process.env, DATABASE_URL: db, PYTHONDONTWRITEBYTECODE: '1'}
}

function inputs(executor: Executor): Record<string, string> {
  switch (executor) {
    case 'local':
      return {executor}
    case 'ssh':
      return {
        executor,
        'ssh-host': sshd.host,
        'ssh-port': String(sshd.port),
        'ssh-user': sshd.user,
        'ssh-private-key': sshd.privateKey,
        'ssh-known-hosts': sshd.knownHosts,
        container: 'flagsmith'
      }
    case 'kubectl':
      return {
        executor,
        'kubectl-resource': 'deployment/flagsmith-api',
        'kubectl-namespace': NAMESPACE,
        'kubectl-container': CONTAINER,
        kubeconfig: api.kubeconfig
      }
  }
}

const connectionCount = (executor: Executor): number =>
  executor === 'ssh' ? sshd.connections() : executor === 'kubectl' ? api.execs.length : 0

interface Measured {
  wall: number[]
  processes: string
  connections: string
  migrations: number
  /** The action's own timer from its summary ("N s in all": inputs to summary, without Node's start and exit). */
  django: number[]
}

async function measure(pair: (typeof PAIRS)[number], executor: Executor, method: string): Promise<Measured> {
  const manage = [pythonBin(), path.join(flagsmithProject(pair.current), 'manage.py')]
  const m: Measured = {wall: [], processes: '', connections: '', migrations: 0, django: []}
  for (let i = 0; i < REPEAT; i++) {
    const db = await databaseAtRelease(pair.earlier, 'bench')
    const cutoff = await serverNow(db)
    await deployFlagsmith(db, pair.current)
    const env = target(db)
    const before = connectionCount(executor)
    let started: number
    let processes: number
    if (method === 'manual') {
      // The documented method: the operator works out "number minus one" per app (here from the history), then one
      // migrate per app, each over a fresh connection. Only the migrate commands are timed.
      const history = await readHistory(parseDatabaseUrl(db), {input: cutoff, utc: cutoff, assumedUtc: false})
      const plan = planRollback(history.rows, {input: cutoff, utc: cutoff, assumedUtc: false}, history.now)
      const steps = vendorCommands(plan)
      m.migrations = plan.after.length
      started = now()
      for (const step of steps) await run(fresh(executor, [...manage, 'migrate', step.app, step.target]), env)
      processes = steps.length
    } else {
      started = now()
      const result: ActionRun = await runAction(
        {'target-datetime': cutoff, 'database-url': db, strategy: method, 'manage-command': manage.join(' '), ...inputs(executor)},
        {env: executor === 'local' ? {DATABASE_URL: db} : {}}
      )
      if (result.outputs.status !== 'rolled-back') {
        throw new Error(`${pair.k} apps, ${executor}, ${method}: status ${result.outputs.status}\n${result.stdout}\n${result.summary}`)
      }
      m.migrations = (JSON.parse(result.outputs['rolled-back']) as string[]).length
      const timing = /Django processes<\/th><td>(\d+), ([\d.]+) s in all/.exec(result.summary)
      processes = Number(timing?.[1] ?? NaN)
      m.django.push(Number(timing?.[2] ?? NaN))
    }
    m.wall.push((now() - started) / 1000)
    const applied = [...(await appliedMigrations(db))].sort()
    const expected = [...expectedApplied(pair.earlier)].sort()
    if (JSON.stringify(applied) !== JSON.stringify(expected)) {
      throw new Error(`${pair.k} apps, ${executor}, ${method}: the database is not at ${pair.earlier}`)
    }
    m.processes = String(processes)
    const used = connectionCount(executor) - before
    m.connections = executor === 'local' ? '-' : `${used} ${executor === 'ssh' ? 'ssh' : 'exec'}`
  }
  return m
}

/** Sum of Django's own per-migration timings (`migrate -v 2`) for the pair's steps, in one local process. */
async function migrationsOwnTime(pair: (typeof PAIRS)[number]): Promise<number[]> {
  const times: number[] = []
  for (let i = 0; i < REPEAT; i++) {
    const db = await databaseAtRelease(pair.earlier, 'bench')
    const cutoff = await serverNow(db)
    await deployFlagsmith(db, pair.current)
    const c = {input: cutoff, utc: cutoff, assumedUtc: false}
    const history = await readHistory(parseDatabaseUrl(db), c)
    const steps = vendorCommands(planRollback(history.rows, c, history.now))
    const code = [
      'import json, sys',
      'from django.core.management import call_command',
      `for app, target in json.loads(${JSON.stringify(JSON.stringify(steps.map(s => [s.app, s.target])))}):`,
      '    call_command("migrate", app, target, verbosity=2)'
    ].join('\n')
    const out = await run([pythonBin(), 'manage.py', 'shell', '-c', code], target(db), flagsmithProject(pair.current))
    const seconds = [...out.matchAll(/Unapplying \S+\.\.\. OK \(([\d.]+)s\)/g)].map(x => Number(x[1]))
    if (!seconds.length) throw new Error(`no migration timings in:\n${out}`)
    times.push(seconds.reduce((a, b) => a + b, 0))
  }
  return times
}

async function repeat(fn: () => Promise<unknown>): Promise<number[]> {
  const times: number[] = []
  await fn() // warm-up (page cache, .pyc)
  for (let i = 0; i < REPEAT; i++) {
    const t = now()
    await fn()
    times.push((now() - t) / 1000)
  }
  return times
}

it(
  'prints the strategies figures',
  async () => {
    // Baselines.
    const anyProject = flagsmithProject(PAIRS[PAIRS.length - 1].current)
    const db = await databaseAtRelease(PAIRS[PAIRS.length - 1].current, 'bench')
    const env = target(db)
    const boot = stats(await repeat(() => run([pythonBin(), path.join(anyProject, 'manage.py'), 'shell', '-c', 'pass'], env)))
    const connection: Record<Executor, Stats> = {
      local: stats(await repeat(() => run(fresh('local', ['true']), env))),
      ssh: stats(await repeat(() => run(fresh('ssh', ['true']), env))),
      kubectl: stats(await repeat(() => run(fresh('kubectl', ['true']), env)))
    }
    const baseRows = [
      ['baseline', 'min / median'],
      ['Django boot (manage.py shell -c pass, local)', fmt(boot, 's')],
      ['one connection, local (fresh process `true`)', fmt(connection.local, 's')],
      ['one connection, ssh (fresh ssh, no ControlMaster, `docker exec ... true`)', fmt(connection.ssh, 's')],
      ['one connection, kubectl (kubectl exec ... true)', fmt(connection.kubectl, 's')]
    ]
    print(`baselines (${REPEAT} runs after a warm-up)`, table(baseRows))

    const rows: string[][] = [
      [
        'K apps',
        'pair',
        'migrations',
        'executor',
        'method',
        'Django processes',
        'connections',
        'wall min / median',
        'action timer (median)'
      ]
    ]
    const targetRows: string[][] = [
      ['K', 'exact over ssh (median)', 'migrations own (median)', 'boot + migrations + connection', 'ratio', 'target <= 1.3x']
    ]
    for (const pair of PAIRS) {
      for (const executor of EXECUTORS) {
        for (const method of METHODS) {
          const m = await measure(pair, executor, method)
          const s = stats(m.wall)
          rows.push([
            String(pair.k),
            `${pair.current} -> ${pair.earlier}`,
            String(m.migrations),
            executor,
            method === 'manual' ? 'manual (migrate per app)' : method,
            m.processes,
            m.connections,
            fmt(s, 's'),
            m.django.length ? `${stats(m.django).median.toFixed(1)} s` : '-'
          ])
          process.stdout.write(`  ${rows[rows.length - 1].join(' | ')}\n`)
          if (executor === 'ssh' && method === 'exact') {
            const own = stats(await migrationsOwnTime(pair))
            const budget = boot.median + own.median + connection.ssh.median
            const ratio = s.median / budget
            targetRows.push([
              String(pair.k),
              `${s.median.toFixed(2)} s`,
              `${own.median.toFixed(3)} s`,
              `${boot.median.toFixed(2)} + ${own.median.toFixed(3)} + ${connection.ssh.median.toFixed(2)} = ${budget.toFixed(2)} s`,
              `${ratio.toFixed(2)}x`,
              ratio <= 1.3 ? 'met' : `MISSED by ${((ratio / 1.3 - 1) * 100).toFixed(0)}%`
            ])
          }
        }
      }
    }
    print(`rollbacks: wall time of the whole action (or of the manual commands), ${REPEAT} runs each`, table(rows))
    if (targetRows.length > 1)
      print("target: exact over SSH within 1.3x of one Django boot + the migrations' own time + one SSH connection", table(targetRows))
  },
  4 * 3600 * 1000
)
