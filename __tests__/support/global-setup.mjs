// Starts one real PostgreSQL 15 server for the whole test run (plain JS: jest
// loads global setup with Node's own loader, outside ts-jest's module mapping).
// Tests create their own databases on it (postgres.ts: createDatabase).
import {execFileSync, spawnSync} from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'

const PG_BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin'

/** initdb and pg_ctl refuse root, so they run as the postgres OS user when we are root. */
export function asPostgres(args) {
  return process.getuid?.() === 0 ? ['runuser', '-u', 'postgres', '--', ...args] : args
}

function run(argv) {
  const result = spawnSync(argv[0], argv.slice(1), {encoding: 'utf8'})
  if (result.status !== 0) throw new Error(`${argv.join(' ')} failed (${result.status}): ${result.stderr}${result.stdout}`)
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const {port} = server.address()
      server.close(() => resolve(port))
    })
  })
}

export async function startPostgres() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rollback-pg-'))
  fs.chmodSync(dir, 0o755)
  if (process.getuid?.() === 0) execFileSync('chown', ['postgres:postgres', dir])
  const data = path.join(dir, 'data')
  const port = await freePort()
  run(asPostgres([`${PG_BIN}/initdb`, '-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync']))
  run(
    asPostgres([
      `${PG_BIN}/pg_ctl`,
      '-D',
      data,
      '-l',
      path.join(dir, 'log'),
      '-w',
      'start',
      '-o',
      `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300`
    ])
  )
  return {dir, port, adminUrl: `postgres://postgres@127.0.0.1:${port}/postgres`}
}

export function stopPostgres(server) {
  run(asPostgres([`${PG_BIN}/pg_ctl`, '-D', path.join(server.dir, 'data'), '-m', 'immediate', 'stop']))
  fs.rmSync(server.dir, {recursive: true, force: true})
}

export default async function globalSetup() {
  const server = await startPostgres()
  process.env.ROLLBACK_TEST_PG = JSON.stringify(server)
}
