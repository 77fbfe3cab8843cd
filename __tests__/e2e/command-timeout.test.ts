/**
 * command-timeout end to end: the built action, the real Django test project
 * and PostgreSQL, executor local. audit.0002_entry_actor's reverse sleeps
 * SLOW_REVERSE_SECONDS when set, so the rollback is stopped mid-run; the
 * summary says so and what was reached, no Django process is left, and the
 * same inputs without the slow migration finish the job.
 */
import {spawnSync} from 'node:child_process'
import {randomUUID} from 'node:crypto'
import {json, runAction} from '../support/action.js'
import {appliedMigrations, deployRelease, projectDir, serverNow} from '../support/django-project.js'
import {createDatabase} from '../support/postgres.js'
import {pythonBin} from '../support/python.js'

/** `-X NAME` is ignored by Python but shows in ps: it finds this test's Django processes and no one else's. */
const marker = `ct_e2e_${randomUUID().replace(/-/g, '')}`
const manageCommand = `${pythonBin()} -X ${marker} ${projectDir}/manage.py`

function djangoProcesses(): string[] {
  return spawnSync('ps', ['-eo', 'pid,args'], {encoding: 'utf8'})
    .stdout.split('\n')
    .filter(l => l.includes(marker))
}

test('a rollback stopped by command-timeout mid-run: failed, nothing changed, no process left; the same inputs finish it', async () => {
  const db = await createDatabase('timeout')
  await deployRelease(db, 'A')
  const releaseA = await appliedMigrations(db)
  const cutoff = await serverNow(db)
  await deployRelease(db, 'B')
  const afterB = await appliedMigrations(db, cutoff)
  const inputs = {'target-datetime': cutoff, 'database-url': db, executor: 'local', 'manage-command': manageCommand}

  const started = Date.now()
  const first = await runAction({...inputs, 'command-timeout': '0.05'}, {env: {DATABASE_URL: db, SLOW_REVERSE_SECONDS: '120'}})
  const seconds = (Date.now() - started) / 1000
  expect(first.exitCode).toBe(1)
  expect(first.outputs.status).toBe('failed')
  // 3 s limit: Django stops itself between two steps, well before the slow reverse would end.
  expect(seconds).toBeLessThan(30)
  expect(first.stdout).toMatch(
    /::error::.* was stopped after 0\.05 minutes \(3 s\) \(command-timeout\) while unapplying audit\.0002_entry_actor/
  )
  expect(first.summary).toContain('⏱ **Stopped by command-timeout.**')
  expect(first.summary).toMatch(
    /manage\.py shell \(script on stdin\) was stopped after 0\.05 minutes \(3 s\) \(command-timeout\) while unapplying audit\.0002_entry_actor/
  )
  expect(first.summary).toContain('(command-timeout)')
  expect(djangoProcesses()).toEqual([])

  // The plan is one transaction: stopped anywhere, nothing was changed, and the summary says so.
  const left = await appliedMigrations(db, cutoff)
  expect(left).toEqual(afterB)
  expect(json(first.outputs['rolled-back'])).toEqual([])
  expect(first.outputs.changed).toBe('false')
  expect(first.summary.split('\n')[0]).toBe('## ⛔ Rollback failed at audit.0002_entry_actor; nothing was changed')
  expect(first.summary).toMatch(/Nothing was changed: (Django had undone .* and all of it was rolled back|the transaction was rolled back)/)

  // Same inputs, the slow migration gone (the cause fixed): the job is finished.
  const second = await runAction({...inputs, 'command-timeout': '0.05'}, {env: {DATABASE_URL: db}})
  expect(second.outputs.status).toBe('rolled-back')
  expect(json(second.outputs['rolled-back']).sort()).toEqual(left)
  expect(await appliedMigrations(db)).toEqual(releaseA)
  expect(djangoProcesses()).toEqual([])
})

test('command-timeout that is not a positive number of minutes is refused, naming the input', async () => {
  const run = await runAction({
    'target-datetime': '2024-01-01T00:00:00Z',
    'database-url': 'postgres://u@127.0.0.1:1/x',
    executor: 'local',
    'command-timeout': '-5'
  })
  expect(run.exitCode).toBe(1)
  expect(run.stdout).toMatch(/::error::command-timeout "-5" is not valid: expected the limit of each command in minutes/)
})
