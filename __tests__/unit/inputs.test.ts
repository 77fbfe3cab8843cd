import {RollbackError} from '../../src/errors.js'
import {readInputs, splitWords} from '../../src/inputs.js'

const KEY = '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----'
const base = {
  'target-datetime': '2024-10-24T08:23:45Z',
  'database-url': 'postgres://app:s3cret@db.internal:5432/flagsmith',
  executor: 'local'
}
const reader =
  (values: Record<string, string>) =>
  (name: string): string =>
    values[name] ?? ''

function errorOf(values: Record<string, string>): Error {
  try {
    readInputs(reader(values))
  } catch (error) {
    expect(error).toBeInstanceOf(RollbackError)
    expect((error as RollbackError).kind).toBe('input')
    return error as Error
  }
  throw new Error('expected an input error')
}

describe('readInputs', () => {
  it('builds one typed config with the documented defaults', () => {
    const config = readInputs(reader(base))
    expect(config).toMatchObject({
      target: {kind: 'datetime', cutoff: {utc: '2024-10-24T08:23:45.000000Z', assumedUtc: false}},
      database: {url: base['database-url'], where: 'db.internal:5432/flagsmith', name: 'flagsmith'},
      executor: {kind: 'local'},
      manageCommand: ['python', 'manage.py'],
      dryRun: false,
      allowIrreversible: false,
      strategy: 'exact',
      historySource: 'database',
      databaseAlias: 'default',
      backup: false
    })
  })

  it('needs no database URL when the history is read through the container', () => {
    const saved = {...process.env}
    try {
      for (const k of Object.keys(process.env)) if (k.startsWith('PG')) delete process.env[k]
      const config = readInputs(reader({...base, 'database-url': '', 'history-source': 'container'}))
      expect(config.database).toBeUndefined()
      expect(config.historySource).toBe('container')
    } finally {
      process.env = saved
    }
  })

  it('refuses a GITHUB_API_URL that is not a URL, naming it, before anything loads the GitHub client', () => {
    const saved = process.env.GITHUB_API_URL
    process.env.GITHUB_API_URL = 'api.github.com'
    try {
      const message = errorOf({
        ...base,
        'target-datetime': '',
        'target-version': 'v2.150.0',
        environment: 'production',
        'github-token': 't',
        'deployments-repository': 'a/b'
      }).message
      expect(message).toMatch(/^GITHUB_API_URL "api.github.com" is not a URL: expected the runner's API address/)
    } finally {
      if (saved === undefined) delete process.env.GITHUB_API_URL
      else process.env.GITHUB_API_URL = saved
    }
  })

  it.each([
    [{'target-datetime': ''}, 'target-datetime and target-version are both empty'],
    [
      {'target-datetime': '', 'target-source': 'release'},
      'target-source is set but target-version is empty: give the tag of the release checked out at "release"'
    ],
    [{'target-version': 'v2.150.0'}, 'target-datetime and target-version are both set: give exactly one'],
    [{'target-datetime': '', 'target-version': 'v2.150.0'}, 'environment is empty: target-version is resolved from the GitHub deployments'],
    [{'target-datetime': '', 'target-version': '--upload-pack=x'}, 'target-version "--upload-pack=x" is not valid'],
    [{'target-datetime': '24.10.2024'}, 'target-datetime "24.10.2024" is not an ISO 8601 datetime'],
    [{executor: ''}, 'executor is empty'],
    [{executor: 'helm'}, 'executor "helm" is not valid: expected one of local, docker, ssh, kubectl'],
    [{strategy: 'guess'}, 'strategy "guess" is not valid: expected one of exact, per-app, flagsmith'],
    [{'dry-run': 'yes'}, 'dry-run "yes" is not valid: expected true or false'],
    [{'allow-irreversible': '1'}, 'allow-irreversible "1" is not valid'],
    [{'database-url': 'mysql://u:p@h/db'}, 'database-url has scheme "mysql:"'],
    [{'database-url': 'not a url'}, 'database-url is not a URL'],
    [{'manage-command': 'cd /app && python manage.py'}, 'manage-command "cd /app && python manage.py" contains "&"'],
    [{'manage-command': 'python "manage.py'}, 'unclosed " quote'],
    [{executor: 'docker'}, 'container is empty: executor docker needs'],
    [{executor: 'docker', container: 'api;reboot'}, 'container "api;reboot" is not valid'],
    [{'history-source': 'api'}, 'history-source "api" is not valid: expected one of database, container'],
    [{'database-alias': '--settings=x'}, 'database-alias "--settings=x" is not a Django database alias'],
    [{'database-alias': 'analytics', strategy: 'flagsmith'}, 'rollbackmigrationsappliedafter has no --database option'],
    [{backup: 'true', 'database-url': '', 'history-source': 'container'}, 'backup is true but database-url is empty']
  ])('rejects %j with a message naming the input', (overrides, expected) => {
    expect(errorOf({...base, ...overrides}).message).toContain(expected)
  })

  it('never puts the database password in an error message', () => {
    const message = errorOf({...base, 'database-url': 'mysql://app:s3cret@db/x'}).message
    expect(message).not.toContain('s3cret')
  })

  it('falls back to PG* environment variables, and says what to do when there are none', () => {
    const saved = {...process.env}
    try {
      for (const k of Object.keys(process.env)) if (k.startsWith('PG')) delete process.env[k]
      expect(errorOf({...base, 'database-url': ''}).message).toContain('database-url is empty and no PG* environment')
      process.env.PGHOST = 'db.internal'
      expect(readInputs(reader({...base, 'database-url': ''})).database).toEqual({
        where: 'db.internal:5432/(default database) (PG* variables)',
        name: undefined,
        libpq: {}
      })
    } finally {
      process.env = saved
    }
  })

  it('trial goes with dry-run; lock-timeout is seconds (default 10, 0 waits forever); noop-reverse is app.name per line', () => {
    expect(readInputs(reader(base))).toMatchObject({trial: false, lockTimeoutSeconds: 10, noopReverse: []})
    expect(readInputs(reader({...base, 'dry-run': 'true', trial: 'true', 'lock-timeout': '0'}))).toMatchObject({
      trial: true,
      lockTimeoutSeconds: 0
    })
    expect(errorOf({...base, trial: 'true'}).message).toMatch(/^trial is true but dry-run is false: .*dry-run: true/)
    expect(errorOf({...base, 'lock-timeout': '10s'}).message).toMatch(/^lock-timeout "10s" is not valid: expected the seconds/)
    expect(errorOf({...base, 'lock-timeout': '-1'}).message).toMatch(/^lock-timeout "-1" is not valid/)
    expect(readInputs(reader({...base, 'lock-timeout': '2.5'})).lockTimeoutSeconds).toBe(2.5)
    const names = readInputs(reader({...base, 'noop-reverse': 'axes.0007_alter\n\n  ledger.0002_backfill \naxes.0007_alter'}))
    expect(names.noopReverse).toEqual(['axes.0007_alter', 'ledger.0002_backfill'])
    expect(errorOf({...base, 'noop-reverse': 'axes.0007\naxes 0008; rm -rf /'}).message).toMatch(
      /^noop-reverse line 2 "axes 0008; rm -rf \/" is not valid: expected app_label.migration_name/
    )
    expect(errorOf({...base, 'noop-reverse': 'axes.0007', strategy: 'per-app'}).message).toMatch(/only strategy exact can skip/)
  })

  describe('ssh', () => {
    const ssh = {...base, executor: 'ssh', 'ssh-host': 'vm.example.com', 'ssh-user': 'deploy', 'ssh-private-key': KEY}

    it('requires known_hosts unless host key checking is explicitly off', () => {
      expect(errorOf(ssh).message).toContain(
        "ssh-known-hosts is empty: add the host's public key line, e.g. from ssh-keyscan run on a trusted machine"
      )
      expect(errorOf({...ssh, 'ssh-port': '2222'}).message).toContain('(ssh-keyscan -p 2222 vm.example.com)')
      const config = readInputs(reader({...ssh, 'ssh-strict-host-key-checking': 'false'}))
      expect(config.executor).toMatchObject({kind: 'ssh', strictHostKeyChecking: false})
    })

    it('restores the private key final newline that getInput trims (and LF line ends), and defaults the prefix to docker exec', () => {
      const crlf = KEY.replace(/\n/g, '\r\n')
      const config = readInputs(
        reader({...ssh, 'ssh-private-key': crlf, 'ssh-known-hosts': 'vm.example.com ssh-ed25519 AAAA', container: 'api'})
      )
      expect(config.executor).toMatchObject({kind: 'ssh', privateKey: `${KEY}\n`, port: 22, remotePrefix: ['docker', 'exec', '-i', 'api']})
    })

    it.each([
      [{'ssh-private-key': ''}, 'ssh-private-key is empty: pass the deploy key from a secret'],
      [{'ssh-private-key': 'hunter2'}, 'ssh-private-key is not a private key'],
      [{'ssh-port': '70000'}, 'ssh-port "70000" is not valid: expected a port number from 1 to 65535'],
      [{'ssh-host': ''}, 'ssh-host is empty'],
      [{'ssh-host': 'root@vm'}, 'ssh-host "root@vm" is not valid'],
      [{'ssh-user': '-oProxyCommand=x'}, 'ssh-user "-oProxyCommand=x" is not valid']
    ])('rejects %j', (overrides, expected) => {
      expect(errorOf({...ssh, 'ssh-known-hosts': 'h ssh-ed25519 AAAA', ...overrides}).message).toContain(expected)
    })
  })

  describe('kubectl', () => {
    const kube = {...base, executor: 'kubectl'}
    it('reads the resource, namespace and container (falling back to container)', () => {
      const config = readInputs(
        reader({...kube, 'kubectl-resource': 'deployment/flagsmith-api', 'kubectl-namespace': 'flagsmith', container: 'api'})
      )
      expect(config.executor).toEqual({
        kind: 'kubectl',
        resource: {kind: 'deployment', name: 'flagsmith-api'},
        namespace: 'flagsmith',
        container: 'api',
        context: undefined,
        kubeconfig: undefined
      })
    })
    it.each([
      [{}, 'kubectl-resource is empty'],
      [{'kubectl-resource': 'flagsmith-api'}, 'expected deployment/NAME, statefulset/NAME or pod/NAME'],
      [{'kubectl-resource': 'pod/x', 'kubectl-namespace': 'Bad_NS'}, 'kubectl-namespace "Bad_NS" is not valid'],
      [{'kubectl-resource': 'service/api'}, 'kubectl-resource "service/api" is not valid: expected deployment/NAME']
    ])('rejects %j', (overrides, expected) => {
      expect(errorOf({...kube, ...overrides}).message).toContain(expected)
    })
    it.each([
      ['deploy/api', 'deployment'],
      ['deployment.apps/api', 'deployment'],
      ['sts/api', 'statefulset'],
      ['pods/api', 'pod']
    ])("accepts kubectl's other names for a workload: %s", (given, kind) => {
      const config = readInputs(reader({...kube, 'kubectl-resource': given}))
      expect(config.executor).toMatchObject({kind: 'kubectl', resource: {kind, name: 'api'}})
    })
  })
})

describe('splitWords', () => {
  it('splits like a shell, with quotes, but runs without one', () => {
    expect(splitWords('manage-command', `python "/srv/my app/manage.py"`)).toEqual(['python', '/srv/my app/manage.py'])
    expect(splitWords('manage-command', `  /venv/bin/python   manage.py `)).toEqual(['/venv/bin/python', 'manage.py'])
    expect(splitWords('x', `a 'b;c' "d\\"e" f\\ g ''`)).toEqual(['a', 'b;c', 'd"e', 'f g', ''])
  })
  it.each(['python manage.py; rm -rf /', 'python $(which manage.py)', 'python `x`', 'python manage.py | tee', 'a > b'])(
    'refuses shell syntax in %j',
    value => {
      expect(() => splitWords('manage-command', value)).toThrow(/run without a shell/)
    }
  )
})

describe('readInputs, target-version', () => {
  const version = {...base, 'target-datetime': '', 'target-version': 'v2.150.0'}
  it('resolves through deployments of an environment, with the workflow repository and API URL', () => {
    const saved = {...process.env}
    try {
      process.env.GITHUB_REPOSITORY = 'acme/flagsmith-deploy'
      process.env.GITHUB_API_URL = 'https://ghes.example.com/api/v3/'
      expect(readInputs(reader({...version, environment: 'production', 'github-token': 'ghs_x'})).target).toEqual({
        kind: 'deployments',
        version: 'v2.150.0',
        environment: 'production',
        token: 'ghs_x',
        repository: 'acme/flagsmith-deploy',
        apiUrl: 'https://ghes.example.com/api/v3'
      })
    } finally {
      process.env = saved
    }
  })
  it('resolves from a source checkout relative to the workspace', () => {
    const saved = {...process.env}
    try {
      process.env.GITHUB_WORKSPACE = '/home/runner/work/app'
      expect(readInputs(reader({...version, 'target-source': 'release'})).target).toEqual({
        kind: 'source',
        version: 'v2.150.0',
        path: '/home/runner/work/app/release'
      })
    } finally {
      process.env = saved
    }
  })
})
