/** The one typed configuration that inputs.ts builds from the action's inputs. */

export type StrategyName = 'exact' | 'per-app' | 'flagsmith'

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

/** The application database as the runner reaches it, parsed once from database-url (or the PG* variables). */
export interface Database {
  /** Secret: database-url as given; absent: node-postgres and pg_dump read the runner's PG* variables. */
  url?: string
  /** `host:port/name`, never the user or password: for messages and logs. */
  where: string
  /** The database name, when known (it names the default backup file). */
  name?: string
  /** libpq variables from the URL (PGHOST, PGPASSWORD...), for pg_dump: a password never goes on its command line. */
  libpq: Record<string, string>
}

export interface SshConfig {
  kind: 'ssh'
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

export type KubectlKind = 'deployment' | 'statefulset' | 'pod'

export interface KubectlConfig {
  kind: 'kubectl'
  /** kubectl-resource, normalised: `deployment/NAME`, `statefulset/NAME` or `pod/NAME`. */
  resource: {kind: KubectlKind; name: string}
  namespace?: string
  container?: string
  context?: string
  /** Secret: kubeconfig file content; absent means the ambient KUBECONFIG or ~/.kube/config. */
  kubeconfig?: string
}

export interface LocalConfig {
  kind: 'local'
}

export interface DockerConfig {
  kind: 'docker'
  /** Name or ID of the running application container. */
  container: string
}

/** Where the Django commands run: one shape per executor. */
export type ExecutorConfig = LocalConfig | DockerConfig | SshConfig | KubectlConfig

export interface Config {
  target: Target
  /** Absent only with history-source: container and no database-url: then nothing on the runner reaches PostgreSQL. */
  database?: Database
  /** Where django_migrations is read: from the runner over database-url, or through Django in the target. */
  historySource: 'database' | 'container'
  /** The Django database alias to roll back (`--database`). */
  databaseAlias: string
  /** pg_dump --format=custom before any change. */
  backup: boolean
  /** Where the dump goes; default under RUNNER_TEMP. */
  backupPath?: string
  executor: ExecutorConfig
  /** argv words, e.g. ["python", "manage.py"]. */
  manageCommand: string[]
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
  strategy: StrategyName
  /** command-timeout in seconds: the limit of each command run in the target; absent: no limit. */
  commandTimeoutSeconds?: number
}
