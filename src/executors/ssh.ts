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
import {isTransient} from '../errors.js'
import {withRetries} from '../retry.js'
import {executorError, type ExecOptions, type ExecResult, type Executor, type ExecutorOptions} from './executor.js'
import {runProcess, runProcessWithDeadline} from './process.js'
import {quoteArgv} from './shell-quote.js'
import {firstLines, sshFault} from './ssh-faults.js'
import {limitOf, runUnderLimit, timeoutProbe} from './timeout.js'

/** Seconds an idle master connection stays up between two commands (a new one opens if it expired). */
const CONTROL_PERSIST_SECONDS = 120
const DEFAULT_CONNECT_TIMEOUT_SECONDS = 20

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
    const keyFile = secrets.write('id_key', config.privateKey)
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
    if (this.closed) throw executorError('the SSH executor is closed')
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
        throw executorError(
          `SSH: the connection to ${this.config.host} port ${this.config.port} as ${this.config.user} failed: ${firstLines(result.stderr)}`
        )
      },
      {...this.options.retry, isTransient}
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
      throw executorError(
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

  /** Throws an executor error with the fix when the result is a transport or setup failure rather than the command's own. */
  private check(result: ExecResult): void {
    const fault = sshFault(result, {...this.config, manageCommand: this.manageCommand, where: this.where})
    if (fault) throw fault
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
