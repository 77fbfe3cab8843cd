import {parseDatabaseUrl} from '../../src/database.js'
import {afterEach, beforeAll, describe, expect, it} from '@jest/globals'
import pg from 'pg'
import {isRollbackError} from '../../src/errors.js'
import {acquireRollbackLock, LOCK_APPLICATION_NAME, ROLLBACK_LOCK_KEY, type RollbackLock} from '../../src/lock.js'
import {createDatabase, query, testServer} from '../support/postgres.js'

let url: string
beforeAll(async () => {
  url = await createDatabase('lock')
})

const held: RollbackLock[] = []
async function acquire(databaseUrl = url, onLost?: (e: Error) => void): Promise<RollbackLock> {
  const lock = await acquireRollbackLock(parseDatabaseUrl(databaseUrl), {onLost: onLost ?? (() => undefined)})
  held.push(lock)
  return lock
}
afterEach(async () => {
  while (held.length) await held.pop()!.release()
})

describe('acquireRollbackLock', () => {
  it('takes a session-level advisory lock, outside any transaction, on a connection named django-migration-rollback', async () => {
    const started = Date.now()
    const lock = await acquire()
    const acquireMs = Date.now() - started
    const [row] = await query(
      url,
      `SELECT a.application_name, a.state, a.backend_xmin, l.mode, l.classid::text, l.objid::text
         FROM pg_locks l JOIN pg_stat_activity a USING (pid)
        WHERE l.locktype = 'advisory' AND l.pid = $1`,
      [lock.pid]
    )
    expect(row).toEqual({
      application_name: LOCK_APPLICATION_NAME,
      state: 'idle', // not "idle in transaction": no snapshot is held
      backend_xmin: null,
      mode: 'ExclusiveLock',
      classid: '623416982',
      objid: '1832989586'
    })
    expect(BigInt(ROLLBACK_LOCK_KEY)).toBe((623416982n << 32n) | 1832989586n)
    console.log(`lock acquired in ${acquireMs} ms`)
  })

  it('a second acquire fails at once, naming the holder (pid, application name, since when) and what to do', async () => {
    const first = await acquire()
    const started = Date.now()
    const error = await acquireRollbackLock(parseDatabaseUrl(url)).catch(e => e)
    expect(Date.now() - started).toBeLessThan(2000)
    expect(isRollbackError(error, 'lock-held')).toBe(true)
    const {port} = testServer()
    expect(error.message).toContain(`another rollback is running on 127.0.0.1:${port}`)
    expect(error.message).toContain(`pid ${first.pid}`)
    expect(error.message).toContain(`application_name "django-migration-rollback"`)
    expect(error.message).toContain('from 127.0.0.1')
    expect(error.message).toMatch(/connected since \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ/)
    expect(error.message).toContain(`SELECT pg_terminate_backend(${first.pid})`)
    // The failed attempt closed its own connection.
    const sessions = await query(url, `SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database()`, [
      LOCK_APPLICATION_NAME
    ])
    expect(sessions.map(s => s.pid)).toEqual([first.pid])
  })

  it('release() lets the next run in, and is safe to call twice', async () => {
    const first = await acquire()
    await first.release()
    await first.release()
    const second = await acquire()
    expect(second.pid).not.toBe(first.pid)
  })

  it('a terminated holder (pg_terminate_backend, or a dead runner) frees the lock without crashing the holder', async () => {
    const lost: Error[] = []
    const first = await acquire(url, e => lost.push(e))
    expect(isRollbackError(await acquireRollbackLock(parseDatabaseUrl(url)).catch(e => e), 'lock-held')).toBe(true)
    await query(url, 'SELECT pg_terminate_backend($1)', [first.pid])
    // The server releases session locks as the backend exits; give it a moment.
    let second: RollbackLock | undefined
    for (let i = 0; i < 50 && !second; i++) {
      second = await acquire().catch(() => undefined)
      if (!second) await new Promise(r => setTimeout(r, 50))
    }
    expect(second).toBeDefined()
    for (let i = 0; i < 50 && lost.length === 0; i++) await new Promise(r => setTimeout(r, 20))
    expect(lost).toHaveLength(1)
    expect(first.lost()).toBe(lost[0])
    await first.release() // nothing to do, must not throw
  })

  it('is per database: a rollback of another database is not excluded', async () => {
    await acquire()
    const other = await createDatabase('lock_other')
    await expect(acquire(other)).resolves.toBeDefined()
  })

  it('does not block ordinary queries, DDL or CREATE INDEX CONCURRENTLY in other sessions', async () => {
    await acquire()
    const client = new pg.Client({connectionString: url, statement_timeout: 5000})
    await client.connect()
    try {
      await client.query('CREATE TABLE lock_probe (id serial PRIMARY KEY, note text)')
      await client.query(`INSERT INTO lock_probe (note) SELECT 'n' || g FROM generate_series(1, 100) g`)
      // CIC waits for every transaction with an older snapshot: the lock session must hold none.
      await client.query('CREATE INDEX CONCURRENTLY lock_probe_note ON lock_probe (note)')
      await client.query('ALTER TABLE lock_probe ADD COLUMN extra int')
      expect((await client.query('SELECT count(*)::int AS n FROM lock_probe')).rows[0].n).toBe(100)
    } finally {
      await client.end()
    }
  })

  it('fails with the connection error (not a lock error) when the database is unreachable', async () => {
    const error = await acquireRollbackLock(parseDatabaseUrl('postgres://postgres@127.0.0.1:1/x'), {
      retry: {attempts: 2, baseDelayMs: 10, log: () => undefined}
    }).catch(e => e)
    expect(isRollbackError(error, 'lock-held')).toBe(false)
    expect(error.code).toBe('ECONNREFUSED')
  })
})
