/**
 * docs/examples/rollback-rehearsal.yml, run as a runner would run it, here.
 *
 * The workflow file is parsed and its steps run in order:
 * - each `run:` step is that exact script, run with `bash --noprofile --norc -e -o pipefail -c`
 *   (or the step's `shell`), in its working-directory under a temporary workspace, with the job's
 *   and the step's `env:` and a GITHUB_OUTPUT file of its own;
 * - each step that `uses:` this action is `node dist/index.js` through runAction, with the step's `with:`;
 * - `${{ ... }}` expressions come from EXPRESSIONS below; one it does not know fails the test, so the
 *   file and this test cannot drift apart;
 * - and the few steps that need what a runner has and this machine has not are emulated, each one
 *   listed: actions/checkout (a local git repository with the two releases, fetched into `path:`),
 *   actions/setup-python and the steps with an id starting `install-` (the repository's .venv, which
 *   has Django 5.2, first on PATH), and the postgres service (a fresh database on the test server).
 * A step that fails stops the job, as on a runner; every step is accounted for as run, emulated,
 * failed or not run.
 */
import {execFileSync} from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {parse} from 'yaml'
import {runAction, type ActionRun} from '../support/action.js'
import {appliedMigrations, expectedApplied, expectedTables, flagsmithProject, flagsmithTables} from '../support/flagsmith.js'
import {hazardProjectDir} from '../support/hazard-project.js'
import {runToEnd} from '../support/manage.js'
import {createDatabase} from '../support/postgres.js'
import {REPO_ROOT, pythonBin} from '../support/python.js'

const WORKFLOW_FILE = path.join(REPO_ROOT, 'docs', 'examples', 'rollback-rehearsal.yml')
const PG_BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin'
const THIS_ACTION = /^OWNER\/django-migration-rollback@v1$/

type Scalar = string | number | boolean | null
interface Step {
  name?: string
  id?: string
  uses?: string
  with?: Record<string, Scalar>
  run?: string
  env?: Record<string, Scalar>
  shell?: string
  'working-directory'?: string
}
interface Service {
  image: string
  env?: Record<string, Scalar>
  ports?: string[]
  options?: string
}
interface Job {
  'runs-on': string
  services?: Record<string, Service>
  env?: Record<string, Scalar>
  steps: Step[]
  defaults?: {run?: {shell?: string; 'working-directory'?: string}}
}
interface Workflow {
  name: string
  on: {pull_request?: unknown; push?: {tags?: string[]}}
  permissions?: Record<string, string>
  defaults?: {run?: {shell?: string; 'working-directory'?: string}}
  jobs: Record<string, Job>
}

const workflowText = fs.readFileSync(WORKFLOW_FILE, 'utf8')
const workflow = parse(workflowText) as Workflow

/** What a runner knows when the job starts, for the event that started it. */
interface Event {
  name: 'pull_request' | 'push'
  baseRef: string
  refName: string
  sha: string
}

interface Context {
  event: Event
  workspace: string
  jobEnv: Record<string, string>
  outputs: Map<string, Record<string, string>>
}

function stepOutput(c: Context, id: string, name: string): string {
  const outputs = c.outputs.get(id)
  if (!outputs) throw new Error(`steps.${id} has not run (or has no id ${id})`)
  // A runner would give '' for a missing output; here it is an error, so a typo cannot pass.
  if (!(name in outputs)) throw new Error(`steps.${id} has no output ${name} (it has: ${Object.keys(outputs).join(', ')})`)
  return outputs[name]
}

/** Every expression the workflow may use, and its value. */
const EXPRESSIONS: Record<string, (c: Context) => string> = {
  'github.event_name': c => c.event.name,
  'github.base_ref': c => c.event.baseRef,
  'github.ref_name': c => c.event.refName,
  'github.workspace': c => c.workspace,
  'env.DATABASE_URL': c => c.jobEnv.DATABASE_URL,
  'steps.previous.outputs.ref': c => stepOutput(c, 'previous', 'ref'),
  'steps.cutoff.outputs.cutoff': c => stepOutput(c, 'cutoff', 'cutoff')
}

const EXPRESSION = /\$\{\{(.*?)\}\}/g

function substitute(value: Scalar | undefined, c: Context): string {
  const text = value === null || value === undefined ? '' : String(value)
  return text.replace(EXPRESSION, (_, expr: string) => {
    const evaluate = EXPRESSIONS[expr.trim()]
    if (!evaluate) throw new Error(`the workflow uses \${{ ${expr.trim()} }}, which the test does not know: add it to EXPRESSIONS`)
    return evaluate(c)
  })
}

function substituteAll(values: Record<string, Scalar> | undefined, c: Context): Record<string, string> {
  return Object.fromEntries(Object.entries(values ?? {}).map(([k, v]) => [k, substitute(v, c)]))
}

function onlyKeys(what: string, object: object, allowed: string[]): void {
  const unknown = Object.keys(object).filter(k => !allowed.includes(k))
  if (unknown.length) throw new Error(`${what}: the test does not know ${unknown.join(', ')} (it knows ${allowed.join(', ')})`)
}

const stepLabel = (step: Step): string => step.name ?? step.uses ?? step.run!.split('\n')[0]

function git(args: string[], cwd: string): string {
  return execFileSync('git', args, {
    cwd,
    encoding: 'utf8',
    env: {...process.env, GIT_CONFIG_NOSYSTEM: '1', GIT_TERMINAL_PROMPT: '0'}
  }).trim()
}

/** Copies a project tree, less Python's caches (a checkout has none). */
function copyTree(from: string, to: string): void {
  fs.cpSync(from, to, {recursive: true, filter: source => path.basename(source) !== '__pycache__'})
}

/**
 * The application's repository, in a local git repository: the previous release on `main` (tagged
 * v1.0.0), the change on the branch `change`, then a changelog commit tagged v1.1.0 (so that the
 * workflow's `git describe --tags --abbrev=0 TAG^` has history to walk).
 */
interface Repository {
  dir: string
  previousSha: string
  headSha: string
}

function makeRepository(root: string, previousTree: string, currentTree: string): Repository {
  const dir = path.join(root, 'repository')
  fs.mkdirSync(dir)
  const commit = (message: string) => {
    git(['add', '-A'], dir)
    git(['-c', 'user.name=Rehearsal', '-c', 'user.email=rehearsal@example.com', 'commit', '-q', '-m', message], dir)
  }
  const tag = (name: string) =>
    git(['-c', 'user.name=Rehearsal', '-c', 'user.email=rehearsal@example.com', 'tag', '-a', name, '-m', name], dir)
  git(['init', '-q', '-b', 'main'], dir)
  // So that a shallow fetch of a commit by its sha works, as it does from GitHub.
  git(['config', 'uploadpack.allowAnySHA1InWant', 'true'], dir)
  copyTree(previousTree, dir)
  commit('Release 1.0.0')
  tag('v1.0.0')
  const previousSha = git(['rev-parse', 'HEAD'], dir)
  git(['checkout', '-q', '-b', 'change'], dir)
  for (const entry of fs.readdirSync(dir)) if (entry !== '.git') fs.rmSync(path.join(dir, entry), {recursive: true})
  copyTree(currentTree, dir)
  commit('The change')
  fs.writeFileSync(path.join(dir, 'CHANGELOG.md'), '# 1.1.0\n\nThe change.\n')
  commit('Release 1.1.0')
  tag('v1.1.0')
  return {dir, previousSha, headSha: git(['rev-parse', 'HEAD'], dir)}
}

/** actions/checkout, from the local repository: what it fetches for `ref` and `fetch-depth`, into `path`. */
function checkout(repo: Repository, inputs: Record<string, string>, c: Context): string {
  if (!inputs.path || path.isAbsolute(inputs.path) || inputs.path.split('/').includes('..')) {
    throw new Error(`actions/checkout: give a path inside the workspace (got ${JSON.stringify(inputs.path)})`)
  }
  const dest = path.join(c.workspace, inputs.path)
  fs.mkdirSync(dest, {recursive: true})
  git(['init', '-q', dest], c.workspace)
  const url = `file://${repo.dir}`
  const ref = inputs.ref || c.event.sha
  const depth = Number(inputs['fetch-depth'] ?? '1')
  if (depth === 0) {
    // All branches and tags, with their history.
    git(['fetch', '-q', '--tags', url, '+refs/heads/*:refs/remotes/origin/*'], dest)
    const commit = [`refs/remotes/origin/${ref}`, `refs/tags/${ref}`, ref]
      .map(r => {
        try {
          return git(['rev-parse', '--verify', '-q', `${r}^{commit}`], dest)
        } catch {
          return ''
        }
      })
      .find(Boolean)
    if (!commit) throw new Error(`actions/checkout: no ref ${ref}`)
    git(['checkout', '-q', '--detach', commit], dest)
    return `fetched every branch and tag, checked out ${ref}`
  }
  // One ref, that deep, no tags.
  git(['fetch', '-q', '--no-tags', `--depth=${depth}`, url, ref], dest)
  git(['checkout', '-q', '--detach', 'FETCH_HEAD'], dest)
  return `fetched ${ref} (depth ${depth}, no tags)`
}

/** Both forms a step may write to GITHUB_OUTPUT: `name=value` and `name<<DELIMITER`...`DELIMITER`. */
function readOutputs(file: string): Record<string, string> {
  const outputs: Record<string, string> = {}
  const lines = fs.readFileSync(file, 'utf8').split('\n')
  for (let i = 0; i < lines.length; i++) {
    const heredoc = /^([^=<]+)<<(.+)$/.exec(lines[i])
    if (heredoc) {
      const value: string[] = []
      for (i++; i < lines.length && lines[i] !== heredoc[2]; i++) value.push(lines[i])
      outputs[heredoc[1]] = value.join('\n')
    } else if (lines[i].includes('=')) {
      const at = lines[i].indexOf('=')
      outputs[lines[i].slice(0, at)] = lines[i].slice(at + 1)
    }
  }
  return outputs
}

type How = 'ran' | 'emulated' | 'failed' | 'not run'
interface StepRecord {
  label: string
  id?: string
  how: How
  /** For an emulated step: what stood in for it. For a run step: its output. */
  detail: string
}

interface JobRun {
  steps: StepRecord[]
  actions: Map<string, ActionRun>
  outputs: Map<string, Record<string, string>>
  workspace: string
}

/** The job's service database: the URL the job env gives must be the one the postgres service offers. */
function serviceDatabase(job: Job): void {
  onlyKeys('services', job.services ?? {}, ['postgres'])
  const service = job.services?.postgres
  expect(service?.image).toBe('postgres:15')
  const url = new URL(String(job.env?.DATABASE_URL))
  expect(`${url.hostname}:${url.port}`).toBe('localhost:5432')
  expect(service?.ports).toEqual(['5432:5432'])
  expect({user: url.username, password: url.password, db: url.pathname.slice(1)}).toEqual({
    user: service?.env?.POSTGRES_USER,
    password: service?.env?.POSTGRES_PASSWORD,
    db: service?.env?.POSTGRES_DB
  })
}

const [jobName, theJob] = Object.entries(workflow.jobs)[0]

/**
 * Runs the job's steps for `event` against `databaseUrl` (the postgres service). `afterStep` runs
 * after each step that succeeded, with its id, to look at the database in between.
 */
async function runJob(options: {
  repo: Repository
  event: Event
  databaseUrl: string
  root: string
  afterStep?: (id: string | undefined) => Promise<void>
}): Promise<JobRun> {
  onlyKeys('the workflow', workflow, ['name', 'on', 'permissions', 'defaults', 'jobs'])
  onlyKeys(`job ${jobName}`, theJob, ['runs-on', 'services', 'env', 'steps', 'defaults'])
  serviceDatabase(theJob)
  const workspace = path.join(options.root, 'workspace')
  const runnerTemp = path.join(options.root, 'runner-temp')
  fs.mkdirSync(workspace)
  fs.mkdirSync(runnerTemp)
  const c: Context = {event: options.event, workspace, jobEnv: {}, outputs: new Map()}
  c.jobEnv = {...substituteAll(theJob.env, c), DATABASE_URL: options.databaseUrl}
  const defaults = {...workflow.defaults?.run, ...theJob.defaults?.run}
  const run: JobRun = {steps: [], actions: new Map(), outputs: c.outputs, workspace}
  let pythonOnPath = false
  const PATH = () => [...(pythonOnPath ? [path.dirname(pythonBin())] : []), PG_BIN, '/usr/local/bin', '/usr/bin', '/bin'].join(':')
  const runnerEnv = () => ({
    PATH: PATH(),
    HOME: process.env.HOME ?? '/root',
    LANG: 'C.UTF-8',
    CI: 'true',
    GITHUB_ACTIONS: 'true',
    GITHUB_WORKSPACE: workspace,
    GITHUB_EVENT_NAME: options.event.name,
    GITHUB_REF_NAME: options.event.refName,
    GITHUB_BASE_REF: options.event.baseRef,
    GITHUB_SHA: options.event.sha
  })
  let failed = false

  for (const [index, step] of theJob.steps.entries()) {
    onlyKeys(`step ${index + 1}`, step, ['name', 'id', 'uses', 'with', 'run', 'env', 'shell', 'working-directory'])
    const record: StepRecord = {label: stepLabel(step), id: step.id, how: 'not run', detail: ''}
    run.steps.push(record)
    if (failed) continue
    const inputs = substituteAll(step.with, c)
    const env = substituteAll(step.env, c)
    if (step.uses?.startsWith('actions/checkout@')) {
      onlyKeys(`${record.label} with`, inputs, ['path', 'ref', 'fetch-depth'])
      record.how = 'emulated'
      record.detail = `actions/checkout: ${checkout(options.repo, inputs, c)}`
    } else if (step.uses?.startsWith('actions/setup-python@')) {
      onlyKeys(`${record.label} with`, inputs, ['python-version'])
      pythonOnPath = true
      record.how = 'emulated'
      record.detail = `actions/setup-python ${inputs['python-version']}: ${path.dirname(pythonBin())} first on PATH`
    } else if (step.id?.startsWith('install-') && step.run !== undefined) {
      expect(step.run).toMatch(/pip install/)
      record.how = 'emulated'
      record.detail = `${step.run.trim()}: the packages are in ${path.dirname(path.dirname(pythonBin()))} already`
    } else if (step.uses !== undefined && THIS_ACTION.test(step.uses)) {
      // runAction gives the action its own RUNNER_TEMP, GITHUB_OUTPUT and GITHUB_STEP_SUMMARY.
      const action = await runAction(inputs, {env: {...runnerEnv(), ...c.jobEnv, ...env}})
      run.actions.set(step.id ?? `step ${index + 1}`, action)
      if (step.id) c.outputs.set(step.id, action.outputs)
      record.how = action.exitCode === 0 ? 'ran' : 'failed'
      record.detail = action.stdout + action.stderr
    } else if (step.run !== undefined && step.uses === undefined) {
      const shell = step.shell ?? defaults.shell ?? 'bash'
      const argv = {bash: ['bash', '--noprofile', '--norc', '-e', '-o', 'pipefail', '-c'], sh: ['sh', '-e', '-c']}[shell]
      if (!argv) throw new Error(`${record.label}: the test does not run shell ${shell}`)
      const outputFile = path.join(runnerTemp, `output-${index + 1}`)
      fs.writeFileSync(outputFile, '')
      const result = await runToEnd(argv[0], [...argv.slice(1), step.run], {
        cwd: path.join(workspace, step['working-directory'] ?? defaults['working-directory'] ?? ''),
        env: {...runnerEnv(), RUNNER_TEMP: runnerTemp, ...c.jobEnv, ...env, GITHUB_OUTPUT: outputFile}
      })
      if (step.id) c.outputs.set(step.id, readOutputs(outputFile))
      record.how = result.exitCode === 0 ? 'ran' : 'failed'
      record.detail = `exit ${result.exitCode}\n${result.stdout}${result.stderr}`
    } else {
      throw new Error(`${record.label}: the test neither runs nor emulates this step`)
    }
    if (record.how === 'failed') failed = true
    else await options.afterStep?.(step.id)
  }
  return run
}

/** `label: how` of every step, for one toEqual that shows the whole job when it differs. */
const outcomes = (run: JobRun): string[] => run.steps.map(s => `${s.label}: ${s.how}`)
const stepsWith = (run: JobRun, how: How): string[] => run.steps.filter(s => s.how === how).map(s => s.label)

function actionOf(run: JobRun, id: string): ActionRun {
  const action = run.actions.get(id)
  if (!action) throw new Error(`step ${id} did not run; the job:\n${outcomes(run).join('\n')}`)
  return action
}

/** The failure output of every step that failed, to make an unexpected failure readable. */
const failures = (run: JobRun): string =>
  run.steps
    .filter(s => s.how === 'failed')
    .map(s => `--- ${s.label}\n${s.detail}`)
    .join('\n')

const EMULATED = [
  'Check out the change',
  'Check out the previous release',
  'actions/setup-python@v5',
  'Install the previous release',
  'Install the change'
]

const roots: string[] = []
function tempRoot(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix))
  roots.push(dir)
  return dir
}
afterAll(() => {
  for (const dir of roots) fs.rmSync(dir, {recursive: true, force: true})
})

describe('docs/examples/rollback-rehearsal.yml', () => {
  it('runs on pull requests and v* tags, has one job with a postgres:15 service, and uses only expressions the test knows', () => {
    expect(workflow.on.pull_request).toBeDefined()
    expect(workflow.on.push?.tags).toEqual(['v*'])
    expect(Object.keys(workflow.jobs)).toEqual([jobName])
    serviceDatabase(theJob)
    const used = new Set([...workflowText.matchAll(EXPRESSION)].map(m => m[1].trim()))
    expect([...used].sort()).toEqual(Object.keys(EXPRESSIONS).sort())
    // Values reach scripts through env:, never by interpolation into the script's text.
    const interpolated = theJob.steps.filter(s => s.run?.includes('${{')).map(stepLabel)
    expect(interpolated).toEqual([])
    // The cutoff goes from its step to the action steps through GITHUB_OUTPUT.
    const cutoff = theJob.steps.find(s => s.id === 'cutoff')
    expect(cutoff?.run).toContain('>> "$GITHUB_OUTPUT"')
  })

  it('gives this action only inputs that action.yml declares (the runner only warns about others, and the action ignores them)', () => {
    const declared = Object.keys((parse(fs.readFileSync(path.join(REPO_ROOT, 'action.yml'), 'utf8')) as {inputs: object}).inputs)
    const given = theJob.steps.filter(s => s.uses !== undefined && THIS_ACTION.test(s.uses)).flatMap(s => Object.keys(s.with ?? {}))
    expect(given.length).toBeGreaterThan(0)
    expect([...new Set(given.filter(name => !declared.includes(name)))]).toEqual([])
  })

  it('Flagsmith v2.150.0 → v2.265.0 on a pull request: the trial plans it, the rollback restores v2.150.0, the change re-applies', async () => {
    const root = tempRoot('rehearsal-flagsmith-')
    const repo = makeRepository(root, flagsmithProject('v2.150.0'), flagsmithProject('v2.265.0'))
    const db = await createDatabase('rehearsal_fs')
    const seen: Record<string, {applied: string[]; tables: string[]}> = {}
    const snapshot = async () => ({applied: [...(await appliedMigrations(db))].sort(), tables: [...(await flagsmithTables(db))].sort()})
    const run = await runJob({
      repo,
      root,
      databaseUrl: db,
      event: {name: 'pull_request', baseRef: 'main', refName: '1/merge', sha: repo.headSha},
      afterStep: async id => {
        if (id === 'cutoff' || id === 'trial' || id === 'rollback') seen[id] = await snapshot()
      }
    })

    expect(failures(run)).toBe('')
    expect(stepsWith(run, 'emulated')).toEqual(EMULATED)
    expect(run.steps.every(s => s.how === 'ran' || s.how === 'emulated')).toBe(true)
    expect(run.outputs.get('previous')).toEqual({ref: 'main'})
    expect(run.outputs.get('cutoff')?.cutoff).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/)
    expect(fs.readFileSync(path.join(run.workspace, 'previous-schema.sql'), 'utf8')).toMatch(/CREATE TABLE public\.fsm_/)

    const sorted = (s: Set<string>) => [...s].sort()
    const atPrevious = {applied: sorted(expectedApplied('v2.150.0')), tables: sorted(expectedTables('v2.150.0'))}
    const atCurrent = {applied: sorted(expectedApplied('v2.265.0')), tables: sorted(expectedTables('v2.265.0'))}
    expect(seen.cutoff).toEqual(atPrevious)

    const trial = actionOf(run, 'trial')
    expect(trial.outputs.status).toBe('planned')
    expect(trial.outputs.changed).toBe('false')
    expect(seen.trial).toEqual(atCurrent)

    const rollback = actionOf(run, 'rollback')
    expect(rollback.outputs.status).toBe('rolled-back')
    expect(rollback.outputs.changed).toBe('true')
    expect(seen.rollback).toEqual(atPrevious)

    // The round trip: the change applies again on the rolled-back database, and showmigrations has no [ ].
    expect(await snapshot()).toEqual(atCurrent)
    expect(run.steps.at(-1)?.detail).toContain('Every migration of the change is applied again.')

    // expected-schema and rehearsal: the schema verdicts and the summaries' first line.
    expect(trial.outputs.schema).toBe('not-compared')
    expect(rollback.outputs.schema).toBe('matches')
    expect(trial.summary).toMatch(/^## ✅ Rehearsal: the rollback of this change went through in a trial; it drops 98 tables/)
    expect(rollback.summary).toMatch(/^## ✅ Rehearsal: this change can be rolled back, and the schema matches the previous release/)
  })

  it('the hazard project on a release tag: the rehearsal finds ledger.0002_backfill irreversible and the job stops there', async () => {
    const root = tempRoot('rehearsal-hazard-')
    // Release A: the hazard project less release B's migrations (its README.md, "Releases").
    const previousTree = path.join(root, 'previous-tree')
    copyTree(hazardProjectDir, previousTree)
    const releaseB = {
      catalog: ['0002', '0003', '0004', '0005', '0006', '0007'],
      search: ['0002', '0003'],
      ledger: ['0002'],
      archive: ['0002', '0003']
    }
    const removed: string[] = []
    for (const [app, numbers] of Object.entries(releaseB)) {
      const dir = path.join(previousTree, app, 'migrations')
      for (const file of fs.readdirSync(dir).filter(f => numbers.some(n => f.startsWith(`${n}_`)))) {
        fs.rmSync(path.join(dir, file))
        removed.push(`${app}.${file.replace(/\.py$/, '')}`)
      }
    }
    expect(removed).toHaveLength(11)
    const repo = makeRepository(root, previousTree, hazardProjectDir)
    const db = await createDatabase('rehearsal_hz')
    let atCutoff: string[] = []
    const run = await runJob({
      repo,
      root,
      databaseUrl: db,
      event: {name: 'push', baseRef: '', refName: 'v1.1.0', sha: repo.headSha},
      afterStep: async id => {
        if (id === 'cutoff') atCutoff = [...(await appliedMigrations(db))]
      }
    })

    // git describe found the tag before v1.1.0, and the previous release deployed without B.
    expect(run.outputs.get('previous')).toEqual({ref: 'v1.0.0'})
    expect(atCutoff.length).toBeGreaterThan(0)
    expect(atCutoff.filter(m => removed.includes(m))).toEqual([])

    expect(outcomes(run)).toEqual(
      theJob.steps.map(step => {
        const label = stepLabel(step)
        if (EMULATED.includes(label)) return `${label}: emulated`
        if (step.id === 'trial') return `${label}: failed`
        const beforeTrial = theJob.steps.indexOf(step) < theJob.steps.findIndex(s => s.id === 'trial')
        return `${label}: ${beforeTrial ? 'ran' : 'not run'}`
      })
    )
    const trial = actionOf(run, 'trial')
    expect(trial.exitCode).not.toBe(0)
    expect(trial.outputs.status).toBe('failed')
    expect(trial.outputs.changed).toBe('false')
    expect(trial.summary).toContain('ledger.0002_backfill')
    expect(trial.summary).toContain('noop-reverse')
    // Nothing changed: the change's 11 migrations are still applied.
    const applied = await appliedMigrations(db)
    expect(removed.filter(m => !applied.has(m))).toEqual([])

    // rehearsal: the summary's first line answers the question.
    expect(trial.summary).toMatch(/^## ⛔ Rehearsal: this change cannot be rolled back as it is/)
  })
})
