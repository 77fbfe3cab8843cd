import {sshFault} from '../../../src/executors/ssh-faults.js'

const ctx = {
  host: 'vm.example.com',
  port: 2222,
  user: 'deploy',
  remotePrefix: ['docker', 'exec', '-i', 'api'],
  manageCommand: ['python', 'manage.py'],
  where: 'ssh deploy@vm.example.com'
}

describe('sshFault', () => {
  it("is nothing for the command's own exit status", () => {
    expect(sshFault({exitCode: 0, stderr: ''}, ctx)).toBeUndefined()
    expect(sshFault({exitCode: 1, stderr: 'CommandError: something Django said'}, ctx)).toBeUndefined()
  })

  it('marks the faults worth another attempt while connecting, with a code for the retry line', () => {
    const refused = sshFault({exitCode: 255, stderr: 'ssh: connect to host vm.example.com port 2222: Connection refused'}, ctx)
    expect(refused).toMatchObject({kind: 'executor', transient: true, code: 'ECONNREFUSED'})
    expect(refused?.message).toContain('vm.example.com port 2222 refused the connection')
    const dns = sshFault({exitCode: 255, stderr: 'ssh: Could not resolve hostname vm.example.com: Name or service not known'}, ctx)
    expect(dns?.transient).toBe(false)
  })

  it('never retries a changed host key, and says not to turn checking off', () => {
    const changed = sshFault({exitCode: 255, stderr: '@@@ WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED! @@@\nSHA256:abc+/= ...'}, ctx)
    expect(changed?.transient).toBe(false)
    expect(changed?.message).toContain('(the host sent SHA256:abc+/=)')
    expect(changed?.message).toContain('Do not turn host key checking off')
  })

  it('tells a missing container from a manage.py that cannot start', () => {
    expect(sshFault({exitCode: 1, stderr: 'Error response from daemon: No such container: api'}, ctx)?.message).toContain(
      'The container is not available on vm.example.com: docker says "Error response from daemon: No such container: api"'
    )
    expect(sshFault({exitCode: 127, stderr: 'sh: python: not found'}, ctx)?.message).toContain(
      'manage.py could not be started through ssh deploy@vm.example.com'
    )
  })
})
