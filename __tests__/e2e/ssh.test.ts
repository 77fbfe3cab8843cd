/**
 * End to end over SSH: the built action (`node dist/index.js`) with executor
 * ssh against a real sshd on 127.0.0.1 (support/sshd.ts), whose `docker`
 * stand-in runs manage.py of a Flagsmith-shaped project generated from
 * Flagsmith's real migration graph, with the remote DATABASE_URL.
 */
import {afterAll, beforeAll, describe, expect, it} from '@jest/globals'
import {json, parseOutputFile, runAction, type ActionRun} from '../support/action.js'
import {serverNow} from '../support/django-project.js'
import {
  appliedMigrations,
  databaseAtRelease,
  deployFlagsmith,
  expectedApplied,
  expectedTables,
  flagsmithProject,
  flagsmithTables
} from '../support/flagsmith.js'
import {freePort, query, testServer} from '../support/postgres.js'
import {pythonBin} from '../support/python.js'
import {startSshd, type Sshd} from '../support/sshd.js'

const CURRENT = 'v2.265.0'
const EARLIER = 'v2.150.0'
const sorted = (s: Iterable<string>): string[] => [...s].sort()

let sshd: Sshd

beforeAll(async () => {
  // The "container" flagsmith runs the current release's code, in its project dir (like Flagsmith's /app).
  flagsmithProject(CURRENT)
  sshd = await startSshd({containers: ['flagsmith'], containerWorkdir: flagsmithProject(CURRENT)})
}, 300000)

afterAll(async () => {
  await sshd?.stop()
})

async function deploy(a: string, b: string): Promise<{db: string; cutoff: string}> {
  const db = await databaseAtRelease(a)
  const cutoff = await serverNow(db)
  await deployFlagsmith(db, b)
  return {db, cutoff}
}

function sshInputs(overrides: Record<string, string> = {}): Record<string, string> {
  return {
    executor: 'ssh',
    'ssh-host': sshd.host,
    'ssh-port': String(sshd.port),
    'ssh-user': sshd.user,
    'ssh-private-key': sshd.privateKey,
    'ssh-known-hosts': sshd.knownHosts,
    container: 'flagsmith',
    'manage-command': `${pythonBin()} manage.py`,
    ...overrides
  }
}

/** Runs the action with the remote Django pointed at db (remote env), as on a real host. */
function rollback(db: string, cutoff: string, inputs: Record<string, string> = {}, remoteDb = db): Promise<ActionRun> {
  sshd.setEnv({DATABASE_URL: remoteDb})
  return runAction({'target-datetime': cutoff, 'database-url': db, ...sshInputs(inputs)})
}

async function expectReleaseState(db: string, tag: string): Promise<void> {
  expect(sorted(await appliedMigrations(db))).toEqual(sorted(expectedApplied(tag)))
  expect(sorted(await flagsmithTables(db))).toEqual(sorted(expectedTables(tag)))
}

function djangoProcesses(summary: string): {processes: number; seconds: number} | undefined {
  const m = /Django processes<\/th><td>(\d+), ([\d.]+) s in all/.exec(summary)
  return m ? {processes: Number(m[1]), seconds: Number(m[2])} : undefined
}

/** The `::error::` line of the run (core.setFailed). */
function errorLine(run: ActionRun): string {
  return run.stdout.split('\n').find(line => line.startsWith('::error::')) ?? ''
}

describe('executor ssh, end to end on the Flagsmith graph', () => {
  it(`${CURRENT} -> ${EARLIER}: the database equals ${EARLIER}'s, over one SSH connection`, async () => {
    const {db, cutoff} = await deploy(EARLIER, CURRENT)
    const connectionsBefore = sshd.connections()

    const run = await rollback(db, cutoff)
    expect(errorLine(run)).toBe('')
    expect(run.exitCode).toBe(0)
    expect(run.outputs.status).toBe('rolled-back')
    expect(json(run.outputs['rolled-back']).length).toBeGreaterThan(90)
    await expectReleaseState(db, EARLIER)

    expect(sshd.connections() - connectionsBefore).toBe(1)
    expect(run.summary).toContain(`ssh ${sshd.user}@127.0.0.1:${sshd.port} docker exec -i flagsmith`)
    const timing = djangoProcesses(run.summary)
    expect(timing?.processes).toBe(1)
    console.log(
      `ssh ${CURRENT} -> ${EARLIER}: ${json(run.outputs['rolled-back']).length} migrations, Django processes ${timing?.processes}, ${timing?.seconds} s, ${sshd.connections() - connectionsBefore} SSH connection(s)`
    )
    expect(run.leftInRunnerTemp).toEqual([])
  }, 300000)

  it('ssh-remote-prefix: an explicit `docker exec -i flagsmith`, and an empty prefix that runs manage.py on the host', async () => {
    const manage = `${pythonBin()} ${flagsmithProject('v2.27.0')}/manage.py`

    const explicit = await deploy('v2.26.5', 'v2.27.0')
    const viaPrefix = await rollback(explicit.db, explicit.cutoff, {
      container: '',
      'ssh-remote-prefix': 'docker exec -i flagsmith',
      'manage-command': manage
    })
    expect(errorLine(viaPrefix)).toBe('')
    expect(viaPrefix.outputs.status).toBe('rolled-back')
    expect(json(viaPrefix.outputs['rolled-back'])).toContain('segments.0010_add_uuid_fields')
    expect(viaPrefix.summary).toContain('docker exec -i flagsmith')
    await expectReleaseState(explicit.db, 'v2.26.5')

    // No container and no prefix: manage.py runs on the host itself (remote argv = manage-command). The host's
    // login shell does not give it the harness's remote environment (Debian's bash, started by sshd, reads
    // ~/.bashrc instead of BASH_ENV), so manage-command sets DATABASE_URL with the host's `env`.
    const onHost = await deploy('v2.26.5', 'v2.27.0')
    const connectionsBefore = sshd.connections()
    const hostManage = `/usr/bin/env DATABASE_URL=${onHost.db} ${manage}`
    const direct = await rollback(onHost.db, onHost.cutoff, {container: '', 'ssh-remote-prefix': '', 'manage-command': hostManage})
    expect(errorLine(direct)).toBe('')
    expect(direct.outputs.status).toBe('rolled-back')
    expect(direct.summary).toContain(`<th align="left">Ran in</th><td>ssh ${sshd.user}@127.0.0.1:${sshd.port}</td>`)
    expect(json(direct.outputs.commands)[0]).toMatch(/^\/usr\/bin\/env \S*DATABASE_URL=\S+ \S+\/python \S+\/manage\.py shell /)
    await expectReleaseState(onHost.db, 'v2.26.5')
    expect(sshd.connections() - connectionsBefore).toBe(1)
  }, 300000)
})

describe('executor ssh, errors end to end: the message in ::error:: and the summary, the database unchanged', () => {
  let db: string
  let cutoff: string
  let before: string[]

  beforeAll(async () => {
    ;({db, cutoff} = await deploy('v2.26.5', 'v2.27.0'))
    before = sorted(await appliedMigrations(db))
  }, 300000)

  async function expectFailure(inputs: Record<string, string>, ...messages: (string | RegExp)[]): Promise<ActionRun> {
    const connectionsBefore = sshd.connections()
    const run = await rollback(db, cutoff, inputs)
    expect(run.exitCode).not.toBe(0)
    expect(run.outputs.status).toBe('failed')
    const line = errorLine(run)
    for (const message of messages) {
      if (typeof message === 'string') {
        expect(line).toContain(message)
        expect(run.summary).toContain(message)
      } else {
        expect(line).toMatch(message)
        expect(run.summary).toMatch(message)
      }
    }
    expect(run.summary.split('\n')[0]).toBe('## ⛔ Rollback stopped before any change: the database is as it was')
    expect(sorted(await appliedMigrations(db))).toEqual(before)
    expect(run.leftInRunnerTemp).toEqual([])
    ;(run as ActionRun & {connections: number}).connections = sshd.connections() - connectionsBefore
    return run
  }

  it('wrong host key: refused before anything is sent, and the message says it can be an attack and how to refresh known_hosts', async () => {
    const run = await expectFailure(
      {'ssh-known-hosts': sshd.wrongKnownHosts},
      `the host key of 127.0.0.1 port ${sshd.port} does NOT match ssh-known-hosts`,
      'man-in-the-middle attack',
      `ssh-keyscan -p ${sshd.port} 127.0.0.1`
    )
    expect((run as ActionRun & {connections: number}).connections).toBe(0)
  })

  it('empty known_hosts: refused before connecting, naming the input and ssh-keyscan', async () => {
    const run = await expectFailure({'ssh-known-hosts': ''}, 'ssh-known-hosts is empty', 'ssh-keyscan run on a trusted machine')
    expect((run as ActionRun & {connections: number}).connections).toBe(0)
  })

  it('port closed: says nothing listens there', async () => {
    const closed = await freePort()
    await expectFailure(
      {'ssh-port': String(closed), 'ssh-known-hosts': `[127.0.0.1]:${closed} ${sshd.knownHosts.split(' ').slice(1).join(' ')}`},
      `SSH: 127.0.0.1 port ${closed} refused the connection: nothing listens on that port`,
      'Check ssh-port and that sshd runs on the host'
    )
  })

  it("container not found: docker's own message is passed on", async () => {
    await expectFailure(
      {container: 'flagsmith-api'},
      'The container is not available on 127.0.0.1',
      'Error response from daemon: No such container: flagsmith-api',
      /docker ps/
    )
  })
})

describe('executor ssh, secrets', () => {
  it('a full rollback never shows the database password or the private key, and leaves no key file', async () => {
    const {db, cutoff} = await deploy('v2.26.5', 'v2.27.0')
    const password = `Db-Pa55word-${Math.random().toString(36).slice(2)}-zq`
    const role = `rollback_secret_${process.pid}`
    const admin = testServer().adminUrl
    await query(admin, `DROP ROLE IF EXISTS ${role}`)
    // Superuser: Django drops tables the template's owner created. (The test server trusts 127.0.0.1, so the
    // password is not checked by the server; what matters here is that it travels in the URL.)
    await query(admin, `CREATE ROLE ${role} LOGIN SUPERUSER PASSWORD '${password}'`)
    const url = new URL(db)
    url.username = role
    url.password = password
    const secretDb = url.toString()
    expect(secretDb).toContain(password)

    const run = await rollback(secretDb, cutoff, {
      container: '',
      'ssh-remote-prefix': 'docker exec -i flagsmith',
      'manage-command': `${pythonBin()} ${flagsmithProject('v2.27.0')}/manage.py`
    })
    expect(errorLine(run)).toBe('')
    expect(run.outputs.status).toBe('rolled-back')
    await expectReleaseState(db, 'v2.26.5')

    const secrets = [
      password,
      secretDb,
      sshd.privateKey.trim(),
      // Every line of the key body that could identify it on its own.
      ...sshd.privateKey.split('\n').filter(line => line.length >= 16 && !line.startsWith('-----'))
    ]
    const visible = [
      run.stdout
        .split('\n')
        .filter(line => !line.startsWith('::add-mask::'))
        .join('\n'),
      run.stderr
        .split('\n')
        .filter(line => !line.startsWith('::add-mask::'))
        .join('\n'),
      run.summary,
      JSON.stringify(run.outputs)
    ]
    for (const secret of secrets) for (const text of visible) expect(text.includes(secret)).toBe(false)
    // The masks were registered, so the runner hides them anywhere else too.
    expect(run.stdout).toContain(`::add-mask::${password}`)
    // No key, known_hosts or control socket left: the private dir under RUNNER_TEMP is gone, and the post step has nothing to do.
    expect(run.state).toMatch(/"\/[^"]*action-run-[^"/]+\/django-rollback-[^"]+"/) // the key did go under RUNNER_TEMP
    expect(run.leftInRunnerTemp).toEqual([])
    expect(parseOutputFile(run.state)['secret-dirs']).toBe('[]')
    await query(admin, `DROP ROLE IF EXISTS ${role}`).catch(() => undefined)
  }, 300000)
})
