/**
 * What a failed ssh run means, in words that say what to fix: ssh's own
 * failures (exit 255: resolution, reachability, host keys, the key), then the
 * container's (docker), then manage.py's. Transient ones are marked so that
 * connecting is retried on them.
 */
import type {SshConfig} from '../config.js'
import type {RollbackError} from '../errors.js'
import {executorError, type ExecResult} from './executor.js'

export interface SshContext extends Pick<SshConfig, 'host' | 'port' | 'user' | 'remotePrefix'> {
  manageCommand: string[]
  /** How the summary names where commands run. */
  where: string
}

export function firstLines(text: string, count = 6): string {
  return text
    .split(/\r?\n/)
    .map(line => line.trim())
    .filter(line => line !== '')
    .slice(0, count)
    .join('\n')
}

/** The failure a result stands for, or undefined when it is the command's own exit status. */
export function sshFault(result: Pick<ExecResult, 'exitCode' | 'stderr'>, ctx: SshContext): RollbackError | undefined {
  const {exitCode, stderr} = result
  if (exitCode === 0) return undefined
  const {host, port, user} = ctx
  const hostPort = `${host} port ${port}`
  const sshSays = firstLines(stderr)
  if (exitCode === 255) {
    // Transient (retried while connecting): refused, timed out, no route, a temporary DNS failure.
    if (/Could not resolve hostname|Name or service not known|Temporary failure in name resolution|nodename nor servname/i.test(stderr)) {
      const temporary = /Temporary failure in name resolution|try again/i.test(stderr)
      return executorError(
        `SSH: the host name ${host} does not resolve (${sshSays}). Check ssh-host; a host on a private network needs a runner that can reach it (self-hosted runner, VPN or bastion).`,
        {hint: temporary ? 'transient' : undefined, code: temporary ? 'EAI_AGAIN' : undefined}
      )
    }
    if (/Connection timed out|Operation timed out|No route to host|Network is unreachable|Host is unreachable/i.test(stderr)) {
      const timedOut = /timed out/i.test(stderr)
      return executorError(
        `SSH: ${hostPort} is unreachable from the runner (${sshSays}). Check ssh-host and ssh-port, and that a firewall or security group lets the runner's address in; a host on a private network needs a self-hosted runner, a VPN or a bastion.`,
        {
          hint: /Connection timed out|Operation timed out|No route to host/i.test(stderr) ? 'transient' : undefined,
          code: timedOut ? 'ETIMEDOUT' : undefined
        }
      )
    }
    if (/Connection refused/i.test(stderr)) {
      return executorError(
        `SSH: ${hostPort} refused the connection: nothing listens on that port (${sshSays}). Check ssh-port and that sshd runs on the host.`,
        {hint: 'transient', code: 'ECONNREFUSED'}
      )
    }
    if (/REMOTE HOST IDENTIFICATION HAS CHANGED|Host key for .* has changed|host key .* differs/i.test(stderr)) {
      const fingerprint = /SHA256:[A-Za-z0-9+/=]+/.exec(stderr)?.[0]
      return executorError(
        `SSH: the host key of ${hostPort} does NOT match ssh-known-hosts${fingerprint ? ` (the host sent ${fingerprint})` : ''}. ` +
          'This can mean that someone is intercepting the connection (a man-in-the-middle attack); it can also mean the host was reinstalled or its key rotated. ' +
          'Nothing was sent to the host. Do not turn host key checking off: find out why the key changed, then refresh ssh-known-hosts from a trusted source, e.g. ' +
          `\`ssh-keyscan -p ${port} ${host}\` run on a machine you trust over a network you trust, or /etc/ssh/ssh_host_*_key.pub read on the host's console, ` +
          'and compare the fingerprint (ssh-keygen -lf) with the one your provider shows.'
      )
    }
    if (/No \S+ host key is known for|Host key verification failed/i.test(stderr)) {
      const portHint = port === 22 ? `${host} KEYTYPE KEY` : `[${host}]:${port} KEYTYPE KEY (brackets and port, as the port is not 22)`
      return executorError(
        `SSH: ssh-known-hosts has no key for ${hostPort}, so the host cannot be verified (${sshSays}). ` +
          `Add the host's key line, written ${portHint}, e.g. the output of \`ssh-keyscan -p ${port} ${host}\` run on a machine you trust; check its fingerprint (ssh-keygen -lf) against the host's own key.`
      )
    }
    if (/passphrase/i.test(stderr)) {
      return executorError(
        'SSH: ssh-private-key is protected by a passphrase, which the action cannot type: use a dedicated deploy key without a passphrase, kept in a secret.'
      )
    }
    if (/Load key .*(invalid format|error in libcrypto)|invalid format/i.test(stderr)) {
      return executorError(
        'SSH: ssh-private-key is not a valid private key: give the whole key file (-----BEGIN ... PRIVATE KEY----- to the END line) from a secret, not the public key or a fingerprint.'
      )
    }
    if (/Permission denied \((publickey|.*publickey.*)\)|Permission denied/i.test(stderr)) {
      return executorError(
        `SSH: ${user}@${host} rejected the key in ssh-private-key (${sshSays}). Add the key's public half to ~${user}/.ssh/authorized_keys on the host (ssh-keygen -y -f KEYFILE prints it), and check ssh-user.`
      )
    }
    if (
      /^(ssh: |kex_exchange_identification|Connection (closed|reset)|banner exchange|Bad |ssh_exchange_identification|mux_client|ControlSocket|Control socket)/im.test(
        stderr
      )
    ) {
      return executorError(`SSH: the connection to ${hostPort} as ${user} failed: ${sshSays}`)
    }
  }
  const prefix = ctx.remotePrefix
  const daemon =
    /Error response from daemon: (No such container: .*|[Cc]ontainer .* is not running.*|.*is paused.*|.*is restarting.*)/.exec(stderr)
  if (daemon) {
    return executorError(
      `The container is not available on ${host}: docker says "${daemon[0].trim()}". ` +
        `Check the container input (or ssh-remote-prefix, now "${prefix.join(' ')}"): \`docker ps\` on the host lists the running containers. ` +
        'The rollback must run in a running container of the current release.'
    )
  }
  if (/service "[^"]*" is not running|no such service: /i.test(stderr)) {
    return executorError(
      `The compose service is not available on ${host}: ${sshSays}. Check ssh-remote-prefix (now "${prefix.join(' ')}").`
    )
  }
  if (/permission denied while trying to connect to the Docker daemon|Got permission denied .*docker\.sock/i.test(stderr)) {
    return executorError(
      `${user} may not use docker on ${host}: ${sshSays}. Add ${user} to the docker group on the host, or set ssh-remote-prefix to run docker with sudo (e.g. "sudo -n docker exec -i NAME") with a sudoers rule for that command.`
    )
  }
  const manage = ctx.manageCommand.join(' ')
  if (
    ((exitCode === 126 || exitCode === 127) &&
      /not found|No such file|executable file not found|Permission denied|cannot execute/i.test(stderr)) ||
    (exitCode === 2 && /can't open file .*manage\.py.*No such file or directory/i.test(stderr))
  ) {
    const first = prefix[0]
    if (first && new RegExp(`(^|[\\s:])${first.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: (command )?not found`).test(stderr)) {
      return executorError(
        `"${first}" (the start of ssh-remote-prefix) is not found on ${host}: ${sshSays}. Install it there or fix ssh-remote-prefix.`
      )
    }
    return executorError(
      `manage.py could not be started through ${ctx.where}: ${sshSays}. ` +
        `Set manage-command to how manage.py is run there (now "${manage}"; it runs in the container's working directory, e.g. "python /app/manage.py" or "/venv/bin/python manage.py"), ` +
        `and ssh-remote-prefix to what runs in front of it on the host (now "${prefix.join(' ')}"${prefix.length === 0 ? ': empty runs it on the host itself' : ''}).`
    )
  }
  return undefined
}
