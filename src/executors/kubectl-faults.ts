/**
 * What a kubectl failure means, in words that say what to fix (RBAC, credentials,
 * the context, the network, the resource, the pod), and which faults are worth
 * another attempt while resolving the pod.
 */
import type {KubectlKind as Kind} from '../config.js'

/** What the action needs from RBAC, for messages. */
export function rbacNeeds(kind: Kind): string {
  const base = '"get" on pods and "create" on pods/exec'
  if (kind === 'pod') return base
  return `${base}, plus "get" on ${kind}s (API group apps) and "list" on pods to resolve ${kind}/NAME to a pod`
}

export function firstLines(text: string, count = 4): string {
  return text
    .split(/\r?\n/)
    .map(l => l.trim())
    .filter(Boolean)
    .slice(0, count)
    .join('\n')
}

/**
 * A fault of the way to the API server that may pass (refused, timed out, the server starting or
 * overloaded): worth another attempt while resolving the pod. Never Forbidden or Unauthorized.
 */
export function transientKubeFault(stderr: string): string | undefined {
  if (/\(Forbidden\)|forbidden:|Unauthorized|You must be logged in/i.test(stderr)) return undefined
  if (/connection refused/i.test(stderr)) return 'ECONNREFUSED'
  if (/i\/o timeout|TLS handshake timeout|Client\.Timeout exceeded|context deadline exceeded/i.test(stderr)) return 'ETIMEDOUT'
  if (/the server is currently unable to handle the request|ServiceUnavailable/i.test(stderr)) return 'EUNAVAILABLE'
  return undefined
}

export interface Context {
  kind: Kind
  resource: string
  namespace: string
  pod?: string
  container?: string
  during: 'resolve' | 'exec'
}

/** The message, with its fix, for a kubectl failure that is not the command's own; undefined when not recognised. */
export function explain(stderr: string, ctx: Context): string | undefined {
  const says = firstLines(stderr)
  const forbidden = /cannot (\w+) resource "([^"]+)" in API group "([^"]*)"/.exec(stderr)
  if (forbidden || /\(Forbidden\)|forbidden:/i.test(stderr)) {
    const missing = forbidden ? `"${forbidden[1]}" on ${forbidden[2]}${forbidden[3] ? ` (API group ${forbidden[3]})` : ''}` : 'a permission'
    return (
      `Kubernetes RBAC refused: the credentials lack ${missing} in namespace ${ctx.namespace} (${says}). ` +
      `The Role bound to the action's user or service account needs ${rbacNeeds(ctx.kind)}.`
    )
  }
  if (/Unauthorized|You must be logged in/i.test(stderr)) {
    return `The Kubernetes API server rejected the credentials (401 Unauthorized): the token in the kubeconfig is wrong or expired. Refresh the kubeconfig input or the cloud login step before this action. (${says})`
  }
  if (/context "[^"]*" does not exist/i.test(stderr)) {
    return `kubectl-context names a context the kubeconfig does not have: ${says}. Use one of \`kubectl config get-contexts -o name\`.`
  }
  if (/connection to the server .* was refused|Unable to connect to the server|no such host|i\/o timeout|dial tcp/i.test(stderr)) {
    return `The Kubernetes API server cannot be reached from the runner: ${says}. Check the server address in the kubeconfig and that the runner's network may reach it (private clusters need a self-hosted runner or an authorised network).`
  }
  if (/x509|certificate/i.test(stderr)) {
    return `The Kubernetes API server's TLS certificate is not trusted by the kubeconfig: ${says}. Use the kubeconfig your cluster provider gives (with certificate-authority-data).`
  }
  if (/namespaces? "[^"]*" not found/i.test(stderr)) {
    return `Namespace ${ctx.namespace} does not exist: ${says}. Check kubectl-namespace.`
  }
  const notFound = /\(NotFound\): (\S+) "([^"]+)" not found/.exec(stderr)
  if (notFound) {
    if (ctx.during === 'exec' && /^pods?$/.test(notFound[1])) {
      return (
        `Pod ${ctx.pod}, chosen for this run, no longer exists (${says}): a rollout, restart or eviction replaced it during the run. ` +
        'Commands already run in it are not undone; look at the migration state in the summary and run the action again.'
      )
    }
    return `${ctx.resource} was not found in namespace ${ctx.namespace} (${says}). Check kubectl-resource and kubectl-namespace (\`kubectl get ${ctx.kind}s -n ${ctx.namespace}\` lists them).`
  }
  if (/container .* is not valid for pod|container not found|unable to upgrade connection: container/i.test(stderr)) {
    return `Container ${ctx.container ?? ''} is not in pod ${ctx.pod ?? ''}: ${says}. Set kubectl-container (or container) to the application's container.`
  }
  if (/is not running|cannot exec into a container in a completed pod|current phase is/i.test(stderr)) {
    return `Pod ${ctx.pod ?? ''} is not running: ${says}. Run the action while the current release's pods are up.`
  }
  if (/^error: |Error from server|unable to upgrade connection/im.test(stderr)) {
    return `kubectl failed: ${says}`
  }
  return undefined
}
