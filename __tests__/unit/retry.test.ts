import net from 'node:net'
import {afterEach, describe, expect, it} from '@jest/globals'
import {connectPostgres, isTransientPgError, withRetries} from '../../src/retry.js'
import {createDatabase, freePort, testServer} from '../support/postgres.js'

/** An ErrorResponse as a PostgreSQL server sends it during startup. */
function errorResponse(code: string, message: string): Buffer {
  const fields = Buffer.concat([Buffer.from(`SFATAL\0VFATAL\0C${code}\0M${message}\0`, 'utf8'), Buffer.from([0])])
  const header = Buffer.alloc(5)
  header.write('E', 0)
  header.writeInt32BE(fields.length + 4, 1)
  return Buffer.concat([header, fields])
}

/**
 * A listener on `port` that answers the first `failures` connections with
 * `fail` (an ErrorResponse, or hanging up) and forwards the rest to the real
 * test PostgreSQL.
 */
function flakyServer(port: number, failures: number, fail: Buffer | 'hang-up') {
  let connections = 0
  const sockets = new Set<net.Socket>()
  const server = net.createServer(socket => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', () => undefined)
    if (++connections <= failures) {
      if (fail === 'hang-up') socket.destroy()
      else socket.once('data', () => socket.end(fail))
      return
    }
    const upstream = net.connect(testServer().port, '127.0.0.1')
    sockets.add(upstream)
    upstream.on('error', () => socket.destroy())
    socket.on('error', () => upstream.destroy())
    socket.pipe(upstream).pipe(socket)
  })
  const listening = new Promise<void>(resolve => server.listen(port, '127.0.0.1', resolve))
  return {
    listening,
    connections: () => connections,
    close: () =>
      new Promise<void>(resolve => {
        for (const s of sockets) s.destroy()
        server.close(() => resolve())
      })
  }
}

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!()
})

const urlOn = (port: number, db = 'postgres', user = 'postgres') => `postgres://${user}:secret@127.0.0.1:${port}/${db}`
/** How the retry lines name the server (main.ts passes describePostgres(database)). */
const where = (url: string): string => `PostgreSQL at ${new URL(url).host}`

describe('connectPostgres against real sockets', () => {
  it('retries a refused port the given number of times, logging each retry, then fails with the original error', async () => {
    const port = await freePort()
    const lines: string[] = []
    const started = Date.now()
    const error = await connectPostgres({connectionString: urlOn(port)}, where(urlOn(port)), {
      attempts: 3,
      baseDelayMs: 50,
      log: l => lines.push(l)
    }).catch(e => e)
    expect(error.code).toBe('ECONNREFUSED')
    expect(lines).toEqual([
      `PostgreSQL at 127.0.0.1:${port}: connection refused; retrying in 0.05 s (attempt 2 of 3)`,
      `PostgreSQL at 127.0.0.1:${port}: connection refused; retrying in 0.1 s (attempt 3 of 3)`,
      `PostgreSQL at 127.0.0.1:${port}: connection refused; giving up after 3 attempts`
    ])
    expect(Date.now() - started).toBeGreaterThanOrEqual(150)
    expect(lines.join('\n')).not.toContain('secret')
  })

  it('succeeds when the server starts listening during the retries', async () => {
    const port = await freePort()
    const lines: string[] = []
    let server: ReturnType<typeof flakyServer> | undefined
    const client = await connectPostgres({connectionString: urlOn(port)}, where(urlOn(port)), {
      attempts: 4,
      baseDelayMs: 50,
      log: line => {
        lines.push(line)
        // The "server" comes up after the first refusal.
        if (!server) {
          server = flakyServer(port, 0, 'hang-up')
          cleanups.push(() => server!.close())
        }
      }
    })
    try {
      expect((await client.query('SELECT 41 + 1 AS answer')).rows[0].answer).toBe(42)
    } finally {
      await client.end()
    }
    expect(lines).toEqual([`PostgreSQL at 127.0.0.1:${port}: connection refused; retrying in 0.05 s (attempt 2 of 4)`])
  })

  it('retries "the database system is starting up" (57P03) until the real server answers', async () => {
    const port = await freePort()
    const server = flakyServer(port, 2, errorResponse('57P03', 'the database system is starting up'))
    cleanups.push(() => server.close())
    await server.listening
    const lines: string[] = []
    const client = await connectPostgres({connectionString: urlOn(port)}, where(urlOn(port)), {baseDelayMs: 20, log: l => lines.push(l)})
    await client.end()
    expect(server.connections()).toBe(3)
    expect(lines).toEqual([
      `PostgreSQL at 127.0.0.1:${port}: the database system is starting up (57P03); retrying in 0.02 s (attempt 2 of 4)`,
      `PostgreSQL at 127.0.0.1:${port}: the database system is starting up (57P03); retrying in 0.04 s (attempt 3 of 4)`
    ])
  })

  it('retries a connection the server drops during startup ("Connection terminated unexpectedly")', async () => {
    const port = await freePort()
    const server = flakyServer(port, 1, 'hang-up')
    cleanups.push(() => server.close())
    await server.listening
    const lines: string[] = []
    const client = await connectPostgres({connectionString: urlOn(port)}, where(urlOn(port)), {baseDelayMs: 20, log: l => lines.push(l)})
    await client.end()
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatch(/Connection terminated unexpectedly; retrying in 0.02 s \(attempt 2 of 4\)/)
  })

  it('retries a server that accepts but never answers (pg connectionTimeoutMillis: "timeout expired")', async () => {
    const silent = net.createServer(socket => socket.on('error', () => undefined))
    const sockets: net.Socket[] = []
    silent.on('connection', s => sockets.push(s))
    await new Promise<void>(resolve => silent.listen(0, '127.0.0.1', resolve))
    cleanups.push(() => new Promise<void>(resolve => (sockets.forEach(s => s.destroy()), silent.close(() => resolve()))))
    const port = (silent.address() as net.AddressInfo).port
    const lines: string[] = []
    const error = await connectPostgres({connectionString: urlOn(port), connectionTimeoutMillis: 100}, where(urlOn(port)), {
      attempts: 2,
      baseDelayMs: 10,
      log: l => lines.push(l)
    }).catch(e => e)
    expect(error.message).toBe('timeout expired')
    expect(sockets).toHaveLength(2)
    expect(lines[0]).toBe(`PostgreSQL at 127.0.0.1:${port}: timeout expired; retrying in 0.01 s (attempt 2 of 2)`)
  })

  it('does not retry a wrong password (28P01): one connection, no retry line, fails at once', async () => {
    const port = await freePort()
    const server = flakyServer(port, 10, errorResponse('28P01', 'password authentication failed for user "postgres"'))
    cleanups.push(() => server.close())
    await server.listening
    const lines: string[] = []
    const started = Date.now()
    const error = await connectPostgres({connectionString: urlOn(port)}, where(urlOn(port)), {
      baseDelayMs: 1000,
      log: l => lines.push(l)
    }).catch(e => e)
    expect(error.code).toBe('28P01')
    expect(server.connections()).toBe(1)
    expect(lines).toEqual([])
    expect(Date.now() - started).toBeLessThan(1000)
  })

  it('does not retry the real server refusing an unknown role (28000) or database (3D000)', async () => {
    const {port} = testServer()
    await createDatabase('retry') // the server is up and answering
    for (const [url, code] of [
      [urlOn(port, 'postgres', 'no_such_role'), '28000'],
      [urlOn(port, 'no_such_database'), '3D000']
    ]) {
      const lines: string[] = []
      const started = Date.now()
      const error = await connectPostgres({connectionString: url}, where(url), {baseDelayMs: 1000, log: l => lines.push(l)}).catch(e => e)
      expect(error.code).toBe(code)
      expect(lines).toEqual([])
      expect(Date.now() - started).toBeLessThan(1000)
    }
  })
})

describe('withRetries', () => {
  it('backs off exponentially up to the cap and counts attempts', async () => {
    const lines: string[] = []
    let calls = 0
    const refused = Object.assign(new Error('connect ECONNREFUSED'), {code: 'ECONNREFUSED'})
    const result = await withRetries(
      'PostgreSQL at db:5432',
      async () => {
        if (++calls < 5) throw refused
        return 'ok'
      },
      {attempts: 5, baseDelayMs: 10, maxDelayMs: 30, log: l => lines.push(l)}
    )
    expect(result).toBe('ok')
    expect(lines.map(l => /retrying in (\S+) s \(attempt (\d) of 5\)/.exec(l)!.slice(1).join('@'))).toEqual([
      '0.01@2',
      '0.02@3',
      '0.03@4',
      '0.03@5'
    ])
  })

  it('uses 1 s, 2 s, 4 s by default (4 attempts)', async () => {
    const lines: string[] = []
    const sleeps: number[] = []
    const realSetTimeout = global.setTimeout
    // Record the delays without waiting 7 seconds.
    const fake = ((fn: () => void, ms: number) => {
      sleeps.push(ms)
      return realSetTimeout(fn, 0)
    }) as unknown as typeof setTimeout
    global.setTimeout = fake
    try {
      const timeout = Object.assign(new Error('connect ETIMEDOUT'), {code: 'ETIMEDOUT'})
      await expect(withRetries('PostgreSQL at db:5432', () => Promise.reject(timeout), {log: l => lines.push(l)})).rejects.toBe(timeout)
    } finally {
      global.setTimeout = realSetTimeout
    }
    expect(sleeps).toEqual([1000, 2000, 4000])
    expect(lines[1]).toBe('PostgreSQL at db:5432: timed out; retrying in 2 s (attempt 3 of 4)')
  })

  it('rethrows a non-transient error after one call', async () => {
    let calls = 0
    const denied = Object.assign(new Error('password authentication failed'), {code: '28P01'})
    await expect(
      withRetries(
        'x',
        async () => {
          calls++
          throw denied
        },
        {baseDelayMs: 1}
      )
    ).rejects.toBe(denied)
    expect(calls).toBe(1)
  })
})

describe('isTransientPgError', () => {
  const withCode = (code: string, message = code) => Object.assign(new Error(message), {code})
  it.each([
    ['ECONNREFUSED', withCode('ECONNREFUSED'), true],
    ['ETIMEDOUT', withCode('ETIMEDOUT'), true],
    ['ECONNRESET', withCode('ECONNRESET'), true],
    ['EAI_AGAIN', withCode('EAI_AGAIN'), true],
    ['57P03 cannot_connect_now', withCode('57P03', 'the database system is starting up'), true],
    ['53300 too_many_connections', withCode('53300'), true],
    ['Connection terminated unexpectedly', new Error('Connection terminated unexpectedly'), true],
    ['pg connectionTimeoutMillis', new Error('Connection terminated due to connection timeout'), true],
    ['happy eyeballs AggregateError', new AggregateError([withCode('ECONNREFUSED'), withCode('ECONNREFUSED')]), true],
    ['28P01 wrong password', withCode('28P01', 'password authentication failed for user "x"'), false],
    ['28000 no such role', withCode('28000'), false],
    ['3D000 no such database', withCode('3D000'), false],
    ['42P01 SQL error', withCode('42P01'), false],
    ['ENOTFOUND (no such host)', withCode('ENOTFOUND'), false],
    ['a plain error', new Error('boom'), false],
    ['not an error', 'ECONNREFUSED', false]
  ])('%s', (_name, error, transient) => {
    expect(isTransientPgError(error)).toBe(transient)
  })
})
