/**
 * Benchmark, not a test (`npm run bench`): what the all-or-nothing model costs.
 *
 * 1. The transaction. Flagsmith's graph v2.265.0 -> v2.150.0 (98 migrations in
 *    38 apps), one Django process each: Django's own `migrate APP TARGET` per
 *    app (call_command in one process, each migration committed on its own);
 *    Django's MigrationExecutor.migrate with all those targets in one call (the
 *    code path rollback.py uses, without the outer transaction); rollback.py
 *    running the same plan in one transaction (analysis and per-app evaluation
 *    off, so the transaction and the planning are what differ). Wall time.
 * 2. A dry run against a trial, whole action, same release pair.
 * 3. The loss and hazard figures on big tables: the hazard project at release B
 *    with 1M rows in catalog_label (dropped) and 1M products with sku (a dropped
 *    column), analysed (estimates) and never analysed (exact counts under the
 *    2 s statement timeout), against the same dry run on empty tables.
 *
 * Knobs: BENCH_REPEAT (default 3), BENCH_BIG_ROWS (default 1000000).
 */
import {type ScriptRequest, scriptArgv, scriptInput} from '../src/django/commands.js'
import {spawn} from 'node:child_process'
import {json, runAction} from '../__tests__/support/action.js'
import {serverNow} from '../__tests__/support/django-project.js'
import {databaseAtRelease, deployFlagsmith, flagsmithProject} from '../__tests__/support/flagsmith.js'
import {deployHazardRelease, hazardDryRunInputs} from '../__tests__/support/hazard-project.js'
import {createDatabase, query} from '../__tests__/support/postgres.js'
import {pythonBin} from '../__tests__/support/python.js'
import {requireSetup} from '../__tests__/support/setup-check.mjs'
import {failureMessage, type Outcome} from '../__tests__/support/spawn.js'
import {REPEAT, fmt, now, print, stats as msStats, table} from './stats.js'

requireSetup('bench/all-or-nothing.bench.ts', ['venv', 'dist'])

/** Stats in seconds from times in milliseconds. */
const stats = (ms: number[]) => msStats(ms.map(t => t / 1000))

const EARLIER = 'v2.150.0'
const CURRENT = 'v2.265.0'
const BIG_ROWS = Number(process.env.BENCH_BIG_ROWS ?? 1_000_000)

/** Runs python with code on stdin in a project directory; returns wall ms and stdout. Throws on failure. */
function python(cwd: string, db: string, args: string[], input: string): Promise<{ms: number; stdout: string}> {
  return new Promise((resolve, reject) => {
    const started = now()
    const argv = ['manage.py', ...args]
    const child = spawn(pythonBin(), argv, {cwd, env: {...process.env, DATABASE_URL: db, PYTHONDONTWRITEBYTECODE: '1'}})
    let out = ''
    let err = ''
    child.stdout.on('data', (d: Buffer) => (out += d.toString()))
    child.stderr.on('data', (d: Buffer) => (err += d.toString()))
    child.stdin.on('error', () => undefined)
    child.stdin.end(input)
    const fail = (outcome: Outcome) => reject(new Error(failureMessage(pythonBin(), argv, {...outcome, stdout: out, stderr: err}, {cwd})))
    child.on('error', error => fail({error}))
    child.on('close', (status, signal) => (status === 0 ? resolve({ms: now() - started, stdout: out}) : fail({status, signal})))
  })
}

async function flagsmithAtCurrent(): Promise<{db: string; cutoff: string}> {
  const db = await databaseAtRelease(EARLIER, 'bench_aon')
  const cutoff = await serverNow(db)
  await deployFlagsmith(db, CURRENT)
  return {db, cutoff}
}

async function rowsAfter(db: string, cutoff: string) {
  return query<{app: string; name: string; applied: string}>(
    db,
    `SELECT app, name, to_char(applied AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS applied
       FROM django_migrations WHERE applied >= $1::timestamptz ORDER BY id`,
    [cutoff]
  )
}

/** The script as the action sends it: the bootstrap on the command line, the modules and the request on stdin. */
const SCRIPT_ARGS = scriptArgv([])
const input = (request: object): string => scriptInput(request as ScriptRequest)

test('the cost of the transaction, of a trial, and of the loss figures on big tables', async () => {
  const project = flagsmithProject(CURRENT)

  // 1. Django's own per-app migrate in one process, against one transaction.
  const django: number[] = []
  const djangoOneCall: number[] = []
  const oneTransaction: number[] = []
  let migrations = 0
  for (let i = 0; i < REPEAT; i++) {
    const a = await flagsmithAtCurrent()
    const after = await rowsAfter(a.db, a.cutoff)
    const request = {version: 1, database: 'default', after, execute: false, analyse: false, perApp: [] as unknown[], commands: []}
    // Per-app targets as the exact plan's equivalent commands give them (dry run, not timed).
    const apps = [...new Set(after.map(r => r.app))]
    const before = await query<{app: string; name: string}>(
      a.db,
      `SELECT app, name FROM django_migrations WHERE applied < $1::timestamptz ORDER BY applied DESC, id DESC`,
      [a.cutoff]
    )
    request.perApp = apps.map(app => ({app, before: before.filter(r => r.app === app).map(r => r.name)}))
    const dry = await python(project, a.db, SCRIPT_ARGS, input(request))
    const report = JSON.parse(dry.stdout.trim().split('\n').pop()!.slice('ROLLBACK-REPORT '.length))
    migrations = report.plan.length
    const steps = JSON.stringify(report.perApp.map((p: {app: string; target: string}) => [p.app, p.target]))
    const code = `from django.core.management import call_command\nfor app, target in ${steps}: call_command("migrate", app, target, verbosity=0)`
    django.push((await python(project, a.db, ['shell', '-v', '0', '-c', code], '')).ms)
    const leftA = await rowsAfter(a.db, a.cutoff)
    if (leftA.some(r => report.plan.some((p: {migration: string}) => p.migration === `${r.app}.${r.name}`))) {
      throw new Error(`the per-app migrate left planned migrations applied: ${leftA.map(r => `${r.app}.${r.name}`).join(', ')}`)
    }

    // Django's executor with every target in one call: the same plan and code path, no outer transaction.
    const c = await flagsmithAtCurrent()
    const oneCall = [
      'from django.db import connection',
      'from django.db.migrations.executor import MigrationExecutor',
      `MigrationExecutor(connection).migrate([(a, None if t == "zero" else t) for a, t in ${steps}])`
    ].join('\n')
    djangoOneCall.push((await python(project, c.db, ['shell', '-v', '0', '-c', oneCall], '')).ms)
    const leftC = await rowsAfter(c.db, c.cutoff)
    if (leftC.some(r => report.plan.some((p: {migration: string}) => p.migration === `${r.app}.${r.name}`))) {
      throw new Error('executor.migrate left planned migrations applied')
    }

    const b = await flagsmithAtCurrent()
    const execute = {...request, after: await rowsAfter(b.db, b.cutoff), perApp: [], execute: true}
    const ran = await python(project, b.db, SCRIPT_ARGS, input(execute))
    oneTransaction.push(ran.ms)
    const executed = JSON.parse(ran.stdout.trim().split('\n').pop()!.slice('ROLLBACK-REPORT '.length)).executed as string[]
    if (executed.length !== report.plan.length) throw new Error(`one transaction unapplied ${executed.length} of ${report.plan.length}`)
  }

  // 2. Dry run against trial, whole action.
  const dry: number[] = []
  const trial: number[] = []
  for (let i = 0; i < REPEAT; i++) {
    const a = await flagsmithAtCurrent()
    const inputs = {
      'target-datetime': a.cutoff,
      'database-url': a.db,
      executor: 'local',
      'manage-command': `${pythonBin()} ${project}/manage.py`,
      'dry-run': 'true'
    }
    let started = now()
    const d = await runAction(inputs, {env: {DATABASE_URL: a.db}})
    dry.push(now() - started)
    started = now()
    const t = await runAction({...inputs, trial: 'true'}, {env: {DATABASE_URL: a.db}})
    trial.push(now() - started)
    if (d.outputs.status !== 'planned' || t.outputs.status !== 'planned')
      throw new Error(`dry ${d.outputs.status}, trial ${t.outputs.status}: ${t.summary}`)
  }

  print(
    `all-or-nothing: ${CURRENT} -> ${EARLIER}, ${migrations} migrations, one Django process each (min / median of ${REPEAT})`,
    table([
      ['what', 'wall time'],
      ["Django's migrate APP TARGET per app, each migration committed", fmt(stats(django), 's')],
      ["Django's MigrationExecutor.migrate(all targets), one call, no outer transaction", fmt(stats(djangoOneCall), 's')],
      ['the rollback script, the same plan in one transaction', fmt(stats(oneTransaction), 's')],
      ['one transaction over one executor call (median)', `${(stats(oneTransaction).median - stats(djangoOneCall).median).toFixed(2)} s`],
      ['whole action, dry run', fmt(stats(dry), 's')],
      ['whole action, dry run + trial', fmt(stats(trial), 's')],
      ['trial over dry run (median)', `+${(stats(trial).median - stats(dry).median).toFixed(2)} s`]
    ])
  )

  // 3. Loss and hazard figures on big tables.
  const figures: string[][] = [['tables', 'dry run (min / median)', 'catalog_label rows', 'sku values']]
  for (const shape of ['empty', 'big, analysed', 'big, never analysed'] as const) {
    const times: number[] = []
    let losses = {tables: [] as {rows: number; exact: boolean}[], columns: [] as {column: string; values: number; exact: boolean}[]}
    for (let i = 0; i < REPEAT; i++) {
      const db = await createDatabase('bench_big')
      await deployHazardRelease(db, 'A')
      const cutoff = await serverNow(db)
      await deployHazardRelease(db, 'B')
      if (shape !== 'empty') {
        await query(
          db,
          `INSERT INTO catalog_product (name, code, slug, sku) SELECT 'p' || i, 'C' || i, 's' || i, 'SKU' || i FROM generate_series(1, $1) i`,
          [BIG_ROWS]
        )
        await query(db, `INSERT INTO catalog_label (product_id, text) SELECT id, 'label' FROM catalog_product`)
        if (shape === 'big, analysed') await query(db, 'ANALYZE')
      }
      const started = now()
      const run = await runAction(hazardDryRunInputs(db, cutoff), {env: {DATABASE_URL: db}})
      times.push(now() - started)
      if (run.outputs.status !== 'planned') throw new Error(`${shape}: ${run.outputs.status}\n${run.summary}`)
      losses = json(run.outputs.losses)
    }
    const label = losses.tables[0]
    const sku = losses.columns.find(c => c.column === 'sku')
    const show = (n: number | undefined, exact: boolean | undefined) => (n === undefined ? '-' : `${exact ? '' : 'about '}${n}`)
    figures.push([shape, fmt(stats(times), 's'), show(label?.rows, label?.exact), show(sku?.values, sku?.exact)])
  }
  print(`loss figures, hazard project, ${BIG_ROWS} rows (whole action, dry run)`, table(figures))
}, 1_800_000)
