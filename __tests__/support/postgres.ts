/**
 * A real PostgreSQL 15 server for the tests: started once by global-setup.mjs,
 * one fresh database per test file via createDatabase().
 */
import crypto from 'node:crypto'
import net from 'node:net'
import pg from 'pg'

export interface PostgresServer {
  dir: string
  port: number
  /** Superuser URL of the `postgres` database. */
  adminUrl: string
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.unref()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address() as net.AddressInfo
      server.close(() => resolve(address.port))
    })
  })
}

/** The server started by global-setup.mjs. */
export function testServer(): PostgresServer {
  const raw = process.env.ROLLBACK_TEST_PG
  if (!raw) throw new Error('ROLLBACK_TEST_PG is not set: run the tests through jest (global-setup.mjs starts PostgreSQL)')
  return JSON.parse(raw) as PostgresServer
}

let counter = 0
/**
 * Jest reuses a worker process for several test files and gives each file fresh
 * module state, so pid and counter alone can repeat: add randomness.
 */
export function uniqueSuffix(): string {
  return `${process.pid}_${crypto.randomBytes(3).toString('hex')}`
}

/** Creates an empty database with a unique name and returns its URL. */
export async function createDatabase(prefix: string): Promise<string> {
  const server = testServer()
  const name = `${prefix.replace(/[^a-z0-9_]/gi, '_').toLowerCase()}_${uniqueSuffix()}_${++counter}`
  const client = new pg.Client({connectionString: server.adminUrl})
  await client.connect()
  try {
    await client.query(`CREATE DATABASE "${name}"`)
  } finally {
    await client.end()
  }
  return `postgres://postgres@127.0.0.1:${server.port}/${name}`
}

/** Runs one query against a database URL and returns the rows. */
export async function query<T extends pg.QueryResultRow = pg.QueryResultRow>(
  url: string,
  sql: string,
  params: unknown[] = []
): Promise<T[]> {
  const client = new pg.Client({connectionString: url})
  await client.connect()
  try {
    return (await client.query<T>(sql, params)).rows
  } finally {
    await client.end()
  }
}
