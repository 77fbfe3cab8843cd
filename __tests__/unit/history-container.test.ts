/**
 * history-source: container. src/django/history.py run through the real
 * LocalExecutor against the real Django project and PostgreSQL must give what
 * readHistory (a direct connection) gives: same rows, same microsecond text,
 * same verdicts on the cutoff.
 */
import {parseDatabaseUrl} from '../../src/database.js'
import fs from 'node:fs'
import path from 'node:path'
import type {Cutoff} from '../../src/config.js'
import {
  DEFAULT_DATABASE,
  checkDatabaseAlias,
  migrateArgv,
  scriptArgv,
  vendorArgv,
  vendorDatabaseRefusal,
  withDatabase
} from '../../src/django/commands.js'
import {historyScript} from '../../src/django/scripts.js'
import type {ExecResult, Executor} from '../../src/executors/executor.js'
import {LocalExecutor} from '../../src/executors/local.js'
import {RollbackError} from '../../src/errors.js'
import {readHistory} from '../../src/history.js'
import {HISTORY_PREFIX, historyArgv, historyInput, parseHistoryReport, readHistoryInContainer} from '../../src/history-container.js'
import {deployRelease, projectDir, rowsAfter, serverNow} from '../support/django-project.js'
import {createDatabase, query, testServer} from '../support/postgres.js'
import {REPO_ROOT, pythonBin} from '../support/python.js'

const cutoffOf = (utc: string): Cutoff => ({input: utc, utc, assumedUtc: false})

/** manage-command as a user would give it, with the container's environment spelled out (no shell involved). */
const manageCommand = (env: Record<string, string>): string[] => [
  '/usr/bin/env',
  'PYTHONDONTWRITEBYTECODE=1',
  ...Object.entries(env).map(([k, v]) => `${k}=${v}`),
  pythonBin(),
  path.join(projectDir, 'manage.py')
]

describe('the shipped script', () => {
  const source = (): string => fs.readFileSync(path.join(REPO_ROOT, 'src', 'django', 'history.py'), 'utf8')

  it('is src/django/history.py as it is in the repository (sent as is: see the next test)', () => {
    expect(historyScript()).toBe(source())
  })

  it('travels on stdin behind the same bootstrap as rollback.py, never on the command line', () => {
    expect(historyArgv(['python', 'manage.py'])).toEqual(scriptArgv(['python', 'manage.py']))
    const input = historyInput({version: 1, database: 'analytics', cutoff: null})
    expect(input).toBe(`${source()}\n#ROLLBACK-REQUEST\n{"version":1,"database":"analytics","cutoff":null}`)
  })
})

describe('reading the history through Django (real project, real PostgreSQL)', () => {
  let db: string
  let cutoff: Cutoff
  const local = new LocalExecutor()

  beforeAll(async () => {
    db = await createDatabase('histc')
    await deployRelease(db, 'A')
    cutoff = cutoffOf(await serverNow(db))
    await deployRelease(db, 'B')
  })

  it('equals readHistory: same rows, same microsecond text, same verdicts on the cutoff', async () => {
    const started = Date.now()
    const viaDjango = await readHistoryInContainer(local, manageCommand({DATABASE_URL: db}), 'default', cutoff)
    const seconds = (Date.now() - started) / 1000
    const direct = await readHistory(parseDatabaseUrl(db), cutoff)
    expect(viaDjango.rows).toEqual(direct.rows)
    expect(viaDjango.rows.length).toBeGreaterThan(30)
    for (const row of viaDjango.rows) expect(row.applied).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/)
    // now: the server clock, same format, read before the direct read
    expect(viaDjango.now).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/)
    expect(viaDjango.now <= direct.now).toBe(true)
    expect(viaDjango.now >= viaDjango.rows[viaDjango.rows.length - 1].applied).toBe(true)
    console.log(`history through the LocalExecutor (Django boot + query): ${seconds.toFixed(2)} s`)
  })

  it("PostgreSQL's verdicts are the rows at/after the cutoff, also when the cutoff is a row's exact microsecond", async () => {
    const direct = await readHistory(parseDatabaseUrl(db))
    const boundary = cutoffOf(direct.rows[Math.floor(direct.rows.length / 2)].applied)
    for (const c of [cutoff, boundary]) {
      const argv = historyArgv(manageCommand({DATABASE_URL: db}))
      const result = await local.exec(argv, {input: historyInput({version: 1, database: 'default', cutoff: c.utc})})
      const report = parseHistoryReport(result.stdout, result.stderr, result.exitCode)
      expect(result.exitCode).toBe(0)
      expect(report.error).toBeNull()
      expect(report.database).toBe('default')
      const after = report.rows.filter(r => r.afterCutoff).map(r => `${r.app}.${r.name}`)
      const expected = (await rowsAfter(db, c.utc)).map(r => `${r.app}.${r.name}`)
      expect(after.sort()).toEqual(expected.sort())
      expect(report.rows.every(r => typeof r.afterCutoff === 'boolean')).toBe(true)
      // and readHistoryInContainer's own cross-check passes
      await expect(readHistoryInContainer(local, manageCommand({DATABASE_URL: db}), 'default', c)).resolves.toEqual({
        rows: direct.rows,
        before: (await readHistory(parseDatabaseUrl(db), c)).before,
        now: expect.any(String)
      })
    }
    const at = boundary.utc
    expect((await rowsAfter(db, at)).some(r => r.applied === at)).toBe(true)
  })

  it('without a cutoff: every row, no verdicts', async () => {
    const result = await local.exec(historyArgv(manageCommand({DATABASE_URL: db})), {
      input: historyInput({version: 1, database: 'default', cutoff: null})
    })
    const report = parseHistoryReport(result.stdout, result.stderr, result.exitCode)
    expect(report.rows.every(r => r.afterCutoff === null)).toBe(true)
    const viaDjango = await readHistoryInContainer(local, manageCommand({DATABASE_URL: db}), 'default')
    expect(viaDjango.rows).toEqual((await readHistory(parseDatabaseUrl(db))).rows)
  })

  it('a database without django_migrations: asks whether it is the application database', async () => {
    const empty = await createDatabase('histc_empty')
    const read = readHistoryInContainer(local, manageCommand({DATABASE_URL: empty}), 'default', cutoff)
    await expect(read).rejects.toThrow(RollbackError)
    await expect(read).rejects.toThrow(
      /database alias 'default'.*failed: there is no django_migrations table in database alias 'default' \(histc_empty\S* on 127\.0\.0\.1\): is this the application's database/
    )
  })

  it('a wrong manage-command: no report line, says to check manage-command and shows the output', async () => {
    const wrong = [pythonBin(), path.join(projectDir, 'no-such-manage.py')]
    const read = readHistoryInContainer(local, wrong, 'default', cutoff)
    await expect(read).rejects.toThrow(RollbackError)
    await expect(read).rejects.toThrow(/exited with 2 without a history report\. Check manage-command[\s\S]*no-such-manage\.py/)
  })

  it("Django's own error is passed on (the container's database is down)", async () => {
    const down = `postgres://postgres@127.0.0.1:${testServer().port + 1}/nowhere`
    const read = readHistoryInContainer(local, manageCommand({DATABASE_URL: down}), 'default', cutoff)
    await expect(read).rejects.toThrow(/in the runner \(local\) failed: OperationalError: .*(connect|refused)/s)
  })

  it('an alias that is not in DATABASES is named, with the ones that are', async () => {
    const read = readHistoryInContainer(local, manageCommand({DATABASE_URL: db}), 'analytics', cutoff)
    await expect(read).rejects.toThrow(/no database alias 'analytics' in the application's Django settings \(DATABASES has: default\)/)
  })

  it('the microseconds survive: a row written with .000001 comes back as .000001', async () => {
    await query(
      db,
      `UPDATE django_migrations SET applied = '2001-02-03T04:05:06.000001Z' WHERE id = (SELECT min(id) FROM django_migrations)`
    )
    const viaDjango = await readHistoryInContainer(
      local,
      manageCommand({DATABASE_URL: db}),
      'default',
      cutoffOf('2001-02-03T04:05:06.000001Z')
    )
    expect(viaDjango.rows[0].applied).toBe('2001-02-03T04:05:06.000001Z')
    expect(viaDjango.rows).toEqual((await readHistory(parseDatabaseUrl(db))).rows)
  })
})

/** An executor that answers with a canned report. */
class CannedExecutor implements Executor {
  readonly where = 'canned'
  constructor(private readonly stdout: string) {}
  async exec(): Promise<ExecResult> {
    return {exitCode: 0, stdout: this.stdout, stderr: ''}
  }
  async close(): Promise<void> {}
}

describe('the cross-check', () => {
  it('refuses a report whose verdict disagrees with the text comparison', async () => {
    const report = {
      version: 1,
      database: 'default',
      django: '5.2',
      rows: [{id: 7, app: 'shop', name: '0004_product_sku', applied: '2024-01-01T00:00:00.000000Z', afterCutoff: true}],
      before: {count: 0, digest: ''},
      now: '2024-01-02T00:00:00.000000Z',
      error: null
    }
    const exec = new CannedExecutor(`noise\n${HISTORY_PREFIX}${JSON.stringify(report)}\n`)
    await expect(readHistoryInContainer(exec, ['m'], 'default', cutoffOf('2024-01-01T00:00:00.000001Z'))).rejects.toThrow(
      /internal check failed: PostgreSQL and the planner disagree on whether row 7 \(shop\.0004_product_sku/
    )
    await expect(readHistoryInContainer(exec, ['m'], 'default', cutoffOf('2024-01-01T00:00:00.000000Z'))).resolves.toEqual({
      rows: [{id: 7, app: 'shop', name: '0004_product_sku', applied: '2024-01-01T00:00:00.000000Z'}],
      before: {count: 0, digest: ''},
      now: '2024-01-02T00:00:00.000000Z'
    })
    const withoutSummary = new CannedExecutor(`${HISTORY_PREFIX}${JSON.stringify({...report, before: undefined})}\n`)
    await expect(readHistoryInContainer(withoutSummary, ['m'], 'default', cutoffOf('2024-01-01T00:00:00.000000Z'))).rejects.toThrow(
      /has no summary of the rows before the cutoff/
    )
  })
})

describe('database-alias on command lines', () => {
  const manage = ['python', 'manage.py']
  it('adds --database to migrate commands, and nothing for default', () => {
    expect(withDatabase(migrateArgv(manage, 'audit', '0001_initial'), DEFAULT_DATABASE)).toEqual(
      migrateArgv(manage, 'audit', '0001_initial')
    )
    expect(withDatabase(migrateArgv(manage, 'audit', 'zero'), 'analytics')).toEqual([
      'python',
      'manage.py',
      'migrate',
      'audit',
      'zero',
      '--database',
      'analytics'
    ])
  })

  it('refuses the vendor command and the script command lines', () => {
    const cutoff = cutoffOf('2024-01-01T00:00:00.000000Z')
    expect(() => withDatabase(vendorArgv(manage, cutoff), 'analytics')).toThrow(/has no --database option/)
    expect(withDatabase(vendorArgv(manage, cutoff), 'default')).toEqual(vendorArgv(manage, cutoff))
    expect(() => withDatabase(scriptArgv(manage), 'analytics')).toThrow(/in their request/)
    expect(vendorDatabaseRefusal('default')).toBeNull()
    expect(vendorDatabaseRefusal('analytics')).toMatch(
      /^database-alias is "analytics"\. Flagsmith's rollbackmigrationsappliedafter has no --database option/
    )
  })

  it('accepts settings keys only', () => {
    for (const ok of ['default', 'analytics', 'task_processor', 'db-2', 'x.y']) expect(checkDatabaseAlias(ok)).toBeNull()
    for (const bad of ['', '--database', 'a b', 'a;b', '$(x)', '-x']) expect(checkDatabaseAlias(bad)).toMatch(/not a Django database alias/)
  })
})
