import * as core from '@actions/core'
import type pg from 'pg'
import type {Database} from './config.js'
import {describePostgres} from './database.js'
import {RollbackError} from './errors.js'
import {connectPostgres, type RetryOptions} from './retry.js'

/**
 * The advisory lock key every run of this action takes, in the database it
 * rolls back: the first 8 bytes of sha256("django-migration-rollback") as a
 * signed bigint (0x252896966d413392). A constant, not hashtext(), so it is the
 * same on every server version and anyone can look for it:
 *   SELECT * FROM pg_locks WHERE locktype = 'advisory' AND classid = 623416982 AND objid = 1832989586
 * Advisory locks are per database, so rollbacks of different databases on one
 * server do not exclude each other.
 */
export const ROLLBACK_LOCK_KEY = '2677555551294010258'

export const LOCK_APPLICATION_NAME = 'django-migration-rollback'

export interface LockHolder {
  pid: number
  applicationName: string | null
  user: string | null
  clientAddress: string | null
  /** ISO 8601 UTC: when the holder's session started (it took the lock right after connecting). */
  backendStart: string | null
  /** ISO 8601 UTC: when the holder's last statement started. */
  queryStart: string | null
  state: string | null
}

export interface RollbackLock {
  /** The backend pid of the session holding the lock, for logs and the summary. */
  readonly pid: number
  /** Set when the session ended before release() (server restart, pg_terminate_backend): the lock is gone. */
  lost(): Error | undefined
  /** Unlocks and closes the session; safe to call twice and after the session was lost. */
  release(): Promise<void>
}

export interface LockOptions {
  retry?: RetryOptions
  /** Told when the session holding the lock ends early. Default core.warning. */
  onLost?: (error: Error) => void
}

/**
 * The holder, from pg_locks: a bigint advisory key shows as classid = high 32
 * bits, objid = low 32 bits, objsubid = 1, in the current database.
 */
const HOLDER_SQL = `
  SELECT l.pid, a.application_name, a.usename, host(a.client_addr) AS client_addr, a.client_hostname, a.state,
         to_char(a.backend_start AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS backend_start,
         to_char(a.query_start AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS query_start
    FROM pg_locks l
    LEFT JOIN pg_stat_activity a ON a.pid = l.pid
   WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
     AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
     AND l.classid = (($1::bigint >> 32) & 4294967295)::oid
     AND l.objid = ($1::bigint & 4294967295)::oid
     AND l.pid <> pg_backend_pid()
   LIMIT 1`

async function findHolder(client: pg.Client): Promise<LockHolder | undefined> {
  const {rows} = await client.query(HOLDER_SQL, [ROLLBACK_LOCK_KEY])
  const row = rows[0]
  if (!row) return undefined
  return {
    pid: Number(row.pid),
    applicationName: row.application_name ?? null,
    user: row.usename ?? null,
    clientAddress: row.client_hostname ?? row.client_addr ?? null,
    backendStart: row.backend_start ?? null,
    queryStart: row.query_start ?? null,
    state: row.state ?? null
  }
}

function heldMessage(where: string, holder: LockHolder | undefined): string {
  if (!holder) {
    return (
      `another rollback held the lock on ${where} a moment ago and has just released it: ` +
      'run this one again once you have checked what that run did'
    )
  }
  const who = [
    `pid ${holder.pid}`,
    `application_name "${holder.applicationName ?? '?'}"`,
    holder.user ? `user ${holder.user}` : undefined,
    `from ${holder.clientAddress ?? 'a local socket or an address hidden from this user'}`,
    holder.backendStart ? `connected since ${holder.backendStart}` : undefined,
    holder.queryStart ? `last statement at ${holder.queryStart}` : undefined
  ]
    .filter(Boolean)
    .join(', ')
  return (
    `another rollback is running on ${where}: the session (${who}) holds the rollback lock. ` +
    'Wait for that run to finish (see its job summary), then check the history before running again. ' +
    `If that run is dead (its job was cancelled or its runner lost) and the session lingers, end it with ` +
    `SELECT pg_terminate_backend(${holder.pid}); the lock is released with the session.`
  )
}

/**
 * Takes the session-level advisory lock on a dedicated connection, outside
 * any transaction: it never holds a snapshot, so Django's migrations (even
 * CREATE INDEX CONCURRENTLY) do not wait for it, and it ends with the session
 * if this process dies. Fails at once, without waiting, if another run holds it.
 */
export async function acquireRollbackLock(database: Database, options: LockOptions = {}): Promise<RollbackLock> {
  const where = database.where
  const client = await connectPostgres(
    {
      connectionString: database.url,
      connectionTimeoutMillis: 15000,
      application_name: LOCK_APPLICATION_NAME,
      // Notices a vanished network path while the run is long.
      keepAlive: true
    },
    describePostgres(database),
    options.retry
  )
  let lostError: Error | undefined
  let released = false
  // Without a listener an idle client's error (terminated session, server restart) would crash the process.
  client.on('error', error => {
    if (released || lostError) return
    lostError = error
    ;(options.onLost ?? (e => core.warning(`the rollback lock on ${where} was lost: ${e.message}`)))(error)
  })
  try {
    const {rows} = await client.query<{locked: boolean; pid: number}>(
      'SELECT pg_try_advisory_lock($1::bigint) AS locked, pg_backend_pid() AS pid',
      [ROLLBACK_LOCK_KEY]
    )
    if (!rows[0].locked) {
      const holder = await findHolder(client)
      throw new RollbackError('lock-held', heldMessage(where, holder))
    }
    const pid = Number(rows[0].pid)
    return {
      pid,
      lost: () => lostError,
      async release() {
        if (released) return
        released = true
        if (!lostError) {
          // Closing the session would release it too; unlocking first says so explicitly in the server log.
          await client.query('SELECT pg_advisory_unlock($1::bigint)', [ROLLBACK_LOCK_KEY]).catch(() => undefined)
        }
        await client.end().catch(() => undefined)
      }
    }
  } catch (error) {
    released = true
    await client.end().catch(() => undefined)
    throw error
  }
}
