/**
 * A real PostgreSQL 15 server for the tests: started once by global-setup.ts,
 * one fresh database per test file via createDatabase().
 */
import {execFileSync, spawnSync} from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import pg from 'pg'

const PG_BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin'

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

/** initdb and pg_ctl refuse root, so they run as the postgres OS user when we are root. */
function asPostgres(args: string[]): string[] {
  return process.getuid?.() === 0 ? ['runuser', '-u', 'postgres', '--', ...args] : args
}

function run(argv: string[]): void {
  const result = spawnSync(argv[0], argv.slice(1), {encoding: 'utf8'})
  if (result.status !== 0) {
    throw new Error(`${argv.join(' ')} failed (${result.status}): ${result.stderr}${result.stdout}`)
  }
}

export async function startPostgres(): Promise<PostgresServer> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rollback-pg-'))
  fs.chmodSync(dir, 0o755)
  if (process.getuid?.() === 0) execFileSync('chown', ['postgres:postgres', dir])
  const data = path.join(dir, 'data')
  const port = await freePort()
  run(asPostgres([`${PG_BIN}/initdb`, '-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync']))
  run(
    asPostgres([
      `${PG_BIN}/pg_ctl`, '-D', data, '-l', path.join(dir, 'log'), '-w', 'start',
      '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200`
    ])
  )
  return {dir, port, adminUrl: `postgres://postgres@127.0.0.1:${port}/postgres`}
}

export function stopPostgres(server: {dir: string}): void {
  run(asPostgres([`${PG_BIN}/pg_ctl`, '-D', path.join(server.dir, 'data'), '-m', 'immediate', 'stop']))
  fs.rmSync(server.dir, {recursive: true, force: true})
}

/** The server started by global-setup.ts. */
export function testServer(): PostgresServer {
  const raw = process.env.ROLLBACK_TEST_PG
  if (!raw) throw new Error('ROLLBACK_TEST_PG is not set: run the tests through jest (global-setup.ts starts PostgreSQL)')
  return JSON.parse(raw) as PostgresServer
}

let counter = 0
/** Creates an empty database with a unique name and returns its URL. */
export async function createDatabase(prefix: string): Promise<string> {
  const server = testServer()
  const name = `${prefix.replace(/[^a-z0-9_]/gi, '_').toLowerCase()}_${process.pid}_${++counter}`
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
