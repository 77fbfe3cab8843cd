/**
 * main.ts's story with a fake executor in place of Django: a real PostgreSQL
 * holds django_migrations; the fake "target" reads the request the action
 * sends, changes the table as the scenario says (as Django would, or wrongly),
 * and answers with a report. The status, the failure and the outputs must
 * follow from what the database holds afterwards, not from what the target said.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import type {Config} from '../../src/config.js'
import {parseCutoff} from '../../src/cutoff.js'
import type {DjangoReport, ScriptRequest} from '../../src/django/commands.js'
import type {ExecOptions, ExecResult, Executor} from '../../src/executors/executor.js'
import {run} from '../../src/main.js'
import {parseOutputFile} from '../support/action.js'
import {djangoReport, requestOf, testConfig} from '../support/django-report.js'
import {createDatabase, query} from '../support/postgres.js'

const CUTOFF = '2024-05-01T11:00:00Z'
const BEFORE = [
  ['shop', '0001_initial', '2024-05-01T10:00:00.000001Z'],
  ['shop', '0002_price', '2024-05-01T10:00:00.000002Z']
]
const AFTER = [
  ['shop', '0003_stock', '2024-05-01T12:00:00.000001Z'],
  ['features', '0002_flag', '2024-05-01T12:00:00.000002Z']
]

async function historyDatabase(): Promise<string> {
  const url = await createDatabase('main_story')
  await query(url, 'CREATE TABLE django_migrations (id serial PRIMARY KEY, app varchar(255), name varchar(255), applied timestamptz)')
  for (const [app, name, applied] of [...BEFORE, ...AFTER]) {
    await query(url, 'INSERT INTO django_migrations (app, name, applied) VALUES ($1, $2, $3)', [app, name, applied])
  }
  return url
}

const applied = async (url: string): Promise<string[]> =>
  (await query<{m: string}>(url, "SELECT app || '.' || name AS m FROM django_migrations ORDER BY id")).map(r => r.m)

function report(request: ScriptRequest, overrides: Partial<DjangoReport> = {}): DjangoReport {
  const labels = request.after.map(r => `${r.app}.${r.name}`)
  return djangoReport({
    django: '5.2',
    plan: labels.map(migration => ({migration, operations: [{description: 'Undo Add field x', irreversible: false}], atomic: true})),
    segments: [{atomic: true, migrations: labels}],
    executed: request.execute ? labels : [],
    ...overrides
  })
}

type Scenario = (url: string, request: ScriptRequest) => Promise<DjangoReport>

/** Stands in for Django in the target: what it does to django_migrations is the scenario's. */
class FakeTarget implements Executor {
  readonly where = 'the fake target'
  requests: ScriptRequest[] = []
  closed = false
  constructor(
    private readonly url: string,
    private readonly scenario: Scenario
  ) {}

  async exec(_argv: string[], options: ExecOptions = {}): Promise<ExecResult> {
    const request = requestOf(options.input)
    this.requests.push(request)
    const answer = await this.scenario(this.url, request)
    return {exitCode: answer.error ? 1 : 0, stdout: `Some banner line\nROLLBACK-REPORT ${JSON.stringify(answer)}\n`, stderr: ''}
  }

  async close(): Promise<void> {
    this.closed = true
  }
}

const unapply = async (url: string, labels: string[]): Promise<void> => {
  for (const label of labels) {
    const [app, name] = label.split('.')
    await query(url, 'DELETE FROM django_migrations WHERE app = $1 AND name = $2', [app, name])
  }
}

/** As Django would: exactly S. */
const exact: Scenario = async (url, request) => {
  if (request.execute)
    await unapply(
      url,
      request.after.map(r => `${r.app}.${r.name}`)
    )
  return report(request)
}

const config = (url: string, overrides: Partial<Config> = {}): Config =>
  testConfig({target: {kind: 'datetime', cutoff: parseCutoff(CUTOFF)}, ...overrides}, url)

// One summary file for the whole file: @actions/core keeps the path it saw first.
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'main-story-'))
const saved = {output: process.env.GITHUB_OUTPUT, summary: process.env.GITHUB_STEP_SUMMARY}
beforeEach(() => {
  process.env.GITHUB_OUTPUT = path.join(work, 'output')
  process.env.GITHUB_STEP_SUMMARY = path.join(work, 'summary.md')
  fs.writeFileSync(process.env.GITHUB_OUTPUT, '')
  fs.writeFileSync(process.env.GITHUB_STEP_SUMMARY, '')
})
afterEach(() => {
  // core.setFailed sets the exit code of this process: a failed story must not fail the test run.
  process.exitCode = 0
  process.env.GITHUB_OUTPUT = saved.output
  process.env.GITHUB_STEP_SUMMARY = saved.summary
})
afterAll(() => fs.rmSync(work, {recursive: true, force: true}))

async function story(url: string, scenario: Scenario, overrides: Partial<Config> = {}) {
  const target = new FakeTarget(url, scenario)
  const outcome = await run({readInputs: () => config(url, overrides), createExecutor: async () => target})
  const outputs = parseOutputFile(fs.readFileSync(process.env.GITHUB_OUTPUT as string, 'utf8'))
  const summary = fs.readFileSync(process.env.GITHUB_STEP_SUMMARY as string, 'utf8')
  return {outcome, outputs, summary, target}
}

describe('main: the story with a fake target on a real database', () => {
  it('rolled back: the request carries S, the history read back proves it, the executor is closed', async () => {
    const url = await historyDatabase()
    const {outcome, outputs, target} = await story(url, exact)
    expect(target.requests[0].after.map(r => `${r.app}.${r.name}`)).toEqual(['features.0002_flag', 'shop.0003_stock'])
    expect(target.requests[0].execute).toBe(true)
    expect(outcome).toMatchObject({status: 'rolled-back', unchanged: false})
    expect(outcome.failure).toBeUndefined()
    expect(await applied(url)).toEqual(['shop.0001_initial', 'shop.0002_price'])
    expect(outputs.status).toBe('rolled-back')
    expect(JSON.parse(outputs['rolled-back'])).toEqual(['features.0002_flag', 'shop.0003_stock'])
    expect(outputs.changed).toBe('true')
    expect(target.closed).toBe(true)
    expect(outcome.lock).toMatch(/^held \(PostgreSQL session \d+\)$/)
  })

  it('a target that says it succeeded but left a row: failed, "remaining", naming it', async () => {
    const url = await historyDatabase()
    const {outcome, summary} = await story(url, async (db, request) => {
      await unapply(db, ['features.0002_flag'])
      return report(request)
    })
    expect(outcome.status).toBe('failed')
    expect(outcome.failure).toEqual({kind: 'remaining', migrations: ['shop.0003_stock']})
    expect(summary).toContain('Still applied at or after the cutoff: <code>shop.0003_stock</code>')
  })

  it('a target that also unapplied a row from before the cutoff: failed, "lost-before", naming it', async () => {
    const url = await historyDatabase()
    const {outcome} = await story(url, async (db, request) => {
      await unapply(db, ['features.0002_flag', 'shop.0003_stock', 'shop.0002_price'])
      return report(request)
    })
    expect(outcome.failure).toEqual({kind: 'lost-before', migrations: ['shop.0002_price'], unnamed: 0})
    expect(outcome.unchanged).toBe(false)
  })

  it('a connection lost part-way: "interrupted", and the state reached comes from the database', async () => {
    const url = await historyDatabase()
    const {outcome, summary} = await story(url, async db => {
      await unapply(db, ['features.0002_flag'])
      throw new Error('ssh: connection to the host closed')
    })
    expect(outcome.failure).toEqual({kind: 'interrupted', message: 'ssh: connection to the host closed'})
    expect(outcome.verification?.unapplied).toEqual(['features.0002_flag'])
    expect(outcome.unchanged).toBe(false)
    expect(summary).toContain('Unapplied: <code>features.0002_flag</code>')
  })

  it('refused by the check: nothing ran, nothing changed, every reason in the summary', async () => {
    const url = await historyDatabase()
    const {outcome, outputs, summary} = await story(url, async (_db, request) =>
      report(request, {
        blocked: true,
        problems: [
          {kind: 'irreversible', migration: 'shop.0003_stock', message: 'shop.0003_stock is irreversible', blocking: true, command: null}
        ]
      })
    )
    expect(outcome.failure?.kind).toBe('refused')
    expect(outcome.unchanged).toBe(true)
    expect(outputs.changed).toBe('false')
    expect(await applied(url)).toHaveLength(4)
    expect(summary).toContain('shop.0003_stock is irreversible')
    expect(summary).toContain('name the migration in noop-reverse')
  })

  it('a dry run asks the target to check only, and is planned with nothing changed', async () => {
    const url = await historyDatabase()
    const {outcome, target} = await story(url, exact, {dryRun: true})
    expect(target.requests[0].execute).toBe(false)
    expect(outcome).toMatchObject({status: 'planned', unchanged: true, lock: 'not needed for a dry run'})
    expect(await applied(url)).toHaveLength(4)
  })

  it('an input error: failed before any connection, the executor never created', async () => {
    let created = false
    const outcome = await run({
      readInputs: () => {
        throw new (class extends Error {})('never seen')
      },
      createExecutor: async () => {
        created = true
        throw new Error('unreachable')
      }
    })
    expect(outcome.failure).toEqual({kind: 'internal', message: 'never seen'})
    expect(outcome.unchanged).toBe(true)
    expect(created).toBe(false)
  })
})
