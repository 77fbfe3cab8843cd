import {readInputs} from '../../src/inputs.js'
import {configView, maskSecrets, secretsOf} from '../../src/secrets.js'

const KEY = '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----'
const inputs: Record<string, string> = {
  'target-version': 'v2.150.0',
  environment: 'production',
  'github-token': 'ghs_0123456789abcdef',
  'deployments-repository': 'acme/flagsmith',
  'database-url': 'postgres://app:p%40ss@db.internal:5432/flagsmith',
  executor: 'ssh',
  'ssh-host': 'vm.example.com',
  'ssh-user': 'deploy',
  'ssh-private-key': KEY,
  'ssh-known-hosts': 'vm.example.com ssh-ed25519 AAAA'
}
const config = readInputs(name => inputs[name] ?? '')

describe('maskSecrets', () => {
  it('registers the URL, its password, the token, the key and its lines, and nothing that is not secret', () => {
    const masked: string[] = []
    maskSecrets(config, value => masked.push(value))
    expect(masked).toEqual(
      expect.arrayContaining([
        'postgres://app:p%40ss@db.internal:5432/flagsmith',
        'p@ss',
        'ghs_0123456789abcdef',
        `${KEY}\n`,
        'b3BlbnNzaC1rZXktdjEAAAAA'
      ])
    )
    expect(masked).not.toContain('vm.example.com')
    expect(masked).not.toContain('deploy')
  })

  it("masks a kubeconfig's credentials, not its every line", () => {
    const kubeconfig = 'apiVersion: v1\nusers:\n- name: ci\n  user:\n    token: eyJhbGciOiJSUzI1NiJ9.secret-token\n'
    const kube = readInputs(name => ({...inputs, executor: 'kubectl', 'kubectl-resource': 'deployment/api', kubeconfig})[name] ?? '')
    const masked: string[] = []
    maskSecrets(kube, value => masked.push(value))
    expect(masked).toContain('eyJhbGciOiJSUzI1NiJ9.secret-token')
    expect(masked).not.toContain('users:')
  })
})

describe('configView', () => {
  it('carries what the summary shows and no secret at all', () => {
    const text = JSON.stringify(configView(config))
    for (const secret of secretsOf(config)) expect(text).not.toContain(secret)
    expect(text).not.toContain('p@ss')
    expect(configView(config)).toMatchObject({strategy: 'exact', databaseAlias: 'default', manageCommand: ['python', 'manage.py']})
  })
})
