/** executor and the inputs of each executor, into one shape per executor. */
import type {ExecutorConfig, KubectlConfig, KubectlKind, SshConfig} from '../config.js'
import {inputError} from '../errors.js'
import {type InputReader, booleanInput, oneOf, required, splitWords} from './read.js'

const EXECUTORS: readonly ExecutorConfig['kind'][] = ['local', 'docker', 'ssh', 'kubectl']
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/
const CONTAINER_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/

/** The resource types kubectl accepts for the workloads this action can exec into, by every name kubectl knows them. */
const KUBECTL_KINDS: Record<string, KubectlKind> = {
  deployment: 'deployment',
  deployments: 'deployment',
  deploy: 'deployment',
  'deployment.apps': 'deployment',
  statefulset: 'statefulset',
  statefulsets: 'statefulset',
  sts: 'statefulset',
  'statefulset.apps': 'statefulset',
  pod: 'pod',
  pods: 'pod',
  po: 'pod'
}

function readSsh(read: InputReader, container: string | undefined): SshConfig {
  const host = required(read, 'ssh-host', 'executor ssh needs the host that runs the application containers')
  if (/[\s@]/.test(host) || host.startsWith('-')) {
    throw inputError(`ssh-host ${JSON.stringify(host)} is not valid: expected a host name or IP address, without user@`)
  }
  const portText = read('ssh-port') || '22'
  const port = Number(portText)
  if (!/^\d+$/.test(portText) || port < 1 || port > 65535) {
    throw inputError(`ssh-port ${JSON.stringify(portText)} is not valid: expected a port number from 1 to 65535`)
  }
  const user = required(read, 'ssh-user', 'executor ssh needs the remote user (one allowed to run docker)')
  if (!/^[A-Za-z0-9._][A-Za-z0-9._-]*$/.test(user)) {
    throw inputError(`ssh-user ${JSON.stringify(user)} is not valid: expected a user name such as deploy`)
  }
  const privateKey = read('ssh-private-key')
  if (privateKey.trim() === '') {
    throw inputError(
      'ssh-private-key is empty: pass the deploy key from a secret, e.g. ssh-private-key: ${{ secrets.DEPLOY_SSH_KEY }} ' +
        '(an empty value usually means the secret is not available to this workflow or environment)'
    )
  }
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(privateKey)) {
    throw inputError('ssh-private-key is not a private key: expected the text of an OpenSSH or PEM private key file')
  }
  const strictHostKeyChecking = booleanInput(read, 'ssh-strict-host-key-checking', true)
  const knownHosts = read('ssh-known-hosts')
  if (knownHosts.trim() === '' && strictHostKeyChecking) {
    throw inputError(
      "ssh-known-hosts is empty: add the host's public key line, e.g. from ssh-keyscan run on a trusted machine " +
        `(ssh-keyscan${port === 22 ? '' : ` -p ${port}`} ${host}), stored as a secret or variable, and check its fingerprint ` +
        "(ssh-keygen -lf) against the host's own key"
    )
  }
  const prefixInput = read('ssh-remote-prefix')
  const remotePrefix =
    prefixInput !== '' ? splitWords('ssh-remote-prefix', prefixInput) : container ? ['docker', 'exec', '-i', container] : []
  return {
    kind: 'ssh',
    host,
    port,
    user,
    // OpenSSH wants LF line ends and the final newline, which secrets often lose.
    privateKey: `${privateKey.replace(/\r\n?/g, '\n').trim()}\n`,
    knownHosts,
    strictHostKeyChecking,
    remotePrefix
  }
}

function readKubectl(read: InputReader, container: string | undefined): KubectlConfig {
  const given = required(
    read,
    'kubectl-resource',
    'executor kubectl needs the workload to exec into, e.g. deployment/flagsmith-api or pod/NAME'
  )
  const match = /^([A-Za-z.]+)\/(.+)$/.exec(given.trim())
  const kind = match ? KUBECTL_KINDS[match[1].toLowerCase()] : undefined
  if (!match || !kind || !DNS_SUBDOMAIN.test(match[2])) {
    throw inputError(`kubectl-resource ${JSON.stringify(given)} is not valid: expected deployment/NAME, statefulset/NAME or pod/NAME`)
  }
  const namespace = read('kubectl-namespace') || undefined
  if (namespace && !DNS_LABEL.test(namespace)) {
    throw inputError(`kubectl-namespace ${JSON.stringify(namespace)} is not valid: expected a namespace name`)
  }
  const kubectlContainer = read('kubectl-container') || container
  if (kubectlContainer && !DNS_LABEL.test(kubectlContainer)) {
    throw inputError(`kubectl-container ${JSON.stringify(kubectlContainer)} is not valid: expected a container name`)
  }
  const context = read('kubectl-context') || undefined
  if (context && (/\s/.test(context) || context.startsWith('-'))) {
    throw inputError(`kubectl-context ${JSON.stringify(context)} is not valid: expected a context name from the kubeconfig`)
  }
  const kubeconfig = read('kubeconfig').trim() || undefined
  return {kind: 'kubectl', resource: {kind, name: match[2]}, namespace, container: kubectlContainer, context, kubeconfig}
}

export function readExecutor(read: InputReader): ExecutorConfig {
  const kind = oneOf('executor', required(read, 'executor', `expected one of ${EXECUTORS.join(', ')}`), EXECUTORS)
  const container = read('container') || undefined
  if (container && !CONTAINER_NAME.test(container)) {
    throw inputError(`container ${JSON.stringify(container)} is not valid: expected a container name such as flagsmith-api`)
  }
  switch (kind) {
    case 'local':
      return {kind}
    case 'docker':
      if (!container) throw inputError('container is empty: executor docker needs the name or ID of the running application container')
      return {kind, container}
    case 'ssh':
      return readSsh(read, container)
    case 'kubectl':
      return readKubectl(read, container)
  }
}
