/**
 * PostgreSQL restarted between the plan and the run, end to end: the built
 * action (`node dist/index.js`), executor local, the real Django test project,
 * on a PostgreSQL server of this file's own (never the shared one: other test
 * files use it at the same time). manage-command is a wrapper that restarts
 * that server (`pg_ctl restart -m fast`) the first time it is called, then
 * execs the real `python manage.py`: the action has read the history, planned
 * and taken the rollback lock; the restart ends the lock's session; Django
 * connects to the restarted server and runs the rollback; the action's
 * verification read connects again.
 */
import {afterAll, beforeAll, describe, expect, it} from '@jest/globals'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import pg from 'pg'
import {json, runAction, type ActionRun} from '../support/action.js'
import {appliedMigrations, columns, deployRelease, projectDir, serverNow, tables} from '../support/django-project.js'
import {pythonBin} from '../support/python.js'

interface PgServer {
  dir: string
  port: number
  adminUrl: string
}
interface GlobalSetup {
  startPostgres(): Promise<PgServer>
  stopPostgres(server: PgServer): void
  asPostgres(args: string[]): string[]
}
// Plain JS without type declarations: a specifier typed as string keeps tsc from resolving it.
const GLOBAL_SETUP: string = '../support/global-setup.mjs'
const PG_BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin'

let setup: GlobalSetup
let server: PgServer | undefined
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'rollback-restart-'))

beforeAll(async () => {
  setup = (await import(GLOBAL_SETUP)) as GlobalSetup
  server = await setup.startPostgres()
}, 120000)

afterAll(() => {
  if (server) setup.stopPostgres(server)
  fs.rmSync(work, {recursive: true, force: true})
})

async function adminQuery(sql: string): Promise<void> {
  const client = new pg.Client({connectionString: (server as PgServer).adminUrl})
  await client.connect()
  try {
    await client.query(sql)
  } finally {
    await client.end()
  }
}

async function schema(db: string): Promise<Record<string, string[]>> {
  const result: Record<string, string[]> = {}
  for (const table of await tables(db)) result[table] = await columns(db, table)
  return result
}

/** The postmaster's pid: it changes when the server restarts. */
function postmasterPid(): number {
  const text = fs.readFileSync(path.join((server as PgServer).dir, 'data', 'postmaster.pid'), 'utf8')
  return Number(text.split('\n')[0])
}

const shq = (value: string): string => `'${value.replace(/'/g, `'\\''`)}'`

/**
 * manage-command: on its first call (a marker file says it happened, and when) it either restarts the server
 * and then execs the real manage.py with the action's arguments ('before-django'), or runs manage.py, stops the
 * server as Django exits and starts it again a few seconds later in the background ('after-django': the
 * action's verification read finds the server down and must retry). pg_ctl's own output and the server's go to
 * files, so no server process inherits the pipes the action reads.
 */
function writeWrapper(
  name: string,
  mode: 'before-django' | 'after-django',
  downSeconds = 2
): {wrapper: string; marker: string; restartLog: string} {
  const srv = server as PgServer
  const wrapper = path.join(work, `${name}.sh`)
  const marker = path.join(work, `${name}.restarted`)
  const restartLog = path.join(work, `${name}.restart.log`)
  const pgCtl = (...args: string[]): string =>
    setup
      .asPostgres([`${PG_BIN}/pg_ctl`, '-D', path.join(srv.dir, 'data'), '-l', path.join(srv.dir, 'log'), '-w', '-t', '60', ...args])
      .map(shq)
      .join(' ')
  const manage = `${shq(pythonBin())} ${shq(path.join(projectDir, 'manage.py'))} "$@"`
  // cd /: the postgres OS user cannot enter RUNNER_TEMP (the action's cwd).
  const quiet = `< /dev/null >> ${shq(restartLog)} 2>&1`
  const lines =
    mode === 'before-django'
      ? [
          `if [ ! -e ${shq(marker)} ]; then`,
          `  date -u +%Y-%m-%dT%H:%M:%S.%NZ > ${shq(marker)}`,
          `  (cd / && ${pgCtl('restart', '-m', 'fast')}) ${quiet}`,
          'fi',
          `exec ${manage}`
        ]
      : [
          `if [ -e ${shq(marker)} ]; then exec ${manage}; fi`,
          `date -u +%Y-%m-%dT%H:%M:%S.%NZ > ${shq(marker)}`,
          'status=0',
          `${manage} || status=$?`,
          `(cd / && ${pgCtl('stop', '-m', 'fast')}) ${quiet}`,
          // start does not reuse postmaster.opts (restart does): the same options as global-setup.mjs.
          `(cd / && sleep ${downSeconds} && ${pgCtl('start', '-o', `-p ${srv.port} -k ${srv.dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300`)}) ${quiet} &`,
          'exit $status'
        ]
  fs.writeFileSync(wrapper, ['#!/bin/sh', 'set -e', ...lines, ''].join('\n'), {mode: 0o755})
  return {wrapper, marker, restartLog}
}

/** Release A, the cutoff, then release B, in a fresh database on this file's server. */
async function deployAThenB(name: string) {
  const srv = server as PgServer
  await adminQuery(`CREATE DATABASE "${name}"`)
  const db = `postgres://postgres@127.0.0.1:${srv.port}/${name}`
  await deployRelease(db, 'A')
  const releaseA = await appliedMigrations(db)
  const schemaA = await schema(db)
  const cutoff = await serverNow(db)
  await deployRelease(db, 'B')
  const afterB = await appliedMigrations(db, cutoff)
  expect(afterB.length).toBeGreaterThanOrEqual(10)
  return {db, releaseA, schemaA, cutoff, afterB}
}

const STOPPED = '## ⛔ Rollback stopped before any change: the database is as it was'
const LOCK_ROW = /<tr><th align="left">One rollback at a time<\/th><td>([^<]*)<\/td><\/tr>/
const RETRY_LINE = /^PostgreSQL at 127\.0\.0\.1:\d+\/\w+: .*retrying in [\d.]+ s \(attempt \d of \d\)$/

describe('PostgreSQL restarted between the plan and the run (its own server)', () => {
  it('the rollback completes: Django connects after the restart, the verification reconnects, the summary says the lock was lost', async () => {
    const name = `restart_${process.pid}`
    const {db, releaseA, schemaA, cutoff, afterB} = await deployAThenB(name)

    const {wrapper, marker, restartLog} = writeWrapper('manage', 'before-django')
    const pidBefore = postmasterPid()
    const started = Date.now()
    const run = await runAction(
      {'target-datetime': cutoff, 'database-url': db, executor: 'local', 'manage-command': wrapper},
      {env: {DATABASE_URL: db}}
    )
    const seconds = (Date.now() - started) / 1000

    // The server did restart, during the run (the wrapper ran only after the plan and the lock).
    expect(fs.existsSync(marker)).toBe(true)
    expect(postmasterPid()).not.toBe(pidBefore)
    expect(fs.readFileSync(restartLog, 'utf8')).toMatch(/server started/)

    const errorLine = run.stdout.split('\n').find(line => line.startsWith('::error::')) ?? ''
    expect(errorLine).toBe('')
    expect(run.exitCode).toBe(0)
    expect(run.outputs.status).toBe('rolled-back')
    expect(json(run.outputs['rolled-back']).sort()).toEqual(afterB)
    expect(await appliedMigrations(db)).toEqual(releaseA)
    expect(await schema(db)).toEqual(schemaA)

    // The lock's session died with the restart: the log warns, and the summary tells the person.
    expect(run.stdout).toMatch(/^::warning::the rollback lock on 127\.0\.0\.1:\d+\/\w+ was lost: /m)
    const lockRow = LOCK_ROW.exec(run.summary)?.[1] ?? ''
    expect(lockRow).toMatch(/^lock lost during the run \(.+\): another rollback could have started meanwhile$/)
    expect(lockRow).not.toContain('held (PostgreSQL session')
    expect(run.summary.split('\n')[0]).toMatch(/^## ✅ Rolled back \d+ migrations/)
    // The verification read connected to the restarted server; if it raced the restart, the retries are logged.
    const retries = run.stdout.split('\n').filter(line => RETRY_LINE.test(line))
    expect(run.leftInRunnerTemp).toEqual([])
    console.log(
      `restart between plan and run: ${json(run.outputs['rolled-back']).length} migrations rolled back in ${seconds.toFixed(1)} s; ` +
        `postmaster ${pidBefore} -> ${postmasterPid()}; ${retries.length} retry line(s); summary: ${lockRow}`
    )
    await adminQuery(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`).catch(() => undefined)
  }, 180000)

  it('restarted as Django exits, before the verification read: the read retries (logged) and proves the result', async () => {
    const name = `restart_verify_${process.pid}`
    const {db, releaseA, schemaA, cutoff, afterB} = await deployAThenB(name)

    const {wrapper, marker, restartLog} = writeWrapper('verify', 'after-django')
    const pidBefore = postmasterPid()
    const started = Date.now()
    const run = await runAction(
      {'target-datetime': cutoff, 'database-url': db, executor: 'local', 'manage-command': wrapper},
      {env: {DATABASE_URL: db}}
    )
    const seconds = (Date.now() - started) / 1000

    expect(fs.existsSync(marker)).toBe(true)
    expect(fs.readFileSync(restartLog, 'utf8')).toMatch(/server stopped[\s\S]*server started/)
    expect(postmasterPid()).not.toBe(pidBefore)

    const errorLine = run.stdout.split('\n').find(line => line.startsWith('::error::')) ?? ''
    expect(errorLine).toBe('')
    expect(run.exitCode).toBe(0)
    expect(run.outputs.status).toBe('rolled-back')
    // rolled-back comes from the verification read: it did reach the restarted server.
    expect(json(run.outputs['rolled-back']).sort()).toEqual(afterB)
    expect(await appliedMigrations(db)).toEqual(releaseA)
    expect(await schema(db)).toEqual(schemaA)

    const retries = run.stdout.split('\n').filter(line => RETRY_LINE.test(line))
    expect(retries.length).toBeGreaterThanOrEqual(1)
    expect(retries[0]).toMatch(/connection refused|the database system is (starting up|shutting down)/)
    expect(run.stdout).not.toMatch(/giving up after/)
    const lockRow = LOCK_ROW.exec(run.summary)?.[1] ?? ''
    expect(lockRow).toMatch(/^lock lost during the run \(.+\): another rollback could have started meanwhile$/)
    expect(run.leftInRunnerTemp).toEqual([])
    console.log(`restart before the verification read: ${seconds.toFixed(1)} s; retries: ${retries.join(' | ')}; summary: ${lockRow}`)
    await adminQuery(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`).catch(() => undefined)
  }, 180000)
})

/**
 * The server stays down longer than the verification read retries (1 + 2 + 4 s): the rollback itself ran to the
 * end, then the action cannot read the history back. It must fail (it cannot prove the result), but it must not
 * tell the person the database is untouched.
 */
describe('PostgreSQL down from the end of the run until after the verification read gave up', () => {
  let run: ActionRun
  let d: Awaited<ReturnType<typeof deployAThenB>>

  beforeAll(async () => {
    d = await deployAThenB(`restart_long_${process.pid}`)
    const {wrapper} = writeWrapper('long', 'after-django', 12)
    run = await runAction(
      {'target-datetime': d.cutoff, 'database-url': d.db, executor: 'local', 'manage-command': wrapper},
      {env: {DATABASE_URL: d.db}}
    )
    // The wrapper's background start brings the server back; wait for it (afterAll stops it, the next checks read it).
    for (let i = 0; ; i++) {
      try {
        await adminQuery('SELECT 1')
        break
      } catch (error) {
        if (i > 150) throw error
        await new Promise(resolve => setTimeout(resolve, 200))
      }
    }
  }, 180000)

  it('the run fails after retrying, with the lock lost; the rollback did happen: the database is at release A', async () => {
    expect(run.exitCode).not.toBe(0)
    expect(run.outputs.status).toBe('failed')
    expect(run.stdout).toMatch(/^PostgreSQL at 127\.0\.0\.1:\d+\/\w+: connection refused; giving up after 4 attempts$/m)
    expect(run.stdout).toMatch(
      /^::error::the rollback ran in .*, but reading django_migrations back failed: could not connect to PostgreSQL at .*connection refused/m
    )
    expect(run.stdout).toMatch(/Unapplying accounts\.0002_profile_bio\.\.\. OK/)
    expect(LOCK_ROW.exec(run.summary)?.[1]).toMatch(/^lock lost during the run /)
    // What the person must learn from the summary: everything after the cutoff is gone.
    expect(await appliedMigrations(d.db, d.cutoff)).toEqual([])
    expect(await appliedMigrations(d.db)).toEqual(d.releaseA)
    expect(await schema(d.db)).toEqual(d.schemaA)
  })

  // When the read-back fails, the state is unknown: the summary must not say nothing changed.
  it('the summary does not claim the database is as it was, and says the commands ran', () => {
    const headline = run.summary.split('\n')[0]
    expect(headline).not.toBe(STOPPED)
    expect(headline).toBe('## ❌ Rollback ran, but its result could not be verified')
    expect(run.summary).toContain('The database state is unknown: run again with the same inputs')
    expect(run.summary).not.toContain('Nothing was unapplied')
    expect(run.summary).toContain('### Ran\n')
    expect(run.summary).not.toContain('### Would run')
  })
})
