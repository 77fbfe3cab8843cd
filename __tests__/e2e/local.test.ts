/**
 * End to end: the built action (`node dist/index.js`, run as the runner runs it)
 * against a real PostgreSQL and the real Django test project, executor local.
 */
import {parseDatabaseUrl} from '../../src/database.js'
import {spawnSync} from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {acquireRollbackLock} from '../../src/lock.js'
import {json, runAction} from '../support/action.js'
import {dockerStandIn} from '../support/docker-standin.js'
import {appliedMigrations, columns, deployRelease, projectDir, serverNow, tables} from '../support/django-project.js'
import {createDatabase, query} from '../support/postgres.js'
import {pythonBin} from '../support/python.js'

const manageCommand = `${pythonBin()} ${projectDir}/manage.py`

interface Deployed {
  db: string
  cutoff: string
  releaseA: string[]
  schemaA: Record<string, string[]>
}

async function schema(db: string): Promise<Record<string, string[]>> {
  const result: Record<string, string[]> = {}
  for (const table of await tables(db)) result[table] = await columns(db, table)
  return result
}

/** Deploys release `from`, takes the cutoff from the database clock, deploys B. */
async function deployAThenB(from = 'A'): Promise<Deployed> {
  const db = await createDatabase(`main_${from}`)
  await deployRelease(db, from)
  const releaseA = await appliedMigrations(db)
  const schemaA = await schema(db)
  const cutoff = await serverNow(db)
  await deployRelease(db, 'B')
  return {db, cutoff, releaseA, schemaA}
}

function rollback(d: Deployed, inputs: Record<string, string> = {}, env: Record<string, string> = {}) {
  return runAction(
    {
      'target-datetime': d.cutoff,
      'database-url': d.db,
      executor: 'local',
      'manage-command': manageCommand,
      ...inputs
    },
    {env: {DATABASE_URL: d.db, ...env}}
  )
}

describe('rollback by datetime, local executor', () => {
  it('unapplies exactly what came after the cutoff: history and schema equal release A again', async () => {
    const d = await deployAThenB()
    const afterB = await appliedMigrations(d.db, d.cutoff)
    expect(afterB.length).toBeGreaterThanOrEqual(10)

    const run = await rollback(d)
    expect(run.stderr + run.stdout).not.toMatch(/::error::/)
    expect(run.exitCode).toBe(0)
    expect(run.outputs.status).toBe('rolled-back')
    expect(await appliedMigrations(d.db)).toEqual(d.releaseA)
    expect(await schema(d.db)).toEqual(d.schemaA)
    expect(json(run.outputs['rolled-back']).sort()).toEqual(afterB)
    expect(json(run.outputs.plan).length).toBeGreaterThan(0)
    expect(run.outputs.cutoff).toBe(d.cutoff.replace('Z', '+00:00'))
    const commands = json(run.outputs.commands)
    expect(commands).toHaveLength(1)
    expect(commands[0].startsWith(`${manageCommand} shell -v 0 -c 'import io,sys;`)).toBe(true)
    expect(commands[0].endsWith(' < rollback.py+request')).toBe(true)
    expect(run.summary.split('\n')[0]).toMatch(/^## ✅ Rolled back \d+ migrations in \d+ apps/)
    expect(run.summary).toContain('Next: deploy the earlier release now')

    const again = await rollback(d)
    expect(again.exitCode).toBe(0)
    expect(again.outputs.status).toBe('nothing-to-roll-back')
    expect(json(again.outputs['rolled-back'])).toEqual([])
    expect(await appliedMigrations(d.db)).toEqual(d.releaseA)
  })

  it('a dry run checks the plan in Django and changes nothing', async () => {
    const d = await deployAThenB()
    const before = await appliedMigrations(d.db)
    const schemaBefore = await schema(d.db)
    const run = await rollback(d, {'dry-run': 'true'})
    expect(run.exitCode).toBe(0)
    expect(run.outputs.status).toBe('planned')
    expect(json(run.outputs.plan).sort()).toEqual(await appliedMigrations(d.db, d.cutoff))
    expect(json(run.outputs['rolled-back'])).toEqual([])
    expect(await appliedMigrations(d.db)).toEqual(before)
    expect(await schema(d.db)).toEqual(schemaBefore)
    expect(run.summary.split('\n')[0]).toMatch(/^## 🔍 Dry run: \d+ migrations in \d+ apps would be rolled back; nothing was changed/)
  })

  it('stops before unapplying anything when the plan holds an irreversible step', async () => {
    const d = await deployAThenB('A0')
    const before = await appliedMigrations(d.db)
    const run = await rollback(d)
    expect(run.exitCode).toBe(1)
    expect(run.outputs.status).toBe('failed')
    expect(run.stdout).toMatch(/::error::.*irreversible/i)
    expect(await appliedMigrations(d.db)).toEqual(before)
    expect(run.summary.split('\n')[0]).toBe('## ⛔ Rollback stopped before any change: the database is as it was')
    expect(run.summary).toContain('allow-irreversible')
  })

  it('a failure half way says what was reached, and the same inputs finish the job once the cause is fixed', async () => {
    const d = await deployAThenB('A0')
    const afterB = await appliedMigrations(d.db, d.cutoff)
    // allow-irreversible stops in front of shop.0003_seed_products, which has no reverse, committing what came before.
    const first = await rollback(d, {'allow-irreversible': 'true'})
    expect(first.exitCode).toBe(1)
    expect(first.outputs.status).toBe('failed')
    const unapplied = json(first.outputs['rolled-back'])
    expect(unapplied.length).toBeGreaterThan(0)
    expect(unapplied).not.toContain('shop.0003_seed_products')
    const left = await appliedMigrations(d.db, d.cutoff)
    expect(left).toContain('shop.0003_seed_products')
    expect([...left, ...unapplied].sort()).toEqual(afterB)
    expect(first.summary.split('\n')[0]).toBe(
      `## ❌ Rollback failed part-way: ${unapplied.length} of ${afterB.length} migrations unapplied, ${left.length} still applied after the cutoff`
    )
    expect(first.summary).toContain('stopped before shop.0003_seed_products, which is irreversible')
    expect(first.summary).toContain('<code>shop.0003_seed_products</code>')
    expect(first.summary).toContain('Run this workflow again with the same inputs')

    // The fix: a release whose migration has a reverse. Same inputs again.
    const second = await rollback(d, {'allow-irreversible': 'true'}, {SHOP_SEED_REVERSIBLE: '1'})
    expect(second.outputs.status).toBe('rolled-back')
    expect(json(second.outputs['rolled-back']).sort()).toEqual(left)
    expect(await appliedMigrations(d.db)).toEqual(d.releaseA)
    expect(await schema(d.db)).toEqual(d.schemaA)
  })

  it('per-app refuses a branch point before any change and points to exact', async () => {
    const d = await deployAThenB()
    const before = await appliedMigrations(d.db)
    const run = await rollback(d, {strategy: 'per-app'})
    expect(run.exitCode).toBe(1)
    expect(run.outputs.status).toBe('failed')
    expect(run.summary).toContain('strategy: exact')
    expect(await appliedMigrations(d.db)).toEqual(before)
  })

  it('rejects bad input naming it, before connecting anywhere', async () => {
    const d = {db: 'postgres://nobody@127.0.0.1:1/none', cutoff: '2024-13-45T99:00:00Z', releaseA: [], schemaA: {}}
    const run = await rollback(d)
    expect(run.exitCode).toBe(1)
    expect(run.outputs.status).toBe('failed')
    expect(run.stdout).toContain('::error::target-datetime "2024-13-45T99:00:00Z"')
    expect(run.summary).toContain('stopped before any change')
  })

  it('explains an unreachable database', async () => {
    const run = await rollback({
      db: 'postgres://app:pw-unreachable-9f3@127.0.0.1:1/none',
      cutoff: '2024-01-01T00:00:00Z',
      releaseA: [],
      schemaA: {}
    })
    expect(run.exitCode).toBe(1)
    expect(run.stdout).toContain('could not connect to PostgreSQL at 127.0.0.1:1/none: connection refused')
    expect(run.everything.replace(/::add-mask::.*\n/g, '')).not.toContain('pw-unreachable-9f3')
  })

  it('stops on a hostile migration name, naming the row, and changes nothing', async () => {
    const d = await deployAThenB()
    await query(d.db, `INSERT INTO django_migrations (app, name, applied) VALUES ('shop', $1, now())`, [
      "0009_x'; DROP TABLE shop_product; --"
    ])
    const before = await appliedMigrations(d.db)
    const run = await rollback(d)
    expect(run.exitCode).toBe(1)
    expect(run.stdout).toMatch(/::error::django_migrations row id \d+ has app "shop" and name "0009_x'; DROP TABLE/)
    expect(await appliedMigrations(d.db)).toEqual(before)
    expect(await tables(d.db)).toContain('shop_product')
  })

  it('refuses a cutoff in the future', async () => {
    const d = await deployAThenB()
    const run = await rollback({...d, cutoff: '2999-01-01T00:00:00'})
    expect(run.exitCode).toBe(1)
    expect(run.stdout).toContain('is in the future: the database clock says')
  })

  it('never shows the database password in logs, outputs or the summary', async () => {
    const d = await deployAThenB()
    const password = 'Pw-7c1e-do-not-log'
    await query(d.db, `CREATE ROLE rollback_app LOGIN SUPERUSER PASSWORD '${password}'`).catch(() => undefined)
    const url = d.db.replace('postgres://postgres@', `postgres://rollback_app:${password}@`)
    const run = await rollback({...d, db: url}, {'dry-run': 'true'})
    expect(run.outputs.status).toBe('planned')
    expect(run.stdout).toContain(`::add-mask::${password}`)
    expect(run.everything.replace(/::add-mask::.*\n/g, '')).not.toContain(password)
  })
})

describe('safety around the run', () => {
  it('history-source container: no database credentials on the runner, same plan, check and verification', async () => {
    const d = await deployAThenB()
    const run = await runAction(
      {
        'target-datetime': d.cutoff,
        'history-source': 'container',
        executor: 'local',
        'manage-command': manageCommand
      },
      // Only Django (the "container") knows the database; the action's side has no URL and no PG* variables.
      {env: {DATABASE_URL: d.db}}
    )
    expect(run.stdout).not.toContain('::error::')
    expect(run.outputs.status).toBe('rolled-back')
    expect(await appliedMigrations(d.db)).toEqual(d.releaseA)
    expect(run.summary).toContain('read through Django in the target (history-source: container)')
  })

  it('executor docker with history-source container: argv through docker exec -i, no database on the runner', async () => {
    const d = await deployAThenB()
    const standIn = dockerStandIn(['flagsmith-api'], {env: {DATABASE_URL: d.db}})
    try {
      const run = await runAction(
        {
          'target-datetime': d.cutoff,
          'history-source': 'container',
          executor: 'docker',
          container: 'flagsmith-api',
          'manage-command': manageCommand
        },
        {env: {PATH: `${standIn.dir}:${process.env.PATH}`}}
      )
      expect(run.stdout).not.toContain('::error::')
      expect(run.outputs.status).toBe('rolled-back')
      expect(standIn.lastArgv().slice(0, 3)).toEqual(['exec', '-i', 'flagsmith-api'])
      expect(run.summary).toContain('docker exec -i flagsmith-api')
      expect(await appliedMigrations(d.db)).toEqual(d.releaseA)
    } finally {
      standIn.remove()
    }
  })

  it('backup: a pg_dump before any change, restorable, its path an output', async () => {
    const d = await deployAThenB()
    const afterB = await appliedMigrations(d.db)
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'backup-e2e-'))
    const run = await rollback(d, {backup: 'true', 'backup-path': path.join(dir, 'before-rollback.dump')})
    expect(run.outputs.status).toBe('rolled-back')
    expect(run.outputs['backup-path']).toBe(path.join(dir, 'before-rollback.dump'))
    expect(fs.statSync(run.outputs['backup-path']).mode & 0o777).toBe(0o600)
    expect(run.summary).toContain('actions/upload-artifact')
    // The dump holds release B's state: restore it and compare.
    const scratch = await createDatabase('restored')
    const restore = spawnSync('/usr/lib/postgresql/15/bin/pg_restore', ['--no-owner', '-d', scratch, run.outputs['backup-path']], {
      encoding: 'utf8'
    })
    expect(restore.stderr).toBe('')
    expect(await appliedMigrations(scratch)).toEqual(afterB)
    fs.rmSync(dir, {recursive: true, force: true})
  })

  it('one rollback at a time: a second run fails at once, naming the holder, and changes nothing', async () => {
    const d = await deployAThenB()
    const before = await appliedMigrations(d.db)
    const held = await acquireRollbackLock(parseDatabaseUrl(d.db))
    try {
      const run = await rollback(d)
      expect(run.exitCode).toBe(1)
      expect(run.stdout).toMatch(new RegExp(`::error::another rollback is running on .*pid ${held.pid}`))
      expect(run.summary.split('\n')[0]).toBe('## ⛔ Rollback stopped before any change: the database is as it was')
      expect(await appliedMigrations(d.db)).toEqual(before)
    } finally {
      await held.release()
    }
    const after = await rollback(d)
    expect(after.outputs.status).toBe('rolled-back')
  })

  it('database-alias: rolls back that database only', async () => {
    const d = await deployAThenB()
    const analytics = await createDatabase('main_analytics')
    const env = {ANALYTICS_DATABASE_URL: analytics}
    const deploy = (release: string): Promise<void> => deployRelease(d.db, release, {database: 'analytics', env})
    await deploy('A')
    const cutoff = await serverNow(analytics)
    await deploy('B')
    const defaultBefore = await appliedMigrations(d.db)
    const run = await runAction(
      {
        'target-datetime': cutoff,
        'database-url': analytics,
        'database-alias': 'analytics',
        executor: 'local',
        'manage-command': manageCommand
      },
      {env: {DATABASE_URL: d.db, ...env}}
    )
    expect(run.stdout.split('\n').filter(l => l.startsWith('::error::'))).toEqual([])
    expect(run.outputs.status).toBe('rolled-back')
    expect(run.summary).toContain('Django alias <code>analytics</code>')
    // The by-hand equivalent carries the alias too.
    expect(run.summary).not.toContain('migrate audit 0001_initial\n')
    expect(await columns(analytics, 'audit_entry')).not.toContain('actor')
    expect(await appliedMigrations(d.db)).toEqual(defaultBefore)
  })
})
