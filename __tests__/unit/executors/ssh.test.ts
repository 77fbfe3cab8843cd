/** The SSH executor against a real sshd on 127.0.0.1 (support/sshd.ts), with the real OpenSSH client. */
import {afterAll, beforeAll, describe, expect, jest, test} from '@jest/globals'
import fs from 'node:fs'
import net from 'node:net'
import type {SshConfig} from '../../../src/config.js'
import {RollbackError} from '../../../src/errors.js'
import type {Executor} from '../../../src/executors/executor.js'
import {createSshExecutor} from '../../../src/executors/ssh.js'
import {freePort} from '../../support/postgres.js'
import {startSshd, type Sshd, sshConfigFor} from '../../support/sshd.js'

const PY = '/usr/bin/python3'
const ECHO_ARGV = 'import json, sys; print(json.dumps(sys.argv[1:]))'

/** Values a remote shell would split, expand or execute if they were not quoted. */
const NASTY = [
  'two words',
  "it's",
  'say "hi"',
  '$(touch /tmp/rollback-pwned)',
  '`touch /tmp/rollback-pwned`',
  'a; touch /tmp/rollback-pwned',
  'a | cat',
  'line one\nline two',
  '',
  ' ',
  '$HOME ${PATH} * ? [a] ~ ! # & > < \\ \t end',
  "'",
  '"',
  "''\"\"'\\''",
  '--flag=value',
  'A=b',
  '-',
  'é ✓'
]

let sshd: Sshd
const opened: Executor[] = []

const config = (overrides: Partial<SshConfig> = {}): SshConfig => sshConfigFor(sshd, overrides)

async function open(overrides: Partial<SshConfig> = {}): Promise<Executor> {
  const executor = await createSshExecutor(config(overrides))
  opened.push(executor)
  return executor
}

/** Runs one command and returns the RollbackError it must throw. */
async function failure(overrides: Partial<SshConfig>, argv: string[] = ['true']): Promise<RollbackError> {
  const executor = await open(overrides)
  try {
    await executor.exec(argv)
  } catch (error) {
    expect(error).toBeInstanceOf(RollbackError)
    const message = (error as Error).message
    // No secret ever reaches a message.
    for (const line of sshd.privateKey.split('\n').filter(l => l.length > 16)) expect(message).not.toContain(line)
    return error as RollbackError
  } finally {
    await executor.close()
  }
  throw new Error(`expected ${JSON.stringify(argv)} to fail`)
}

beforeAll(async () => {
  fs.rmSync('/tmp/rollback-pwned', {force: true})
  sshd = await startSshd({containers: ['api'], stoppedContainers: ['old-api'], env: {ROLLBACK_TEST_VALUE: 'from the remote env'}})
})

afterAll(async () => {
  for (const executor of opened) await executor.close()
  await sshd?.stop()
})

describe('argv reaches the remote process exactly', () => {
  test('on the host, through the remote login shell', async () => {
    const executor = await open()
    const result = await executor.exec([PY, '-c', ECHO_ARGV, ...NASTY])
    expect(result.stderr).toBe('')
    expect(result.exitCode).toBe(0)
    expect(JSON.parse(result.stdout)).toEqual(NASTY)
    expect(fs.existsSync('/tmp/rollback-pwned')).toBe(false)
  })

  test('through a docker exec prefix (the stand-in runs the rest of argv unchanged)', async () => {
    const executor = await open({remotePrefix: ['docker', 'exec', '-i', 'api']})
    expect(executor.where).toBe(`ssh ${sshd.user}@127.0.0.1:${sshd.port} docker exec -i api`)
    const result = await executor.exec([PY, '-c', ECHO_ARGV, ...NASTY])
    expect(result.exitCode).toBe(0)
    expect(JSON.parse(result.stdout)).toEqual(NASTY)
    expect(fs.existsSync('/tmp/rollback-pwned')).toBe(false)
  })

  test('a multi-line script (like the exact strategy sends with shell -c)', async () => {
    const executor = await open({remotePrefix: ['docker', 'exec', '-i', 'api']})
    const script = "import os\nfor word in ['a', \"b\"]:\n    print(word, os.environ['ROLLBACK_TEST_VALUE'])\n"
    const result = await executor.exec([PY, '-c', script])
    expect(result).toEqual({exitCode: 0, stdout: 'a from the remote env\nb from the remote env\n', stderr: ''})
  })
})

test('stdin is delivered and the remote exit code and stderr come back', async () => {
  const executor = await open({remotePrefix: ['docker', 'exec', '-i', 'api']})
  const input = 'first line\nsecond "line" with $(x) and `y`\n'
  const result = await executor.exec(
    [PY, '-c', 'import sys; data = sys.stdin.read(); print(repr(data)); sys.stderr.write("err\\n"); sys.exit(3)'],
    {input}
  )
  expect(result.exitCode).toBe(3)
  expect(result.stdout).toBe(`${JSON.stringify(input).replace(/^"|"$/g, "'")}\n`.replace(/\\"/g, '"'))
  expect(result.stderr).toBe('err\n')
})

test('one SSH connection serves every command, and close() ends it and removes the key', async () => {
  const before = sshd.connections()
  const executor = await createSshExecutor(config({remotePrefix: ['docker', 'exec', '-i', 'api']}))
  const times: number[] = []
  for (let i = 0; i < 10; i++) {
    const start = process.hrtime.bigint()
    const result = await executor.exec(['true'])
    times.push(Number(process.hrtime.bigint() - start) / 1e6)
    expect(result.exitCode).toBe(0)
  }
  expect(sshd.connections() - before).toBe(1)
  const rest = times.slice(1)
  console.log(
    `ssh cost: first command ${times[0].toFixed(0)} ms (connects), next ${rest.length}: ` +
      `median ${[...rest].sort((a, b) => a - b)[Math.floor(rest.length / 2)].toFixed(0)} ms, total of 10 ${times.reduce((a, b) => a + b, 0).toFixed(0)} ms`
  )
  const dir = (executor as unknown as {secrets: {path: string}}).secrets.path
  expect(fs.statSync(dir).mode & 0o777).toBe(0o700)
  expect(fs.statSync(`${dir}/id_key`).mode & 0o777).toBe(0o600)
  expect(fs.readFileSync(`${dir}/id_key`, 'utf8')).toBe(sshd.privateKey.trim() + '\n')
  expect(fs.existsSync(`${dir}/cm`)).toBe(true)
  await executor.close()
  expect(fs.existsSync(dir)).toBe(false)
  await executor.close() // twice is fine
  await expect(executor.exec(['true'])).rejects.toThrow(/closed/)
  // The master connection is gone: the server saw it disconnect.
  await new Promise(resolve => setTimeout(resolve, 300))
  expect(sshd.log()).toMatch(/Disconnected from user/)
})

describe('transport failures carry the fix', () => {
  test('host name that does not resolve', async () => {
    const error = await failure({host: 'no-such-host.invalid'})
    expect(error.message).toMatch(/host name no-such-host\.invalid does not resolve.*Check ssh-host/s)
  })

  test('host unreachable (nothing answers within ConnectTimeout)', async () => {
    // A firewall that drops packets cannot be set up here; a port that accepts and then never
    // answers looks the same to ssh: it times out.
    const silent = net.createServer(() => undefined)
    const sockets: net.Socket[] = []
    silent.on('connection', socket => sockets.push(socket))
    await new Promise<void>(resolve => silent.listen(0, '127.0.0.1', resolve))
    const port = (silent.address() as net.AddressInfo).port
    try {
      const error = await failure({port, connectTimeoutSeconds: 1})
      expect(error.message).toMatch(new RegExp(`127\\.0\\.0\\.1 port ${port} is unreachable from the runner.*timed out.*firewall`, 's'))
    } finally {
      for (const socket of sockets) socket.destroy()
      silent.close()
    }
  })

  test('port closed', async () => {
    const port = await freePort()
    const error = await failure({port, knownHosts: sshd.knownHosts.replace(`:${sshd.port}]`, `:${port}]`)})
    expect(error.message).toMatch(
      new RegExp(`127\\.0\\.0\\.1 port ${port} refused the connection: nothing listens on that port.*Check ssh-port`, 's')
    )
  })

  test('host key mismatch: can be an attack, refresh known_hosts from a trusted source', async () => {
    const error = await failure({knownHosts: sshd.wrongKnownHosts})
    expect(error.message).toMatch(/host key of 127\.0\.0\.1 port \d+ does NOT match ssh-known-hosts \(the host sent SHA256:/)
    expect(error.message).toMatch(/man-in-the-middle attack/)
    expect(error.message).toMatch(/Do not turn host key checking off/)
    expect(error.message).toContain(`ssh-keyscan -p ${sshd.port} 127.0.0.1\` run on a machine you trust`)
  })

  test('known_hosts without a line for this host and port', async () => {
    // The right key, but for another host name.
    const line = sshd.knownHosts.replace(/^\[127\.0\.0\.1\]:\d+/, 'other.example.com')
    const error = await failure({knownHosts: line})
    expect(error.message).toMatch(/ssh-known-hosts has no key for 127\.0\.0\.1 port \d+/)
    expect(error.message).toContain(`[127.0.0.1]:${sshd.port} KEYTYPE KEY (brackets and port, as the port is not 22)`)
  })

  test('key rejected by the host', async () => {
    const error = await failure({privateKey: sshd.unauthorizedPrivateKey})
    expect(error.message).toMatch(new RegExp(`${sshd.user}@127\\.0\\.0\\.1 rejected the key in ssh-private-key.*authorized_keys`, 's'))
    for (const line of sshd.unauthorizedPrivateKey.split('\n').filter(l => l.length > 16)) expect(error.message).not.toContain(line)
  })

  test('a value that is not a private key', async () => {
    const error = await failure({privateKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ5secretlookingpublickey user@host'})
    expect(error.message).toMatch(/ssh-private-key is not a valid private key/)
    expect(error.message).not.toContain('AAAAC3NzaC1lZDI1NTE5AAAAIJ5secretlookingpublickey')
  })

  test('host key checking off: warns what it exposes, and still works', async () => {
    const writes: string[] = []
    const spy = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      writes.push(String(chunk))
      return true
    })
    let executor: Executor
    try {
      executor = await open({knownHosts: '', strictHostKeyChecking: false})
    } finally {
      spy.mockRestore()
    }
    const warning = writes.find(w => w.startsWith('::warning::'))
    expect(warning).toMatch(/ssh-strict-host-key-checking is false: the identity of 127\.0\.0\.1 is not checked/)
    expect(warning).toMatch(/pose as the host/)
    expect((await executor.exec(['true'])).exitCode).toBe(0)
  })
})

describe('the remote side', () => {
  test("container not found: docker's message is passed on", async () => {
    const error = await failure({remotePrefix: ['docker', 'exec', '-i', 'flagsmith']}, [PY, '-V'])
    expect(error.message).toMatch(
      /docker says "Error response from daemon: No such container: flagsmith".*Check the container input.*docker ps/s
    )
  })

  test('container not running', async () => {
    const error = await failure({remotePrefix: ['docker', 'exec', '-i', 'old-api']}, [PY, '-V'])
    expect(error.message).toContain('docker says "Error response from daemon: container old-api is not running"')
  })

  test('manage.py not found: the interpreter is missing in the container (exit 127)', async () => {
    const error = await failure({remotePrefix: ['docker', 'exec', '-i', 'api']}, ['python9', 'manage.py', 'showmigrations'])
    expect(error.message).toMatch(
      /manage\.py could not be started through ssh .* docker exec -i api: OCI runtime exec failed.*"python9": executable file not found/s
    )
    expect(error.message).toMatch(/Set manage-command .*ssh-remote-prefix .*now "docker exec -i api"/s)
  })

  test('manage.py not found: no such file in the working directory', async () => {
    const error = await failure({remotePrefix: ['docker', 'exec', '-i', 'api']}, [PY, 'manage.py', 'showmigrations'])
    expect(error.message).toMatch(
      /manage\.py could not be started.*can't open file .*manage\.py.*No such file or directory.*Set manage-command/s
    )
  })

  test('manage command not found on the host (empty prefix)', async () => {
    const error = await failure({}, ['python9', 'manage.py', 'showmigrations'])
    expect(error.message).toMatch(/manage\.py could not be started.*python9.*not found.*empty runs it on the host itself/s)
  })

  test('a failing command is a result, not an executor error', async () => {
    const executor = await open({remotePrefix: ['docker', 'exec', '-i', 'api']})
    const result = await executor.exec([PY, '-c', 'import sys; print("CommandError: bad", file=sys.stderr); sys.exit(1)'])
    expect(result).toEqual({exitCode: 1, stdout: '', stderr: 'CommandError: bad\n'})
  })
})
