/**
 * Not a test: makes the two job summaries people will read — a realistic
 * rollback (Flagsmith's graph, v2.265.0 back to v2.150.0, over SSH) and one
 * whose reverse failed on the data and changed nothing — writes them to docs/ and renders each to PNG with
 * scripts/render-summary.mjs. `npm run summary-pictures`.
 */
import {execFileSync} from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import {runAction} from '../__tests__/support/action.js'
import {serverNow} from '../__tests__/support/django-project.js'
import {deployHazardRelease, hazardProjectDir, manageHazard, writeBadData} from '../__tests__/support/hazard-project.js'
import {databaseAtRelease, deployFlagsmith, flagsmithProject} from '../__tests__/support/flagsmith.js'
import {createDatabase, query} from '../__tests__/support/postgres.js'
import {pythonBin, REPO_ROOT} from '../__tests__/support/python.js'
import {requireSetup} from '../__tests__/support/setup-check.mjs'
import {startSshd} from '../__tests__/support/sshd.js'

// chromium: scripts/render-summary.mjs takes the screenshots.
requireSetup('bench/summary-pictures.tool.ts', ['venv', 'dist', 'ssh', 'chromium'])

const docs = path.join(REPO_ROOT, 'docs')

function save(name: string, summary: string): void {
  const md = path.join(docs, `${name}.md`)
  fs.writeFileSync(md, summary)
  execFileSync(process.execPath, [path.join(REPO_ROOT, 'scripts', 'render-summary.mjs'), md, path.join(docs, `${name}.png`)], {
    stdio: 'inherit'
  })
  process.stdout.write(`${name}: ${Buffer.byteLength(summary)} bytes of Markdown\n`)
}

/**
 * Makes release A look deployed a day earlier, as in real life, and returns
 * the time a person would type for the next deployment: seconds, no offset.
 */
async function asTyped(db: string): Promise<string> {
  await query(db, `UPDATE django_migrations SET applied = applied - interval '26 hours'`)
  const now = await serverNow(db)
  await new Promise(resolve => setTimeout(resolve, 1100))
  return now.slice(0, 19).replace('T', ' ')
}

it('renders the summaries', async () => {
  fs.mkdirSync(docs, {recursive: true})

  const db = await databaseAtRelease('v2.150.0', 'pictures')
  const cutoff = await asTyped(db)
  await deployFlagsmith(db, 'v2.265.0')
  const sshd = await startSshd({
    containers: ['flagsmith'],
    containerWorkdir: flagsmithProject('v2.265.0'),
    path: [path.dirname(pythonBin())],
    env: {DATABASE_URL: db}
  })
  try {
    const ok = await runAction({
      'target-datetime': cutoff,
      'database-url': db,
      executor: 'ssh',
      'ssh-host': sshd.host,
      'ssh-port': String(sshd.port),
      'ssh-user': sshd.user,
      'ssh-private-key': sshd.privateKey,
      'ssh-known-hosts': sshd.knownHosts,
      container: 'flagsmith',
      'manage-command': `${pythonBin()} manage.py`
    })
    if (ok.outputs.status !== 'rolled-back') throw new Error(ok.stdout)
    save('summary-rolled-back', ok.summary.replaceAll(pythonBin(), 'python'))
  } finally {
    await sshd.stop()
  }

  // All or nothing: a reverse that fails on data written since the deploy (a NULL name). Nothing changes.
  const failing = await createDatabase('pictures_failed')
  await deployHazardRelease(failing, 'A')
  await manageHazard(failing, ['migrate', 'search', '-v', '0'])
  const failCutoff = await asTyped(failing)
  await deployHazardRelease(failing, 'B')
  await writeBadData(failing, ['not-null'])
  const failed = await runAction(
    {
      'target-datetime': failCutoff,
      'database-url': failing,
      executor: 'local',
      'noop-reverse': 'ledger.0002_backfill',
      'manage-command': `${pythonBin()} ${hazardProjectDir}/manage.py`
    },
    {env: {DATABASE_URL: failing}}
  )
  if (failed.outputs.status !== 'failed') throw new Error(failed.stdout)
  save('summary-failed', failed.summary.replaceAll(`${pythonBin()} ${hazardProjectDir}/manage.py`, 'python manage.py'))
})
