/**
 * The secrets a Config carries, registered with the runner in one step, and
 * the secret-free view of the Config that the summary and the outputs get.
 */
import * as core from '@actions/core'
import type {Config} from './config.js'
import {kubeconfigSecrets} from './executors/kubectl.js'

/** Every value the log must never show, whole; multi-line ones also line by line (see maskSecrets). */
export function secretsOf(config: Config): string[] {
  const secrets: string[] = []
  if (config.database?.url) secrets.push(config.database.url)
  if (config.database?.libpq.PGPASSWORD) secrets.push(config.database.libpq.PGPASSWORD)
  if (config.target.kind === 'deployments') secrets.push(config.target.token)
  const executor = config.executor
  if (executor.kind === 'ssh') secrets.push(executor.privateKey)
  // A kubeconfig: only its credentials, since masking every line would blank words like "users:" everywhere in the log.
  if (executor.kind === 'kubectl' && executor.kubeconfig) secrets.push(executor.kubeconfig, ...kubeconfigSecrets(executor.kubeconfig))
  return secrets.filter(s => s !== '')
}

/** Registers the secrets before anything is logged. The runner masks a multi-line secret only line by line, so each line is registered too. */
export function maskSecrets(config: Config, setSecret: (value: string) => void = core.setSecret): void {
  for (const secret of secretsOf(config)) {
    setSecret(secret)
    const executor = config.executor
    const isKubeconfig = executor.kind === 'kubectl' && secret === executor.kubeconfig
    const lines = secret.split(/\r?\n/).map(line => line.trim())
    if (lines.length > 1 && !isKubeconfig) for (const line of lines) if (line.length > 3) setSecret(line)
  }
}

/** What the summary and the outputs may show of the Config: no URL, token, key or kubeconfig. */
export interface ConfigView {
  strategy: Config['strategy']
  dryRun: boolean
  trial: boolean
  rehearsal: boolean
  allowIrreversible: boolean
  noopReverse: string[]
  databaseAlias: string
  historySource: Config['historySource']
  manageCommand: string[]
  commandTimeoutSeconds?: number
  lockTimeoutSeconds: number
}

export function configView(config: Config): ConfigView {
  return {
    strategy: config.strategy,
    dryRun: config.dryRun,
    trial: config.trial,
    rehearsal: config.rehearsal,
    allowIrreversible: config.allowIrreversible,
    noopReverse: config.noopReverse,
    databaseAlias: config.databaseAlias,
    historySource: config.historySource,
    manageCommand: config.manageCommand,
    commandTimeoutSeconds: config.commandTimeoutSeconds,
    lockTimeoutSeconds: config.lockTimeoutSeconds
  }
}
