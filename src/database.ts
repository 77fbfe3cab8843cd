/**
 * The application database as the runner reaches it: database-url parsed once
 * (or the runner's PG* variables), how to name it in messages without the
 * credentials, and what a connection failure means in words.
 */
import type {Database} from './config.js'
import {inputError, RollbackError} from './errors.js'

const EXPECTED = 'expected postgres://user:password@host:5432/name'

/** libpq's names for the query parameters a URL may carry. */
const QUERY_TO_LIBPQ: Record<string, string> = {
  host: 'PGHOST',
  port: 'PGPORT',
  user: 'PGUSER',
  password: 'PGPASSWORD',
  dbname: 'PGDATABASE',
  sslmode: 'PGSSLMODE',
  sslrootcert: 'PGSSLROOTCERT',
  sslcert: 'PGSSLCERT',
  sslkey: 'PGSSLKEY',
  sslcrl: 'PGSSLCRL',
  connect_timeout: 'PGCONNECT_TIMEOUT',
  application_name: 'PGAPPNAME',
  options: 'PGOPTIONS',
  target_session_attrs: 'PGTARGETSESSIONATTRS'
}

/** database-url, checked: a postgres:// URL with a host. */
export function parseDatabaseUrl(value: string): Database {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw inputError(`database-url is not a URL: ${EXPECTED}`)
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw inputError(`database-url has scheme ${JSON.stringify(url.protocol)}: ${EXPECTED}`)
  }
  const libpq: Record<string, string> = {}
  const host = decodeURIComponent(url.hostname.replace(/^\[(.*)\]$/, '$1')) // IPv6 literals lose their brackets
  if (host) libpq.PGHOST = host
  if (url.port) libpq.PGPORT = url.port
  if (url.username) libpq.PGUSER = decodeURIComponent(url.username)
  if (url.password) libpq.PGPASSWORD = decodeURIComponent(url.password)
  const name = decodeURIComponent(url.pathname.replace(/^\//, ''))
  if (name) libpq.PGDATABASE = name
  for (const [key, v] of url.searchParams) if (QUERY_TO_LIBPQ[key]) libpq[QUERY_TO_LIBPQ[key]] = v
  if (!libpq.PGHOST) throw inputError(`database-url has no host: ${EXPECTED}`)
  return {url: value, where: whereOf(libpq), name: libpq.PGDATABASE, libpq}
}

/** No database-url: node-postgres and pg_dump read the runner's PG* variables themselves. */
export function databaseFromEnvironment(env: NodeJS.ProcessEnv = process.env): Database {
  const libpq: Record<string, string> = {}
  for (const key of ['PGHOST', 'PGPORT', 'PGDATABASE', 'PGUSER']) if (env[key]) libpq[key] = env[key] as string
  return {where: `${whereOf(libpq)} (PG* variables)`, name: env.PGDATABASE || undefined, libpq: {}}
}

function whereOf(libpq: Record<string, string>): string {
  return `${libpq.PGHOST || 'localhost'}:${libpq.PGPORT || 5432}/${libpq.PGDATABASE || libpq.PGUSER || '(default database)'}`
}

/** "PostgreSQL at host:port/name", for logs and retry lines. */
export const describePostgres = (database: Database): string => `PostgreSQL at ${database.where}`

/** A connection or read failure in words that say what to check; also used for the lock's connection. */
export function databaseError(error: unknown, database: Database): RollbackError {
  const where = database.where
  const e = error as {code?: string; message?: string}
  const reason = e.message ?? String(error)
  const fail = (message: string): RollbackError => new RollbackError('database', message, {cause: error})
  switch (e.code) {
    case 'ECONNREFUSED':
      return fail(
        `could not connect to PostgreSQL at ${where}: connection refused. Check database-url's host and port, ` +
          'and that this runner can reach the database (a private database needs a self-hosted runner or a tunnel)'
      )
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return fail(`could not connect to PostgreSQL at ${where}: the host name does not resolve. Check database-url's host`)
    case 'ETIMEDOUT':
      return fail(`could not connect to PostgreSQL at ${where}: timed out. Check the host, port and firewall`)
    case '28P01':
    case '28000':
      return fail(`PostgreSQL at ${where} rejected the credentials: check the user and password in database-url (${reason})`)
    case '3D000':
      return fail(`PostgreSQL at ${where}: ${reason}. Check the database name in database-url`)
    case '42P01':
      return fail(
        `there is no django_migrations table in ${where}: is database-url the application's database ` +
          '(the one its Django settings use)?'
      )
    default:
      if (/timeout/i.test(reason)) return fail(`could not connect to PostgreSQL at ${where}: ${reason}. Check the host, port and firewall`)
      return fail(`reading django_migrations from ${where} failed: ${reason}`)
  }
}
