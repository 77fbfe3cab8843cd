/**
 * checkAndRun with a fake target: what is asked of the rollback script per
 * strategy, and how its answer and the commands' exits become the RunResult.
 * (The real script runs in __tests__/unit/django and the e2e suites.)
 */
import type {Config} from '../../src/config.js'
import {parseCutoff} from '../../src/cutoff.js'
import type {DjangoReport, ScriptRequest} from '../../src/django/commands.js'
import type {ExecOptions, ExecResult, Executor} from '../../src/executors/executor.js'
import {CommandTimeoutError} from '../../src/executors/timeout.js'
import {planRollback} from '../../src/plan.js'
import {checkAndRun} from '../../src/rollback.js'
import {djangoReport, requestOf, testConfig} from '../support/django-report.js'

const plan = planRollback(
  [
    {id: 1, app: 'shop', name: '0001_initial', applied: '2024-05-01T10:00:00.000000Z'},
    {id: 2, app: 'shop', name: '0002_price', applied: '2024-05-01T12:00:00.000001Z'},
    {id: 3, app: 'audit', name: '0001_initial', applied: '2024-05-01T12:00:00.000002Z'}
  ],
  parseCutoff('2024-05-01T11:00:00Z'),
  '2030-01-01T00:00:00.000000Z'
)

const config = (overrides: Partial<Config> = {}): Config => testConfig({target: {kind: 'datetime', cutoff: plan.cutoff}, ...overrides})

const report = (overrides: Partial<DjangoReport> = {}): DjangoReport =>
  djangoReport({
    plan: [{migration: 'shop.0002_price', operations: []}],
    commands: [
      {
        app: 'shop',
        target: '0001_initial',
        resolved: '0001_initial',
        error: null,
        plan: [{migration: 'shop.0002_price', backwards: true}],
        irreversible: []
      },
      {
        app: 'audit',
        target: 'zero',
        resolved: 'zero',
        error: null,
        plan: [{migration: 'audit.0001_initial', backwards: true}],
        irreversible: []
      }
    ],
    perApp: [
      {app: 'shop', target: '0001_initial'},
      {app: 'audit', target: 'zero'}
    ],
    hasFlagsmithCommand: true,
    ...overrides
  })

/** Answers the script with `answer`; every other command with the next of `exits` (or throws it). */
class FakeTarget implements Executor {
  readonly where = 'the fake target'
  requests: ScriptRequest[] = []
  commands: string[][] = []
  constructor(
    private readonly answer: DjangoReport,
    private readonly exits: Array<number | Error> = []
  ) {}

  async exec(argv: string[], options: ExecOptions = {}): Promise<ExecResult> {
    if (argv.includes('shell')) {
      this.requests.push(requestOf(options.input))
      return {exitCode: this.answer.error ? 1 : 0, stdout: `ROLLBACK-REPORT ${JSON.stringify(this.answer)}\n`, stderr: ''}
    }
    this.commands.push(argv)
    const exit = this.exits.shift() ?? 0
    if (exit instanceof Error) throw exit
    return {exitCode: exit, stdout: '', stderr: exit ? 'django.db.utils.IntegrityError: boom' : ''}
  }

  async close(): Promise<void> {}
}

describe('checkAndRun', () => {
  it('exact: the script executes the plan itself, one Django process, nothing after it', async () => {
    const target = new FakeTarget(report())
    const result = await checkAndRun(target, config(), plan)
    expect(target.requests[0]).toMatchObject({execute: true, commands: [], perApp: [{app: 'audit'}, {app: 'shop'}]})
    expect(target.commands).toEqual([])
    expect(result).toMatchObject({refused: null, failed: null, djangoProcesses: 1})
  })

  it('exact, stopped by its own command-timeout: the timeout is read from the exception class, not parsed from a message', async () => {
    const error = {message: 'CommandTimeout: whatever the text', exception: 'CommandTimeout', migration: 'shop.0002_price'}
    const result = await checkAndRun(new FakeTarget(report({error})), config({commandTimeoutSeconds: 90}), plan)
    expect(result.timedOut).toEqual({
      command: 'python manage.py shell (script on stdin)',
      seconds: 90,
      message:
        'python manage.py shell (script on stdin) was stopped after 1.5 minutes (command-timeout) while unapplying shop.0002_price, which was rolled back with its transaction'
    })
    expect(result.failed).toEqual({
      command: 'the rollback script in the fake target',
      message: 'stopped after 1.5 minutes (command-timeout) while unapplying shop.0002_price, which was rolled back with its transaction'
    })
  })

  it('a blocking finding refuses before anything runs, with the advice for irreversible steps', async () => {
    const problems = [
      {kind: 'irreversible', migration: 'shop.0002_price', message: 'shop.0002_price is irreversible', blocking: true, command: null}
    ]
    const target = new FakeTarget(report({problems} as Partial<DjangoReport>))
    const result = await checkAndRun(target, config({strategy: 'per-app'}), plan)
    expect(result.refused?.[0]).toBe('shop.0002_price is irreversible')
    expect(result.refused?.[1]).toContain('name the migration in noop-reverse')
    expect(target.commands).toEqual([])
  })

  it('per-app: runs the checked commands in order and stops at the first that fails', async () => {
    const target = new FakeTarget(report(), [0, 1])
    const result = await checkAndRun(target, config({strategy: 'per-app'}), plan)
    expect(target.requests[0].execute).toBe(false)
    expect(target.commands).toEqual([
      ['python', 'manage.py', 'migrate', 'shop', '0001_initial'],
      ['python', 'manage.py', 'migrate', 'audit', 'zero']
    ])
    expect(result.failed).toEqual({
      command: 'python manage.py migrate audit zero',
      message: 'exited with 1:\ndjango.db.utils.IntegrityError: boom'
    })
    expect(result.djangoProcesses).toBe(3)
  })

  it('per-app: a command stopped by command-timeout ends the run, as data', async () => {
    const stopped = new CommandTimeoutError('python manage.py migrate shop 0001_initial', 60, 'ended in the target')
    const result = await checkAndRun(new FakeTarget(report(), [stopped]), config({strategy: 'per-app'}), plan)
    expect(result.timedOut).toEqual({command: 'python manage.py migrate shop 0001_initial', seconds: 60, message: stopped.message})
    expect(result.failed?.message).toBe('stopped after 1 minute (command-timeout): ended in the target')
  })

  it('flagsmith: a dry run lists the vendor command and runs nothing', async () => {
    const target = new FakeTarget(report())
    const result = await checkAndRun(target, config({strategy: 'flagsmith', dryRun: true}), plan)
    expect(result.commands).toEqual(['python manage.py rollbackmigrationsappliedafter 2024-05-01T11:00:00.000000+00:00'])
    expect(target.commands).toEqual([])
  })
})
