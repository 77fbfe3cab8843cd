import * as core from '@actions/core'
import fs from 'node:fs'
import path from 'node:path'
import type {Config, ExecutorKind, KubectlConfig, SshConfig, Strategy, Target} from './config.js'
import {InputError, parseCutoff} from './cutoff.js'
import {checkDatabaseAlias, DEFAULT_DATABASE, vendorDatabaseRefusal} from './django/commands.js'
import {kubeconfigSecrets} from './executors/kubectl.js'
import {looksLikePgDump} from './schema-compare.js'

export {InputError}

/** Reads one input as the runner passes it (INPUT_NAME, hyphens kept). */
export type InputReader = (name: string) => string

const fromActionInputs: InputReader = name => core.getInput(name)

export const DEFAULT_LOCK_TIMEOUT_SECONDS = 10
const EXECUTORS: readonly ExecutorKind[] = ['local', 'docker', 'ssh', 'kubectl']
const STRATEGIES: readonly Strategy[] = ['exact', 'per-app', 'flagsmith']
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/
const CONTAINER_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/

function oneOf<T extends string>(name: string, value: string, allowed: readonly T[]): T {
  if ((allowed as readonly string[]).includes(value)) return value as T
  throw new InputError(`${name} ${JSON.stringify(value)} is not valid: expected one of ${allowed.join(', ')}`)
}

function booleanInput(read: InputReader, name: string, fallback: boolean): boolean {
  const value = read(name)
  if (value === '') return fallback
  if (/^(true|True|TRUE)$/.test(value)) return true
  if (/^(false|False|FALSE)$/.test(value)) return false
  throw new InputError(`${name} ${JSON.stringify(value)} is not valid: expected true or false`)
}

/**
 * Splits a command such as `python "/srv/my app/manage.py"` into argv words,
 * with shell-style quotes. The words are run without a shell, so shell operators
 * would be passed on literally: refuse them rather than surprise.
 */
export function splitWords(name: string, value: string): string[] {
  const words: string[] = []
  let word = ''
  let inWord = false
  let quote: '"' | "'" | null = null
  for (let i = 0; i < value.length; i++) {
    const c = value[i]
    if (quote) {
      if (c === quote) quote = null
      else if (c === '\\' && quote === '"' && i + 1 < value.length && '"\\$`'.includes(value[i + 1])) word += value[++i]
      else word += c
    } else if (c === '"' || c === "'") {
      quote = c
      inWord = true
    } else if (c === '\\' && i + 1 < value.length) {
      word += value[++i]
      inWord = true
    } else if (/\s/.test(c)) {
      if (inWord) words.push(word)
      word = ''
      inWord = false
    } else if (';|&<>`$()'.includes(c) || (c === '#' && !inWord)) {
      throw new InputError(
        `${name} ${JSON.stringify(value)} contains ${JSON.stringify(c)}: it is split into words and run without a shell, ` +
          `so shell syntax is not supported; quote the character if it is part of a word, or give the full path to manage.py`
      )
    } else {
      word += c
      inWord = true
    }
  }
  if (quote) throw new InputError(`${name} ${JSON.stringify(value)} has an unclosed ${quote} quote`)
  if (inWord) words.push(word)
  return words
}

function required(read: InputReader, name: string, why: string): string {
  const value = read(name)
  if (value === '') throw new InputError(`${name} is empty: ${why}`)
  return value
}

function maskSecret(value: string): void {
  core.setSecret(value)
  // The runner masks a multi-line secret line by line only if each line is registered.
  const lines = value.split(/\r?\n/).map(line => line.trim())
  if (lines.length > 1) for (const line of lines) if (line.length > 3) core.setSecret(line)
}

function readDatabaseUrl(read: InputReader, historySource: Config['historySource']): string | undefined {
  const value = read('database-url')
  if (value === '' && historySource === 'container') return undefined
  if (value === '') {
    if (!Object.keys(process.env).some(key => /^PG(HOST|DATABASE|USER|PORT|PASSWORD|SERVICE)$/.test(key))) {
      throw new InputError(
        'database-url is empty and no PG* environment variables are set: pass the application database as ' +
          'postgres://user:password@host:5432/name (from a secret), or set PGHOST, PGDATABASE, PGUSER, PGPASSWORD'
      )
    }
    return undefined
  }
  maskSecret(value)
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw new InputError('database-url is not a URL: expected postgres://user:password@host:5432/name')
  }
  if (url.password) maskSecret(decodeURIComponent(url.password))
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new InputError(`database-url has scheme ${JSON.stringify(url.protocol)}: expected postgres://user:password@host:5432/name`)
  }
  if (!url.hostname && !url.searchParams.get('host')) {
    throw new InputError('database-url has no host: expected postgres://user:password@host:5432/name')
  }
  return value
}

function readSsh(read: InputReader, container: string | undefined): SshConfig {
  const host = required(read, 'ssh-host', 'executor ssh needs the host that runs the application containers')
  if (/[\s@]/.test(host) || host.startsWith('-')) {
    throw new InputError(`ssh-host ${JSON.stringify(host)} is not valid: expected a host name or IP address, without user@`)
  }
  const portText = read('ssh-port') || '22'
  const port = Number(portText)
  if (!/^\d+$/.test(portText) || port < 1 || port > 65535) {
    throw new InputError(`ssh-port ${JSON.stringify(portText)} is not valid: expected a port number from 1 to 65535`)
  }
  const user = required(read, 'ssh-user', 'executor ssh needs the remote user (one allowed to run docker)')
  if (!/^[A-Za-z0-9._][A-Za-z0-9._-]*$/.test(user)) {
    throw new InputError(`ssh-user ${JSON.stringify(user)} is not valid: expected a user name such as deploy`)
  }
  const privateKey = read('ssh-private-key')
  if (privateKey === '') {
    throw new InputError(
      'ssh-private-key is empty: pass the deploy key from a secret, e.g. ssh-private-key: ${{ secrets.DEPLOY_SSH_KEY }} ' +
        '(an empty value usually means the secret is not available to this workflow or environment)'
    )
  }
  maskSecret(privateKey)
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(privateKey)) {
    throw new InputError('ssh-private-key is not a private key: expected the text of an OpenSSH or PEM private key file')
  }
  const strictHostKeyChecking = booleanInput(read, 'ssh-strict-host-key-checking', true)
  const knownHosts = read('ssh-known-hosts')
  if (knownHosts === '' && strictHostKeyChecking) {
    throw new InputError(
      "ssh-known-hosts is empty: add the host's public key line, e.g. from ssh-keyscan run on a trusted machine " +
        '(ssh-keyscan -p PORT HOST), stored as a secret or variable'
    )
  }
  const prefixInput = read('ssh-remote-prefix')
  const remotePrefix =
    prefixInput !== '' ? splitWords('ssh-remote-prefix', prefixInput) : container ? ['docker', 'exec', '-i', container] : []
  return {
    host,
    port,
    user,
    privateKey: privateKey.endsWith('\n') ? privateKey : `${privateKey}\n`,
    knownHosts,
    strictHostKeyChecking,
    remotePrefix
  }
}

function readKubectl(read: InputReader, container: string | undefined): KubectlConfig {
  const resource = required(
    read,
    'kubectl-resource',
    'executor kubectl needs the workload to exec into, e.g. deployment/flagsmith-api or pod/NAME'
  )
  const match = /^(deployment|deploy|statefulset|sts|pod|po)\/(.+)$/.exec(resource)
  if (!match || !DNS_SUBDOMAIN.test(match[2])) {
    throw new InputError(
      `kubectl-resource ${JSON.stringify(resource)} is not valid: expected deployment/NAME, statefulset/NAME or pod/NAME`
    )
  }
  const namespace = read('kubectl-namespace') || undefined
  if (namespace && !DNS_LABEL.test(namespace)) {
    throw new InputError(`kubectl-namespace ${JSON.stringify(namespace)} is not valid: expected a namespace name`)
  }
  const kubectlContainer = read('kubectl-container') || container
  if (kubectlContainer && !DNS_LABEL.test(kubectlContainer)) {
    throw new InputError(`kubectl-container ${JSON.stringify(kubectlContainer)} is not valid: expected a container name`)
  }
  const context = read('kubectl-context') || undefined
  if (context && (/\s/.test(context) || context.startsWith('-'))) {
    throw new InputError(`kubectl-context ${JSON.stringify(context)} is not valid: expected a context name from the kubeconfig`)
  }
  const kubeconfig = read('kubeconfig') || undefined
  if (kubeconfig) {
    // Only the credentials: masking every line would blank words like "users:" in the rest of the job's log.
    core.setSecret(kubeconfig)
    for (const secret of kubeconfigSecrets(kubeconfig)) core.setSecret(secret)
  }
  return {resource, namespace, container: kubectlContainer, context, kubeconfig}
}

const VERSION_TAG = /^[A-Za-z0-9_.][A-Za-z0-9_./+-]*$/

function readTarget(read: InputReader): Target {
  const datetime = read('target-datetime')
  const version = read('target-version')
  if (datetime && version) {
    throw new InputError('target-datetime and target-version are both set: give exactly one, the time to roll back to or the release tag')
  }
  if (datetime) return {kind: 'datetime', cutoff: parseCutoff(datetime)}
  if (!version) {
    throw new InputError(
      'target-datetime and target-version are both empty: give the time the release you are going back to was ' +
        'replaced (e.g. 2024-10-24T08:23:45Z) or its tag (e.g. v2.150.0)'
    )
  }
  if (!VERSION_TAG.test(version) || version.includes('..')) {
    throw new InputError(`target-version ${JSON.stringify(version)} is not valid: expected a release tag such as v2.150.0`)
  }
  const source = read('target-source')
  if (source) {
    return {kind: 'source', version, path: path.resolve(process.env.GITHUB_WORKSPACE ?? process.cwd(), source)}
  }
  const environment = required(
    read,
    'environment',
    'target-version is resolved from the GitHub deployments of an environment: name it (e.g. production), ' +
      'or give target-source, a checkout of the release'
  )
  const token = required(
    read,
    'github-token',
    'reading deployments needs a token with deployments: read (the default is the workflow token, github.token)'
  )
  core.setSecret(token)
  const repository = read('deployments-repository') || process.env.GITHUB_REPOSITORY || ''
  if (!/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/.test(repository)) {
    throw new InputError(
      `deployments-repository ${JSON.stringify(repository)} is not valid: expected owner/name (default: the workflow's repository)`
    )
  }
  const apiUrl = (process.env.GITHUB_API_URL || 'https://api.github.com').replace(/\/+$/, '')
  return {kind: 'deployments', version, environment, token, repository, apiUrl}
}

/** command-timeout: minutes (a positive number, fractions allowed), as seconds; empty: no limit. */
function readCommandTimeout(read: InputReader): number | undefined {
  const text = read('command-timeout').trim()
  if (text === '') return undefined
  const minutes = Number(text)
  if (!/^(\d+(\.\d*)?|\.\d+)$/.test(text) || !Number.isFinite(minutes) || minutes <= 0) {
    throw new InputError(
      `command-timeout ${JSON.stringify(text)} is not valid: expected the limit of each command in minutes, a positive number such as 30 or 0.5 (empty: no limit)`
    )
  }
  const seconds = minutes * 60
  if (seconds < 1) throw new InputError(`command-timeout ${JSON.stringify(text)} is less than one second: expected minutes, e.g. 30`)
  if (seconds > 7 * 24 * 3600)
    throw new InputError(`command-timeout ${JSON.stringify(text)} is more than a week: expected minutes, e.g. 30`)
  return seconds
}

/** lock-timeout: seconds (fractions allowed), 0 waits forever; default 10. */
function readLockTimeout(read: InputReader): number {
  const text = read('lock-timeout').trim()
  if (text === '') return DEFAULT_LOCK_TIMEOUT_SECONDS
  const seconds = Number(text)
  if (!/^(\d+(\.\d*)?|\.\d+)$/.test(text) || !Number.isFinite(seconds) || seconds > 24 * 3600) {
    throw new InputError(
      `lock-timeout ${JSON.stringify(text)} is not valid: expected the seconds the rollback may wait for a lock, ` +
        'a number such as 10 (0 waits forever, at most 86400)'
    )
  }
  if (seconds > 0 && seconds < 0.1)
    throw new InputError(`lock-timeout ${JSON.stringify(text)} is under 0.1 seconds: expected seconds, e.g. 10`)
  return seconds
}

const MIGRATION_LABEL = /^[A-Za-z0-9_]+\.[A-Za-z0-9_]+$/

/** noop-reverse: `app.name`, one per line; blank lines ignored. */
function readNoopReverse(read: InputReader, strategy: Strategy): string[] {
  const names: string[] = []
  read('noop-reverse')
    .split(/\r?\n/)
    .forEach((raw, index) => {
      const line = raw.trim()
      if (line === '') return
      if (!MIGRATION_LABEL.test(line)) {
        throw new InputError(
          `noop-reverse line ${index + 1} ${JSON.stringify(line)} is not valid: expected app_label.migration_name, ` +
            'one per line (e.g. axes.0007_alter_accessattempt_unique_together)'
        )
      }
      if (!names.includes(line)) names.push(line)
    })
  if (names.length > 0 && strategy !== 'exact') {
    throw new InputError(
      `noop-reverse is set but strategy is ${strategy}: only strategy exact can skip operations (the other strategies run plain migrate commands)`
    )
  }
  return names
}

/** expected-schema: read now, so that a wrong path or file stops the run before anything changes. */
function readExpectedSchema(read: InputReader, databaseUrl: string | undefined): Config['expectedSchema'] {
  const given = read('expected-schema')
  if (given === '') return undefined
  const file = path.resolve(process.env.GITHUB_WORKSPACE ?? process.cwd(), given)
  let text: string
  try {
    text = fs.readFileSync(file, 'utf8')
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    const why =
      code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : code === 'EACCES' ? 'permission denied' : String(code)
    throw new InputError(
      `expected-schema ${JSON.stringify(given)} cannot be read (${why}): expected the path, relative to the workspace, of ` +
        'pg_dump --schema-only output of the release being restored'
    )
  }
  if (text.startsWith('PGDMP')) {
    throw new InputError(
      `expected-schema ${JSON.stringify(given)} is a custom-format dump: expected plain SQL, as pg_dump --schema-only writes it without --format`
    )
  }
  if (!looksLikePgDump(text)) {
    throw new InputError(
      `expected-schema ${JSON.stringify(given)} is not pg_dump --schema-only output (no "PostgreSQL database dump" header and no CREATE TABLE): ` +
        'expected the file pg_dump --schema-only --no-owner DATABASE_URL > FILE writes'
    )
  }
  if (!databaseUrl && !Object.keys(process.env).some(key => /^PG(HOST|DATABASE|SERVICE)$/.test(key))) {
    throw new InputError(
      'expected-schema is set but database-url is empty: the schema is dumped with pg_dump on the runner, which needs the database URL ' +
        '(history-source: container alone cannot check the schema)'
    )
  }
  return {path: file, text}
}

/** Reads and checks every input before anything connects anywhere. */
export function readInputs(read: InputReader = fromActionInputs): Config {
  const target = readTarget(read)
  const historySource = oneOf('history-source', read('history-source') || 'database', ['database', 'container'] as const)
  const databaseUrl = readDatabaseUrl(read, historySource)
  const databaseAlias = read('database-alias') || DEFAULT_DATABASE
  const aliasProblem = checkDatabaseAlias(databaseAlias)
  if (aliasProblem) throw new InputError(aliasProblem)
  const executor = oneOf('executor', required(read, 'executor', `expected one of ${EXECUTORS.join(', ')}`), EXECUTORS)
  const strategy = oneOf('strategy', read('strategy') || 'exact', STRATEGIES)
  const vendorProblem = strategy === 'flagsmith' ? vendorDatabaseRefusal(databaseAlias) : null
  if (vendorProblem) throw new InputError(vendorProblem)
  const manageCommand = splitWords('manage-command', read('manage-command') || 'python manage.py')
  if (manageCommand.length === 0) throw new InputError('manage-command is empty: expected e.g. python manage.py')

  const container = read('container') || undefined
  if (container && !CONTAINER_NAME.test(container)) {
    throw new InputError(`container ${JSON.stringify(container)} is not valid: expected a container name such as flagsmith-api`)
  }
  if (executor === 'docker' && !container) {
    throw new InputError('container is empty: executor docker needs the name or ID of the running application container')
  }

  const backup = booleanInput(read, 'backup', false)
  if (backup && !databaseUrl && !Object.keys(process.env).some(key => /^PG(HOST|DATABASE|SERVICE)$/.test(key))) {
    throw new InputError(
      'backup is true but database-url is empty: pg_dump runs on the runner and needs the database URL ' +
        '(history-source: container alone cannot back up)'
    )
  }
  const backupPath = read('backup-path') || undefined
  if (backupPath && (backupPath.includes('\0') || backupPath.endsWith('/'))) {
    throw new InputError(`backup-path ${JSON.stringify(backupPath)} is not valid: expected a file path such as backups/flagsmith.dump`)
  }

  const dryRun = booleanInput(read, 'dry-run', false)
  const trial = booleanInput(read, 'trial', false)
  if (trial && !dryRun) {
    throw new InputError(
      'trial is true but dry-run is false: a trial runs the plan in a transaction and rolls it back, so it goes with ' +
        'dry-run: true (a real run is all-or-nothing by itself)'
    )
  }

  return {
    target,
    databaseUrl,
    backup,
    backupPath: backupPath ? path.resolve(process.env.GITHUB_WORKSPACE ?? process.cwd(), backupPath) : undefined,
    historySource,
    databaseAlias,
    executor,
    manageCommand,
    container,
    ssh: executor === 'ssh' ? readSsh(read, container) : undefined,
    kubectl: executor === 'kubectl' ? readKubectl(read, container) : undefined,
    dryRun,
    trial,
    allowIrreversible: booleanInput(read, 'allow-irreversible', false),
    lockTimeoutSeconds: readLockTimeout(read),
    noopReverse: readNoopReverse(read, strategy),
    expectedSchema: readExpectedSchema(read, databaseUrl),
    rehearsal: booleanInput(read, 'rehearsal', false),
    strategy,
    commandTimeoutSeconds: readCommandTimeout(read)
  }
}
