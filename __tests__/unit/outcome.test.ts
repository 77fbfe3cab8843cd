import {parseCutoff} from '../../src/cutoff.js'
import type {DjangoReport} from '../../src/django/commands.js'
import {decide, failureMessage, type RunFacts} from '../../src/outcome.js'
import {planRollback} from '../../src/plan.js'
import type {RunResult} from '../../src/rollback.js'
import type {Verification} from '../../src/verify.js'

const rows = [
  {id: 1, app: 'shop', name: '0001_initial', applied: '2024-05-01T10:00:00.000000Z'},
  {id: 2, app: 'shop', name: '0002_price', applied: '2024-05-01T12:00:00.000001Z'}
]
const plan = planRollback(rows, parseCutoff('2024-05-01T11:00:00Z'), '2030-01-01T00:00:00.000000Z')
const report = {
  plan: [{migration: 'shop.0002_price', operations: []}],
  rowsOnly: [],
  orphans: [],
  bookkeeping: []
} as unknown as DjangoReport
const run = (overrides: Partial<RunResult> = {}): RunResult => ({
  report,
  commands: [],
  refused: null,
  failed: null,
  djangoProcesses: 1,
  ...overrides
})
const verified = (overrides: Partial<Verification> = {}): Verification => ({
  unapplied: ['shop.0002_price'],
  remaining: [],
  lostBefore: [],
  lostBeforeUnnamed: 0,
  ...overrides
})
const facts = (overrides: Partial<RunFacts> = {}): RunFacts => ({
  dryRun: false,
  where: 'docker exec -i api',
  plan,
  run: run(),
  ...overrides
})

describe('decide', () => {
  it('rolled back: everything after the cutoff is gone, nothing before it', () => {
    expect(decide(facts({verification: verified()}))).toEqual({status: 'rolled-back', unchanged: false})
  })

  it('an error before the run: failed, unchanged, with its kind', () => {
    const d = decide({dryRun: false, stopped: {kind: 'lock-held', message: 'another rollback is running'}})
    expect(d).toEqual({status: 'failed', unchanged: true, failure: {kind: 'lock-held', message: 'another rollback is running'}})
  })

  it('an error after the verification keeps what the verification found', () => {
    const d = decide(facts({verification: verified(), stopped: {kind: 'dump', message: 'pg_dump failed'}}))
    expect(d.unchanged).toBe(false)
    expect(d.failure?.kind).toBe('dump')
  })

  it('nothing to roll back: no plan, an empty plan, or Django finds nothing it knows', () => {
    expect(decide({dryRun: false}).status).toBe('nothing-to-roll-back')
    const empty = {...report, plan: []} as DjangoReport
    expect(decide(facts({run: run({report: empty})})).status).toBe('nothing-to-roll-back')
  })

  it('refused: unchanged, with every reason', () => {
    const d = decide(facts({run: run({refused: ['a', 'b']})}))
    expect(d).toEqual({status: 'failed', unchanged: true, failure: {kind: 'refused', reasons: ['a', 'b']}})
    expect(failureMessage(d.failure!)).toBe('a\nb')
  })

  it('dry runs: planned, or the trial failure, never a change', () => {
    expect(decide(facts({dryRun: true}))).toEqual({status: 'planned', unchanged: true})
    const trial = decide(facts({dryRun: true, run: run({failed: {command: 'the trial in X', message: 'shop.0002_price: boom'}})}))
    expect(trial.failure).toEqual({kind: 'trial-failed', command: 'the trial in X', message: 'shop.0002_price: boom'})
    expect(trial.unchanged).toBe(true)
    expect(failureMessage(trial.failure!)).toBe('the trial in X failed: shop.0002_price: boom')
  })

  it('the history could not be read back: unverified, and never "unchanged"', () => {
    const d = decide(facts({readBackError: 'connection refused', runError: 'ssh: connection closed'}))
    expect(d.unchanged).toBe(false)
    expect(d.failure).toMatchObject({kind: 'unverified', where: 'docker exec -i api', during: 'ssh: connection closed'})
    expect(failureMessage(d.failure!)).toMatch(
      /^ssh: connection closed; the rollback ran in docker exec -i api, but reading django_migrations back failed: connection refused\. The database state is unknown/
    )
  })

  it('a broken-off run, a timeout and a failed command come before what the history shows', () => {
    const v = verified({unapplied: [], remaining: [rows[1]]})
    expect(decide(facts({runError: 'lost', verification: v})).failure).toEqual({kind: 'interrupted', message: 'lost'})
    const timedOut = {command: 'manage.py shell', seconds: 60, message: 'manage.py shell was stopped after 1 minute (command-timeout)'}
    expect(decide(facts({run: run({timedOut, failed: {command: 'x', message: 'y'}}), verification: v})).failure).toEqual({
      kind: 'timeout',
      ...timedOut
    })
    expect(decide(facts({runTimedOut: timedOut, verification: v})).failure?.kind).toBe('timeout')
    const failed = decide(facts({run: run({failed: {command: 'migrate shop 0001', message: 'exited with 1'}}), verification: v}))
    expect(failed).toEqual({
      status: 'failed',
      unchanged: true,
      failure: {kind: 'command-failed', command: 'migrate shop 0001', message: 'exited with 1'}
    })
  })

  it('rows before the cutoff lost, or rows after it left: failed, naming them', () => {
    const lost = decide(facts({verification: verified({lostBefore: ['shop.0001_initial'], lostBeforeUnnamed: 2})}))
    expect(lost.failure).toEqual({kind: 'lost-before', migrations: ['shop.0001_initial'], unnamed: 2})
    expect(failureMessage(lost.failure!)).toBe('migrations applied before the cutoff were unapplied: shop.0001_initial and 2 more rows')
    const left = decide(facts({verification: verified({unapplied: [], remaining: [rows[1]]})}))
    expect(left).toEqual({status: 'failed', unchanged: true, failure: {kind: 'remaining', migrations: ['shop.0002_price']}})
  })

  it('a schema that differs fails a rollback that otherwise went through', () => {
    const check = {
      path: 'a.sql',
      pgDump: 'pg_dump 15',
      partial: false,
      comparison: {equal: false, compared: 3, differences: [], skippedTables: []}
    }
    const d = decide(facts({verification: verified(), schema: check}))
    expect(d).toEqual({status: 'failed', unchanged: false, failure: {kind: 'schema-differs', check}})
  })
})
