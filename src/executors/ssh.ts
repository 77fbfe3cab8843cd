/**
 * Runs commands on a host over SSH with the OpenSSH client, usually in a
 * container there (`ssh-remote-prefix`, e.g. `docker exec -i api`).
 *
 * Secure by default: the private key and known_hosts go to a private temporary
 * directory (secret-files.ts), host keys are checked (StrictHostKeyChecking=yes
 * against ssh-known-hosts only), no agent, no user or system ssh_config, no
 * password prompt (BatchMode). One SSH connection serves the whole run: the
 * first command opens a ControlMaster whose socket lives in the same private
 * directory; close() ends it and removes the directory.
 *
 * ssh joins its arguments into one string for the remote shell, so the remote
 * command is quoteArgv([...remotePrefix, ...argv]): every word arrives intact.
 */
import * as core from '@actions/core'
import os from 'node:os'
import path from 'node:path'
import type {SshConfig} from '../config.js'
import {SecretDir, secretBaseDir} from '../secret-files.js'
import {withRetries} from '../retry.js'
import {
  ExecutorError,
  isTransientExecutorError,
  type ExecOptions,
  type ExecResult,
  type Executor,
  type ExecutorOptions
} from './executor.js'
import {runProcess, runProcessWithDeadline} from './process.js'
import {quoteArgv} from './shell-quote.js'
import {limitOf, runUnderLimit, timeoutProbe} from './timeout.js'

/** Seconds an idle master connection stays up between two commands (a new one opens if it expired). */
const CONTROL_PERSIST_SECONDS = 120
const DEFAULT_CONNECT_TIMEOUT_SECONDS = 20

function firstLines(text: string, count = 6): string {
  return text
    .split(/\r?\n/)
    .map(line => line.trim())
    .filter(line => line !== '')
    .slice(0, count)
    .join('\n')
}

function validate(config: SshConfig): void {
  const host = config.host?.trim() ?? ''
  if (!host) throw new ExecutorError('ssh-host is empty: give the host name or IP address of the machine that runs the application.')
  if (host.startsWith('-') || /[\s@]/.test(host)) {
    throw new ExecutorError(`ssh-host ${JSON.stringify(host)} is not a host name or IP address (no spaces, no user@, no leading "-").`)
  }
  if (!config.user || config.user.startsWith('-') || /[\s@]/.test(config.user)) {
    throw new ExecutorError('ssh-user must be a user name on the host (no spaces, no "@", no leading "-").')
  }
  if (!Number.isInteger(config.port) || config.port < 1 || config.port > 65535) {
    throw new ExecutorError(`ssh-port must be a TCP port number (1-65535), got ${String(config.port)}.`)
  }
  if (!config.privateKey || config.privateKey.trim() === '') {
    throw new ExecutorError('ssh-private-key is empty: give the private key (the whole file, BEGIN and END lines included) from a secret.')
  }
  if (config.strictHostKeyChecking && (!config.knownHosts || config.knownHosts.trim() === '')) {
    throw new ExecutorError(
      'ssh-known-hosts is empty: give the known_hosts line(s) of the host, e.g. the output of ' +
        `\`ssh-keyscan${config.port === 22 ? '' : ` -p ${config.port}`} ${host}\` run on a machine you trust, ` +
        `and check its fingerprint (ssh-keygen -lf) against the host's own key.`
    )
  }
}

/** Turns a value from a secret input back into a key file OpenSSH accepts: LF line ends, the final newline restored. */
export function normalizePrivateKey(key: string): string {
  return `${key.replace(/\r\n?/g, '\n').trim()}\n`
}

export class SshExecutor implements Executor {
  readonly where: string
  private readonly baseArgs: string[]
  private readonly controlPath: string
  private readonly target: string
  private used = false
  private closed = false
  private connected: Promise<void> | undefined
  private readonly hasTimeout = timeoutProbe(words => this.run(quoteArgv([...this.config.remotePrefix, ...words]), {input: ''}))

  constructor(
    private readonly config: SshConfig,
    private readonly secrets: SecretDir,
    private readonly manageCommand: string[] = ['python', 'manage.py'],
    connectTimeoutSeconds = DEFAULT_CONNECT_TIMEOUT_SECONDS,
    private readonly options: ExecutorOptions = {}
  ) {
    const keyFile = secrets.write('id_key', normalizePrivateKey(config.privateKey))
    const knownHostsFile = secrets.write('known_hosts', config.knownHosts ? `${config.knownHosts.replace(/\r\n?/g, '\n').trim()}\n` : '', {
      mask: 'none'
    })
    this.controlPath = secrets.file('cm')
    this.target = `${config.user}@${config.host}${config.port === 22 ? '' : `:${config.port}`}`
    const prefix = config.remotePrefix.length > 0 ? ` ${config.remotePrefix.join(' ')}` : ''
    this.where = `ssh ${this.target}${prefix}`
    this.baseArgs = [
      '-F',
      'none', // only the options below: no ~/.ssh/config, no /etc/ssh/ssh_config (SendEnv, ProxyCommand...)
      '-T',
      '-o',
      'BatchMode=yes',
      '-o',
      'IdentitiesOnly=yes',
      '-o',
      'IdentityAgent=none',
      '-o',
      `IdentityFile=${keyFile}`,
      '-o',
      'PasswordAuthentication=no',
      '-o',
      'KbdInteractiveAuthentication=no',
      '-o',
      `StrictHostKeyChecking=${config.strictHostKeyChecking ? 'yes' : 'no'}`,
      '-o',
      `UserKnownHostsFile=${knownHostsFile}`,
      '-o',
      'GlobalKnownHostsFile=/dev/null',
      '-o',
      'UpdateHostKeys=no',
      '-o',
      'LogLevel=ERROR',
      '-o',
      `ConnectTimeout=${connectTimeoutSeconds}`,
      '-o',
      'ServerAliveInterval=30',
      '-o',
      'ServerAliveCountMax=6',
      '-o',
      'ControlMaster=auto',
      '-o',
      `ControlPath=${this.controlPath}`,
      '-o',
      `ControlPersist=${CONTROL_PERSIST_SECONDS}`,
      '-o',
      'ForwardAgent=no',
      '-o',
      'ForwardX11=no',
      '-o',
      'ClearAllForwardings=yes',
      '-p',
      String(config.port),
      '-l',
      config.user
    ]
  }

  async exec(argv: string[], options: ExecOptions = {}): Promise<ExecResult> {
    if (this.closed) throw new ExecutorError('the SSH executor is closed')
    if (argv.length === 0) throw new Error('exec needs a command')
    await this.connect()
    // Killing ssh leaves the remote command running (no TTY, so no SIGHUP): runUnderLimit puts `timeout` there.
    const result = await runUnderLimit(
      argv,
      limitOf(this.options.commandTimeoutSeconds, options),
      this.hasTimeout,
      (words, deadline) => this.run(quoteArgv([...this.config.remotePrefix, ...words]), {...options, deadline}),
      this.where
    )
    return this.checked(result)
  }

  /**
   * Opens the master connection with a command that changes nothing (`true` in the host's shell), retrying
   * refused connections, timeouts and temporary DNS failures; never a rejected key or host key. Only this
   * step is retried: a command that may have started changing the database is never run twice.
   */
  private connect(): Promise<void> {
    this.connected ??= withRetries(
      `SSH to ${this.target}`,
      async () => {
        const result = await this.run('true', {input: ''})
        if (result.exitCode === 0) return
        this.check(result)
        throw new ExecutorError(
          `SSH: the connection to ${this.config.host} port ${this.config.port} as ${this.config.user} failed: ${firstLines(result.stderr)}`
        )
      },
      {...this.options.retry, isTransient: isTransientExecutorError}
    )
    return this.connected
  }

  private async run(
    remote: string,
    options: ExecOptions & {deadline?: import('./process.js').Deadline}
  ): Promise<ExecResult & {timedOut?: boolean; ms?: number}> {
    this.used = true
    const argv = ['ssh', ...this.baseArgs, '--', this.config.host, remote]
    let result: ExecResult & {timedOut?: boolean; ms?: number}
    try {
      result = options.deadline
        ? await runProcessWithDeadline(argv, {input: options.input ?? '', onStdoutLine: options.onStdoutLine, deadline: options.deadline})
        : await runProcess(argv, {input: options.input ?? '', onStdoutLine: options.onStdoutLine})
    } catch (error) {
      throw new ExecutorError(
        `Could not run the OpenSSH client (ssh): ${this.secrets.redact(error instanceof Error ? error.message : String(error))}. ` +
          'Install it on the runner (apt-get install -y openssh-client); GitHub-hosted runners have it.'
      )
    }
    return {...result, stdout: this.secrets.redact(result.stdout), stderr: this.secrets.redact(result.stderr)}
  }

  private checked(result: ExecResult): ExecResult {
    const plain = {exitCode: result.exitCode, stdout: result.stdout, stderr: result.stderr}
    this.check(plain)
    return plain
  }

  /** Throws an ExecutorError with the fix when the result is a transport or setup failure rather than the command's own. */
  private check(result: ExecResult): void {
    const {exitCode, stderr} = result
    if (exitCode === 0) return
    const {host, port, user} = this.config
    const hostPort = `${host} port ${port}`
    const sshSays = firstLines(stderr)
    if (exitCode === 255) {
      // Transient (retried while connecting): refused, timed out, no route, a temporary DNS failure.
      if (/Could not resolve hostname|Name or service not known|Temporary failure in name resolution|nodename nor servname/i.test(stderr)) {
        const temporary = /Temporary failure in name resolution|try again/i.test(stderr)
        throw new ExecutorError(
          `SSH: the host name ${host} does not resolve (${sshSays}). Check ssh-host; a host on a private network needs a runner that can reach it (self-hosted runner, VPN or bastion).`,
          temporary,
          temporary ? 'EAI_AGAIN' : undefined
        )
      }
      if (/Connection timed out|Operation timed out|No route to host|Network is unreachable|Host is unreachable/i.test(stderr)) {
        const timedOut = /timed out/i.test(stderr)
        throw new ExecutorError(
          `SSH: ${hostPort} is unreachable from the runner (${sshSays}). Check ssh-host and ssh-port, and that a firewall or security group lets the runner's address in; a host on a private network needs a self-hosted runner, a VPN or a bastion.`,
          /Connection timed out|Operation timed out|No route to host/i.test(stderr),
          timedOut ? 'ETIMEDOUT' : undefined
        )
      }
      if (/Connection refused/i.test(stderr)) {
        throw new ExecutorError(
          `SSH: ${hostPort} refused the connection: nothing listens on that port (${sshSays}). Check ssh-port and that sshd runs on the host.`,
          true,
          'ECONNREFUSED'
        )
      }
      if (/REMOTE HOST IDENTIFICATION HAS CHANGED|Host key for .* has changed|host key .* differs/i.test(stderr)) {
        const fingerprint = /SHA256:[A-Za-z0-9+/=]+/.exec(stderr)?.[0]
        throw new ExecutorError(
          `SSH: the host key of ${hostPort} does NOT match ssh-known-hosts${fingerprint ? ` (the host sent ${fingerprint})` : ''}. ` +
            'This can mean that someone is intercepting the connection (a man-in-the-middle attack); it can also mean the host was reinstalled or its key rotated. ' +
            'Nothing was sent to the host. Do not turn host key checking off: find out why the key changed, then refresh ssh-known-hosts from a trusted source, e.g. ' +
            `\`ssh-keyscan -p ${port} ${host}\` run on a machine you trust over a network you trust, or /etc/ssh/ssh_host_*_key.pub read on the host's console, ` +
            'and compare the fingerprint (ssh-keygen -lf) with the one your provider shows.'
        )
      }
      if (/No \S+ host key is known for|Host key verification failed/i.test(stderr)) {
        const portHint = port === 22 ? `${host} KEYTYPE KEY` : `[${host}]:${port} KEYTYPE KEY (brackets and port, as the port is not 22)`
        throw new ExecutorError(
          `SSH: ssh-known-hosts has no key for ${hostPort}, so the host cannot be verified (${sshSays}). ` +
            `Add the host's key line, written ${portHint}, e.g. the output of \`ssh-keyscan -p ${port} ${host}\` run on a machine you trust; check its fingerprint (ssh-keygen -lf) against the host's own key.`
        )
      }
      if (/passphrase/i.test(stderr)) {
        throw new ExecutorError(
          'SSH: ssh-private-key is protected by a passphrase, which the action cannot type: use a dedicated deploy key without a passphrase, kept in a secret.'
        )
      }
      if (/Load key .*(invalid format|error in libcrypto)|invalid format/i.test(stderr)) {
        throw new ExecutorError(
          'SSH: ssh-private-key is not a valid private key: give the whole key file (-----BEGIN ... PRIVATE KEY----- to the END line) from a secret, not the public key or a fingerprint.'
        )
      }
      if (/Permission denied \((publickey|.*publickey.*)\)|Permission denied/i.test(stderr)) {
        throw new ExecutorError(
          `SSH: ${user}@${host} rejected the key in ssh-private-key (${sshSays}). Add the key's public half to ~${user}/.ssh/authorized_keys on the host (ssh-keygen -y -f KEYFILE prints it), and check ssh-user.`
        )
      }
      if (
        /^(ssh: |kex_exchange_identification|Connection (closed|reset)|banner exchange|Bad |ssh_exchange_identification|mux_client|ControlSocket|Control socket)/im.test(
          stderr
        )
      ) {
        throw new ExecutorError(`SSH: the connection to ${hostPort} as ${user} failed: ${sshSays}`)
      }
    }
    const prefix = this.config.remotePrefix
    const daemon =
      /Error response from daemon: (No such container: .*|[Cc]ontainer .* is not running.*|.*is paused.*|.*is restarting.*)/.exec(stderr)
    if (daemon) {
      throw new ExecutorError(
        `The container is not available on ${host}: docker says "${daemon[0].trim()}". ` +
          `Check the container input (or ssh-remote-prefix, now "${prefix.join(' ')}"): \`docker ps\` on the host lists the running containers. ` +
          'The rollback must run in a running container of the current release.'
      )
    }
    if (/service "[^"]*" is not running|no such service: /i.test(stderr)) {
      throw new ExecutorError(
        `The compose service is not available on ${host}: ${sshSays}. Check ssh-remote-prefix (now "${prefix.join(' ')}").`
      )
    }
    if (/permission denied while trying to connect to the Docker daemon|Got permission denied .*docker\.sock/i.test(stderr)) {
      throw new ExecutorError(
        `${user} may not use docker on ${host}: ${sshSays}. Add ${user} to the docker group on the host, or set ssh-remote-prefix to run docker with sudo (e.g. "sudo -n docker exec -i NAME") with a sudoers rule for that command.`
      )
    }
    const manage = this.manageCommand.join(' ')
    if (
      ((exitCode === 126 || exitCode === 127) &&
        /not found|No such file|executable file not found|Permission denied|cannot execute/i.test(stderr)) ||
      (exitCode === 2 && /can't open file .*manage\.py.*No such file or directory/i.test(stderr))
    ) {
      const first = prefix[0]
      if (first && new RegExp(`(^|[\\s:])${first.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: (command )?not found`).test(stderr)) {
        throw new ExecutorError(
          `"${first}" (the start of ssh-remote-prefix) is not found on ${host}: ${sshSays}. Install it there or fix ssh-remote-prefix.`
        )
      }
      throw new ExecutorError(
        `manage.py could not be started through ${this.where}: ${sshSays}. ` +
          `Set manage-command to how manage.py is run there (now "${manage}"; it runs in the container's working directory, e.g. "python /app/manage.py" or "/venv/bin/python manage.py"), ` +
          `and ssh-remote-prefix to what runs in front of it on the host (now "${prefix.join(' ')}"${prefix.length === 0 ? ': empty runs it on the host itself' : ''}).`
      )
    }
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    try {
      if (this.used) {
        // Ends the master connection if one is up; harmless when none is.
        await runProcess(['ssh', '-F', 'none', '-o', `ControlPath=${this.controlPath}`, '-O', 'exit', '--', this.config.host]).catch(
          () => undefined
        )
      }
    } finally {
      await this.secrets.close()
    }
  }
}

/** A Unix socket path must stay under ~104 bytes, and ssh adds 17 characters to it while it sets the socket up. */
function baseForControlSocket(): string {
  const base = secretBaseDir()
  return base.length <= 60 ? base : os.tmpdir().length <= 60 ? os.tmpdir() : '/tmp'
}

/**
 * Opens nothing yet: the first exec() connects (and becomes the master
 * connection the next commands reuse). `manageCommand` only words the hint
 * when manage.py cannot be started.
 */
export async function createSshExecutor(config: SshConfig, manageCommand?: string[], options: ExecutorOptions = {}): Promise<Executor> {
  validate(config)
  const secrets = SecretDir.create({base: baseForControlSocket()})
  try {
    if (!config.strictHostKeyChecking) {
      core.warning(
        `ssh-strict-host-key-checking is false: the identity of ${config.host} is not checked. Anyone who can intercept or redirect the connection ` +
          '(DNS, routing, a compromised network between the runner and the host) can pose as the host, receive the commands and the values they carry, ' +
          'and answer with a forged rollback result. Give ssh-known-hosts and remove ssh-strict-host-key-checking: false.'
      )
    }
    const executor = new SshExecutor(config, secrets, manageCommand, config.connectTimeoutSeconds, options)
    if (path.relative(secrets.path, executor['controlPath']).startsWith('..')) throw new Error('control path outside the private directory')
    return executor
  } catch (error) {
    await secrets.close()
    throw error
  }
}
