/** The one typed configuration that inputs.ts builds from the action's inputs. */

export type Strategy = 'exact' | 'per-app' | 'flagsmith'
export type ExecutorKind = 'local' | 'docker' | 'ssh' | 'kubectl'

/** A cutoff parsed from `target-datetime`, normalised without passing through a JavaScript Date. */
export interface Cutoff {
  /** As the user wrote it. */
  input: string
  /** UTC, microsecond precision: `YYYY-MM-DDTHH:MM:SS.ffffffZ`; compares correctly as a string. */
  utc: string
  /** True when the input had no offset and was taken as UTC. */
  assumedUtc: boolean
}

/** `target-version` resolved through the GitHub deployments of an environment. */
export interface DeploymentsTarget {
  kind: 'deployments'
  version: string
  environment: string
  /** Secret. */
  token: string
  /** owner/name */
  repository: string
  /** GITHUB_API_URL, e.g. https://api.github.com or https://ghes.example.com/api/v3 */
  apiUrl: string
}

/** `target-version` resolved from a checkout of the release's source (`target-source`). */
export interface SourceTarget {
  kind: 'source'
  version: string
  /** Absolute path of the checkout. */
  path: string
}

export interface DatetimeTarget {
  kind: 'datetime'
  cutoff: Cutoff
}

export type Target = DatetimeTarget | DeploymentsTarget | SourceTarget

export interface SshConfig {
  host: string
  port: number
  user: string
  /** Secret: the private key text, with its final newline restored. */
  privateKey: string
  /** known_hosts lines; empty only when strictHostKeyChecking is false. */
  knownHosts: string
  strictHostKeyChecking: boolean
  /** argv words put in front of the manage command on the host, e.g. ["docker","exec","-i","api"]; may be empty. */
  remotePrefix: string[]
  /** Seconds to wait for the TCP connection and the SSH handshake (ssh ConnectTimeout); default 20. */
  connectTimeoutSeconds?: number
}

export interface KubectlConfig {
  /** `deployment/NAME`, `statefulset/NAME` or `pod/NAME`. */
  resource: string
  namespace?: string
  container?: string
  context?: string
  /** Secret: kubeconfig file content; absent means the ambient KUBECONFIG or ~/.kube/config. */
  kubeconfig?: string
}

export interface Config {
  target: Target
  /** Absent: node-postgres reads the PG* environment variables (or history comes from the container). */
  databaseUrl?: string
  /** Where django_migrations is read: from the runner over database-url, or through Django in the target. */
  historySource: 'database' | 'container'
  /** The Django database alias to roll back (`--database`). */
  databaseAlias: string
  /** pg_dump --format=custom before any change. */
  backup: boolean
  /** Where the dump goes; default under RUNNER_TEMP. */
  backupPath?: string
  executor: ExecutorKind
  /** argv words, e.g. ["python", "manage.py"]. */
  manageCommand: string[]
  container?: string
  ssh?: SshConfig
  kubectl?: KubectlConfig
  dryRun: boolean
  /** With dryRun: run the plan in a transaction and roll it back. */
  trial: boolean
  allowIrreversible: boolean
  /** PostgreSQL lock_timeout for the rollback's connection, in seconds; 0 waits forever. */
  lockTimeoutSeconds: number
  /** `app.name` whose irreversible RunPython/RunSQL are no-ops when unapplied. */
  noopReverse: string[]
  /** expected-schema: `pg_dump --schema-only` of the release being restored, read and checked at input time. */
  expectedSchema?: {path: string; text: string}
  /** The summary answers a pull-request rehearsal's question: can this change be rolled back, what would it lose. */
  rehearsal: boolean
  strategy: Strategy
  /** command-timeout in seconds: the limit of each command run in the target; absent: no limit. */
  commandTimeoutSeconds?: number
}
