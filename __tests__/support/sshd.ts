/**
 * A real OpenSSH server on 127.0.0.1 for the tests (docs/development.md, "SSH
 * in the tests"): its own host key, authorized_keys and config in a temp dir, a free
 * port, throwaway client keys. Logs in as the user running the tests.
 *
 * The "remote host" has a `docker` stand-in first on PATH (no container engine
 * runs here): called as `docker exec -i CONTAINER CMD...` for a container it
 * knows, it runs CMD... unchanged (in the container's workdir, with the
 * remote environment); for another container it fails like docker does.
 *
 * The remote environment (e.g. DATABASE_URL for the remote Django) is an env
 * file the docker stand-in sources; setEnv() rewrites it between commands.
 * Commands run on the host itself (no container) do not see it: Debian's bash
 * started by sshd reads ~/.bashrc and ignores BASH_ENV, so give them the
 * variables explicitly (e.g. /usr/bin/env NAME=VALUE in front).
 */
import {spawn, type ChildProcess} from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import type {SshConfig} from '../../src/config.js'
import {freePort} from './postgres.js'
import {failureMessage, runSync} from './spawn.js'

export const SSHD_BIN = process.env.SSHD_BIN ?? '/usr/sbin/sshd'

export interface KeyPair {
  /** OpenSSH private key text, with its final newline. */
  privateKey: string
  /** `ssh-ed25519 AAAA... comment` */
  publicKey: string
  /** Path of the private key file in the harness dir. */
  file: string
}

export interface SshdOptions {
  /** Containers the docker stand-in runs commands in. Default: none. */
  containers?: string[]
  /** Containers that exist but are stopped (docker says "is not running"). */
  stoppedContainers?: string[]
  /** Working directory inside the "containers" (like an image's WORKDIR, /app for Flagsmith). Default: the harness dir. */
  containerWorkdir?: string
  /** Environment of every remote command (shell and containers), e.g. {DATABASE_URL}. */
  env?: Record<string, string>
  /** Extra directories put on the remote PATH after the stand-in (e.g. the venv's bin). */
  path?: string[]
}

export interface Sshd {
  host: string
  port: number
  /** The OS user the tests run as; sshd logs it in. */
  user: string
  /** Authorised client key (throwaway). */
  privateKey: string
  /** `[127.0.0.1]:PORT ssh-ed25519 AAAA...`: the server's real host key line. */
  knownHosts: string
  /** A known_hosts line for the same host and port with a different key: a host key mismatch. */
  wrongKnownHosts: string
  /** A valid private key that the server does not authorise. */
  unauthorizedPrivateKey: string
  dir: string
  /** Where the docker stand-in lives (first on the remote PATH). */
  binDir: string
  /** Replaces the remote environment for the next commands. */
  setEnv(env: Record<string, string>): void
  /** Number of SSH connections the server accepted so far (one per authenticated login). */
  connections(): number
  /** sshd's log so far. */
  log(): string
  stop(): Promise<void>
}

/** Generates an ed25519 key pair with ssh-keygen in dir. */
export function sshKeygen(dir: string, name: string): KeyPair {
  const file = path.join(dir, name)
  runSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `${name}@rollback-test`, '-f', file])
  return {privateKey: fs.readFileSync(file, 'utf8'), publicKey: fs.readFileSync(`${file}.pub`, 'utf8').trim(), file}
}

function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`
}

function envFileText(env: Record<string, string>): string {
  return Object.entries(env)
    .map(([key, value]) => {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) throw new Error(`bad environment variable name: ${key}`)
      return `export ${key}=${shellQuote(value)}\n`
    })
    .join('')
}

function dockerStandIn(envFile: string, running: string[], stopped: string[], workdir: string): string {
  for (const name of [...running, ...stopped]) {
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name)) throw new Error(`bad container name for the docker stand-in: ${name}`)
  }
  const runningCase = running.length ? running.join('|') : '__none__'
  const stoppedCase = stopped.length ? stopped.join('|') : '__none__'
  return `#!/bin/sh
# docker stand-in for the SSH tests: only \`docker exec -i CONTAINER CMD...\`.
if [ -f ${shellQuote(envFile)} ]; then . ${shellQuote(envFile)}; fi
if [ "$1" != exec ] || [ "$2" != -i ] || [ $# -lt 3 ]; then
  echo "docker stand-in: expected 'docker exec -i CONTAINER COMMAND...', got: docker $*" >&2
  exit 64
fi
container=$3
shift 3
case "$container" in
  ${runningCase}) ;;
  ${stoppedCase})
    echo "Error response from daemon: container $container is not running" >&2
    exit 1 ;;
  *)
    echo "Error response from daemon: No such container: $container" >&2
    exit 1 ;;
esac
if [ $# -eq 0 ]; then
  echo '"docker exec" requires at least 2 arguments.' >&2
  exit 1
fi
cd ${shellQuote(workdir)} || exit 126
if ! command -v "$1" >/dev/null 2>&1; then
  echo "OCI runtime exec failed: exec failed: unable to start container process: exec: \\"$1\\": executable file not found in \\$PATH: unknown" >&2
  exit 127
fi
exec "$@"
`
}

async function waitFor(check: () => boolean, what: string, timeoutMs = 10000): Promise<void> {
  const start = Date.now()
  while (!check()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 50))
  }
}

export async function startSshd(options: SshdOptions = {}): Promise<Sshd> {
  fs.mkdirSync('/run/sshd', {recursive: true})
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rollback-sshd-'))
  const binDir = path.join(dir, 'bin')
  fs.mkdirSync(binDir)
  const hostKey = sshKeygen(dir, 'host_key')
  const otherHostKey = sshKeygen(dir, 'other_host_key')
  const client = sshKeygen(dir, 'client_key')
  const stranger = sshKeygen(dir, 'stranger_key')
  const authorizedKeys = path.join(dir, 'authorized_keys')
  fs.writeFileSync(authorizedKeys, `${client.publicKey}\n`, {mode: 0o600})

  const envFile = path.join(dir, 'remote-env.sh')
  fs.writeFileSync(envFile, envFileText(options.env ?? {}))
  const workdir = options.containerWorkdir ?? dir
  fs.writeFileSync(
    path.join(binDir, 'docker'),
    dockerStandIn(envFile, options.containers ?? [], options.stoppedContainers ?? [], workdir),
    {mode: 0o755}
  )

  const port = await freePort()
  const user = os.userInfo().username
  const remotePath = [binDir, ...(options.path ?? []), '/usr/local/bin', '/usr/bin', '/bin'].join(':')
  if (/\s/.test(remotePath) || /\s/.test(envFile)) throw new Error('the sshd harness needs paths without spaces')
  const config = path.join(dir, 'sshd_config')
  fs.writeFileSync(
    config,
    [
      `ListenAddress 127.0.0.1`,
      `Port ${port}`,
      `HostKey ${hostKey.file}`,
      `PidFile ${path.join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${authorizedKeys}`,
      `PasswordAuthentication no`,
      `KbdInteractiveAuthentication no`,
      `PubkeyAuthentication yes`,
      `UsePAM no`,
      `StrictModes no`,
      `PermitRootLogin prohibit-password`,
      `AllowUsers ${user}`,
      `PrintMotd no`,
      `PrintLastLog no`,
      `MaxSessions 50`,
      `MaxStartups 50`,
      `LogLevel INFO`,
      // BASH_ENV is set for shells that honour it; Debian's bash under sshd does not (see the comment on top).
      `SetEnv PATH=${remotePath} BASH_ENV=${envFile}`,
      ''
    ].join('\n')
  )

  const sshdArgs = ['-D', '-e', '-f', config]
  const child: ChildProcess = spawn(SSHD_BIN, sshdArgs, {stdio: ['ignore', 'ignore', 'pipe']})
  let log = ''
  let exited = false
  let spawnError: Error | undefined
  child.stderr!.setEncoding('utf8')
  child.stderr!.on('data', (chunk: string) => (log += chunk))
  child.on('exit', () => (exited = true))
  // A missing sshd is an 'error' event and no 'exit'.
  child.on('error', error => {
    spawnError = error
    exited = true
  })
  await waitFor(() => exited || log.includes('Server listening'), 'sshd to listen').catch(error => {
    child.kill('SIGKILL')
    throw error
  })
  if (exited) {
    fs.rmSync(dir, {recursive: true, force: true})
    const outcome = {error: spawnError, status: child.exitCode, signal: child.signalCode, stderr: log}
    throw new Error(failureMessage(SSHD_BIN, sshdArgs, outcome, {what: 'sshd'}) ?? `sshd did not start:\n${log}`)
  }

  const hostPublic = hostKey.publicKey.split(' ').slice(0, 2).join(' ')
  const otherPublic = otherHostKey.publicKey.split(' ').slice(0, 2).join(' ')
  return {
    host: '127.0.0.1',
    port,
    user,
    privateKey: client.privateKey,
    knownHosts: `[127.0.0.1]:${port} ${hostPublic}`,
    wrongKnownHosts: `[127.0.0.1]:${port} ${otherPublic}`,
    unauthorizedPrivateKey: stranger.privateKey,
    dir,
    binDir,
    setEnv(env) {
      fs.writeFileSync(envFile, envFileText(env))
    },
    connections() {
      return (log.match(/Accepted publickey for /g) ?? []).length
    },
    log() {
      return log
    },
    async stop() {
      if (!exited) {
        const done = new Promise(resolve => child.once('exit', resolve))
        child.kill('SIGTERM')
        let timer: NodeJS.Timeout | undefined
        await Promise.race([done, new Promise(resolve => (timer = setTimeout(resolve, 3000)))])
        clearTimeout(timer)
        if (!exited) child.kill('SIGKILL')
      }
      // Per-connection sshd processes inherit the log pipe; do not let them keep the test process alive.
      child.stderr?.destroy()
      fs.rmSync(dir, {recursive: true, force: true})
    }
  }
}

/** The executor config for this sshd, as inputs.ts would build it (the key with its final newline restored). */
export function sshConfigFor(sshd: Sshd, overrides: Partial<SshConfig> = {}): SshConfig {
  return {
    kind: 'ssh',
    host: sshd.host,
    port: sshd.port,
    user: sshd.user,
    privateKey: `${sshd.privateKey.trim()}\n`,
    knownHosts: sshd.knownHosts,
    strictHostKeyChecking: true,
    remotePrefix: [],
    ...overrides
  }
}
