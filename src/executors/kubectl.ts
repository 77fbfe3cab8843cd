/**
 * Runs commands in a Kubernetes pod with `kubectl exec`, argv after `--`
 * (no shell anywhere).
 *
 * `kubectl-resource` (deployment/NAME, statefulset/NAME or pod/NAME) is
 * resolved to ONE running pod before the first command, and every command of
 * the run goes to that pod and container: a rolling restart cannot split one
 * rollback across pods running different code. A kubeconfig given as an input
 * goes to a private temporary file (secret-files.ts) that KUBECONFIG points
 * to; without it kubectl uses the ambient KUBECONFIG or ~/.kube/config.
 */
import type {KubectlConfig, KubectlKind as Kind} from '../config.js'
import {SecretDir} from '../secret-files.js'
import {isTransient} from '../errors.js'
import {withRetries} from '../retry.js'
import {executorError, type ExecOptions, type ExecResult, type Executor, type ExecutorOptions} from './executor.js'
import {childEnvironment, type Deadline, runProcess, runProcessWithDeadline} from './process.js'
import {type Context, explain, firstLines, transientKubeFault} from './kubectl-faults.js'
import {limitOf, runUnderLimit, timeoutProbe} from './timeout.js'

interface PodJson {
  metadata: {name: string; namespace?: string; creationTimestamp?: string; deletionTimestamp?: string; annotations?: Record<string, string>}
  spec: {containers: {name: string}[]}
  status?: {
    phase?: string
    conditions?: {type: string; status: string}[]
    containerStatuses?: {name: string; ready?: boolean; state?: Record<string, {reason?: string; message?: string}>}[]
  }
}

interface LabelSelector {
  matchLabels?: Record<string, string>
  matchExpressions?: {key: string; operator: string; values?: string[]}[]
}

/** A LabelSelector object as the string form `kubectl get -l` takes. */
export function selectorString(selector: LabelSelector): string {
  const terms: string[] = []
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) terms.push(`${key}=${value}`)
  for (const e of selector.matchExpressions ?? []) {
    const values = (e.values ?? []).join(',')
    if (e.operator === 'In') terms.push(`${e.key} in (${values})`)
    else if (e.operator === 'NotIn') terms.push(`${e.key} notin (${values})`)
    else if (e.operator === 'Exists') terms.push(e.key)
    else if (e.operator === 'DoesNotExist') terms.push(`!${e.key}`)
  }
  return terms.join(',')
}

/** Values in a kubeconfig that are credentials: masked in the log and scrubbed from messages. */
export function kubeconfigSecrets(text: string): string[] {
  const values: string[] = []
  const re =
    /^\s*-?\s*(token|client-key-data|client-certificate-data|password|id-token|refresh-token|access-token|client-secret|secret)\s*:\s*(\S.*?)\s*$/gim
  for (const m of text.matchAll(re)) values.push(m[2].replace(/^["']|["']$/g, ''))
  return values.filter(v => v.length >= 4)
}

function isRunning(pod: PodJson): boolean {
  return pod.status?.phase === 'Running' && !pod.metadata.deletionTimestamp
}

function isReady(pod: PodJson): boolean {
  return pod.status?.conditions?.some(c => c.type === 'Ready' && c.status === 'True') ?? false
}

function describePod(pod: PodJson): string {
  const phase = pod.metadata.deletionTimestamp ? 'Terminating' : (pod.status?.phase ?? 'Unknown')
  return `${pod.metadata.name} (${phase})`
}

export class KubectlExecutor implements Executor {
  readonly where: string
  private closed = false
  private readonly hasTimeout = timeoutProbe(words => kubectl(this.secrets, this.env, this.execArgs(words), ''))

  private execArgs(words: string[]): string[] {
    return ['exec', '-i', this.pod, `--container=${this.container}`, ...this.globalFlags, '--', ...words]
  }

  constructor(
    private readonly secrets: SecretDir,
    private readonly env: Record<string, string>,
    private readonly globalFlags: string[],
    /** The pod every command runs in. */
    readonly pod: string,
    readonly container: string,
    readonly namespace: string,
    private readonly resource: string,
    private readonly kind: Kind,
    private readonly manageCommand: string[],
    private readonly options: ExecutorOptions = {}
  ) {
    this.where = `kubectl exec -n ${namespace} ${pod} -c ${container}${kind === 'pod' ? '' : ` (pod of ${resource})`}`
  }

  async exec(argv: string[], options: ExecOptions = {}): Promise<ExecResult> {
    if (this.closed) throw executorError('the kubectl executor is closed')
    if (argv.length === 0) throw new Error('exec needs a command')
    // Killing kubectl exec leaves the process in the container running: runUnderLimit puts `timeout` there.
    const raw = await runUnderLimit(
      argv,
      limitOf(this.options.commandTimeoutSeconds, options),
      this.hasTimeout,
      (words, deadline) => kubectl(this.secrets, this.env, this.execArgs(words), options.input ?? '', options.onStdoutLine, deadline),
      `pod ${this.pod}, container ${this.container}`
    )
    const terminated = /(?:^|\n)command terminated with exit code (\d+)\s*$/.exec(raw.stderr)
    if (terminated) {
      const result = {
        exitCode: raw.exitCode,
        stdout: raw.stdout,
        stderr: raw.stderr.slice(0, terminated.index + (raw.stderr[terminated.index] === '\n' ? 1 : 0))
      }
      const {exitCode, stderr} = result
      if (
        ((exitCode === 126 || exitCode === 127) && /executable file not found|not found|no such file|permission denied/i.test(stderr)) ||
        (exitCode === 2 && /can't open file .*manage\.py.*No such file or directory/i.test(stderr))
      ) {
        throw executorError(
          `manage.py could not be started in pod ${this.pod}, container ${this.container}: ${firstLines(stderr)}. ` +
            `Set manage-command to how manage.py is run in that container (now "${this.manageCommand.join(' ')}", run in the image's working directory; e.g. "python /app/manage.py"), ` +
            'and check kubectl-container: a sidecar (e.g. a database proxy) has no manage.py.'
        )
      }
      return result
    }
    if (raw.exitCode === 0) return raw
    const failure = explain(raw.stderr, {
      kind: this.kind,
      resource: this.resource,
      namespace: this.namespace,
      pod: this.pod,
      container: this.container,
      during: 'exec'
    })
    if (failure) throw executorError(this.secrets.redact(failure))
    return raw
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    await this.secrets.close()
  }
}

async function kubectl(
  secrets: SecretDir,
  env: Record<string, string>,
  args: string[],
  input?: string,
  onStdoutLine?: (line: string) => void,
  deadline?: Deadline
): Promise<ExecResult & {timedOut?: boolean; ms?: number}> {
  let result: ExecResult & {timedOut?: boolean; ms?: number}
  try {
    result = deadline
      ? await runProcessWithDeadline(['kubectl', ...args], {input, env: childEnvironment(env), onStdoutLine, deadline})
      : await runProcess(['kubectl', ...args], {input, env: childEnvironment(env), onStdoutLine})
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error)
    if (/Unable to locate executable file|ENOENT|not found/i.test(message)) {
      throw executorError(
        'kubectl is not installed on the runner (not found on PATH). GitHub-hosted Ubuntu runners have it; elsewhere add a step such as azure/setup-kubectl before this action.'
      )
    }
    throw executorError(`Could not run kubectl: ${secrets.redact(message)}`)
  }
  return {...result, stdout: secrets.redact(result.stdout), stderr: secrets.redact(result.stderr)}
}

export async function createKubectlExecutor(
  config: KubectlConfig,
  manageCommand: string[] = ['python', 'manage.py'],
  options: ExecutorOptions = {}
): Promise<Executor> {
  const {kind, name} = config.resource
  const resource = `${kind}/${name}`

  const secrets = SecretDir.create()
  try {
    const env: Record<string, string> = {KUBECACHEDIR: secrets.file('cache')}
    if (config.kubeconfig) {
      env.KUBECONFIG = secrets.write('kubeconfig', `${config.kubeconfig.replace(/\r\n?/g, '\n').trim()}\n`, {
        mask: kubeconfigSecrets(config.kubeconfig)
      })
    }
    const flags: string[] = []
    if (config.namespace) flags.push(`--namespace=${config.namespace}`)
    if (config.context) flags.push(`--context=${config.context}`)
    const namespaceLabel = config.namespace || "the kubeconfig's default namespace"
    const ctx: Context = {kind, resource, namespace: namespaceLabel, during: 'resolve'}

    // Reads only: safe to retry when the API server refuses, times out or is starting (never on 401/403).
    const getJson = async <T>(args: string[]): Promise<T> =>
      withRetries(
        `Kubernetes API (kubectl get ${args.join(' ')})`,
        async () => {
          const result = await kubectl(secrets, env, ['get', ...args, ...flags, '-o', 'json'])
          if (result.exitCode !== 0) {
            const fault = transientKubeFault(result.stderr)
            throw executorError(
              secrets.redact(explain(result.stderr, ctx) ?? `kubectl get ${args.join(' ')} failed: ${firstLines(result.stderr)}`),
              {hint: fault !== undefined ? 'transient' : undefined, code: fault}
            )
          }
          return JSON.parse(result.stdout) as T
        },
        {...options.retry, isTransient}
      )

    let pod: PodJson
    if (kind === 'pod') {
      pod = await getJson<PodJson>(['pod', name])
      if (!isRunning(pod)) {
        throw executorError(
          `No running pod: ${describePod(pod)} is not running. Give a running pod, or deployment/NAME to pick a running pod of the current release.`
        )
      }
    } else {
      const workload = await getJson<{spec?: {selector?: LabelSelector}}>([`${kind}.apps`, name])
      const selector = selectorString(workload.spec?.selector ?? {})
      if (!selector) throw executorError(`${resource} has no pod selector; give pod/NAME instead.`)
      const list = await getJson<{items: PodJson[]}>(['pods', '-l', selector])
      const candidates = list.items.filter(isRunning)
      if (candidates.length === 0) {
        const seen =
          list.items.length === 0 ? 'it selects no pods (scaled to 0?)' : `its pods are ${list.items.map(describePod).join(', ')}`
        throw executorError(
          `No running pod for ${resource}: ${seen}. The rollback runs in a running pod of the current release; scale it up or wait for the rollout.`
        )
      }
      // Ready first, then the newest (a rollout in progress: the newest pods run the current code), then by name.
      candidates.sort(
        (a, b) =>
          Number(isReady(b)) - Number(isReady(a)) ||
          String(b.metadata.creationTimestamp ?? '').localeCompare(String(a.metadata.creationTimestamp ?? '')) ||
          a.metadata.name.localeCompare(b.metadata.name)
      )
      pod = candidates[0]
    }

    const podName = pod.metadata.name
    const names = pod.spec.containers.map(c => c.name)
    const container = config.container || pod.metadata.annotations?.['kubectl.kubernetes.io/default-container'] || names[0]
    if (!names.includes(container)) {
      throw executorError(
        `Container ${container} not found in pod ${podName}; its containers are: ${names.join(', ')}. Set kubectl-container (or container) to the application's container.`
      )
    }
    const state = pod.status?.containerStatuses?.find(s => s.name === container)?.state
    if (state && !state.running) {
      const [what, detail] = Object.entries(state)[0] ?? ['unknown', {}]
      throw executorError(`Container ${container} in pod ${podName} is not running (${what}${detail?.reason ? `: ${detail.reason}` : ''}).`)
    }
    const namespace = config.namespace || pod.metadata.namespace || 'default'
    // Commands go to the pod's own namespace even when it came from the kubeconfig's default.
    const execFlags = [`--namespace=${namespace}`, ...(config.context ? [`--context=${config.context}`] : [])]
    return new KubectlExecutor(secrets, env, execFlags, podName, container, namespace, resource, kind, manageCommand, options)
  } catch (error) {
    await secrets.close()
    throw error
  }
}
