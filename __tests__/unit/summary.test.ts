import {parseCutoff} from '../../src/cutoff.js'
import type {DjangoReport} from '../../src/django/commands.js'
import type {Outcome} from '../../src/outcome.js'
import {planRollback} from '../../src/plan.js'
import type {RunResult} from '../../src/rollback.js'
import type {ConfigView} from '../../src/secrets.js'
import {deploymentBatches} from '../../src/batches.js'
import {describeFault} from '../../src/fault.js'
import {escapeHtml, losesData, renderSummary, SUMMARY_LIMIT} from '../../src/summary.js'
import {djangoReport} from '../support/django-report.js'

const cutoff = parseCutoff('2024-05-01 11:00:00')
const rows = [
  {id: 1, app: 'shop', name: '0001_initial', applied: '2024-05-01T10:00:00.000000Z'},
  {id: 2, app: 'shop', name: '0002_price', applied: '2024-05-01T12:00:00.000001Z'},
  {id: 3, app: 'features', name: '0002_b', applied: '2024-05-01T12:00:00.000002Z'}
]
const plan = planRollback(rows, cutoff, '2030-01-01T00:00:00.000000Z')
const config: ConfigView = {
  historySource: 'database',
  databaseAlias: 'default',
  manageCommand: ['python', 'manage.py'],
  dryRun: false,
  trial: false,
  allowIrreversible: false,
  lockTimeoutSeconds: 10,
  noopReverse: [],
  rehearsal: false,
  strategy: 'exact'
}
const report = (overrides: Partial<DjangoReport> = {}): DjangoReport =>
  djangoReport({
    plan: [
      {migration: 'features.0002_b', operations: [{description: 'Undo Create model <script>Flag</script>', irreversible: false}]},
      {migration: 'shop.0002_price', operations: [{description: 'Undo Add field price to product', irreversible: false}]}
    ],
    perApp: [
      {app: 'features', target: 'zero'},
      {app: 'shop', target: '0001_initial'}
    ],
    segments: [{atomic: true, migrations: ['features.0002_b', 'shop.0002_price']}],
    ...overrides
  })
const run = (r: DjangoReport): RunResult => ({
  report: r,
  commands: ["python manage.py shell -v 0 -c 'import io,sys;...' < rollback.py+request"],
  refused: null,
  failed: null,
  djangoProcesses: 1
})

describe('renderSummary', () => {
  it('puts the outcome first, then the next step, and says a naive cutoff was read as UTC', () => {
    const outcome: Outcome = {
      status: 'rolled-back',
      unchanged: false,
      config,
      plan,
      run: run(report()),
      verification: {unapplied: ['features.0002_b', 'shop.0002_price'], remaining: [], lostBefore: [], lostBeforeUnnamed: 0},
      where: 'docker exec -i api',
      seconds: 2.5
    }
    const md = renderSummary(outcome)
    const lines = md.split('\n')
    expect(lines[0]).toBe('## ✅ Rolled back 2 migrations in 2 apps: the database is back to its state before 2024-05-01 11:00:00 UTC')
    expect(lines[2]).toContain('Next: deploy the earlier release now')
    expect(md).toContain('(no offset given: read as UTC)')
    expect(md).toContain('python manage.py migrate shop 0001_initial')
    expect(md).toContain('⚠️ Undo Add field price to product')
    expect(md).toContain('2 drop tables or columns')
  })

  it('names Flagsmith in the next step only for Flagsmith: the vendor command in the image, or strategy flagsmith', () => {
    const rolledBack = (r: DjangoReport, strategy: ConfigView['strategy'] = 'exact'): string =>
      renderSummary({
        status: 'rolled-back',
        unchanged: false,
        config: {...config, strategy},
        plan,
        run: run(r),
        verification: {unapplied: ['features.0002_b', 'shop.0002_price'], remaining: [], lostBefore: [], lostBeforeUnnamed: 0},
        seconds: 1
      }).split('\n')[2]
    const generic = rolledBack(report())
    expect(generic).toContain('If the current release runs `migrate` when a container starts')
    expect(generic).not.toContain('Flagsmith')
    expect(rolledBack(report({hasFlagsmithCommand: true}))).toContain("(Flagsmith's image runs `migrate` on start)")
    expect(rolledBack(report(), 'flagsmith')).toContain("Flagsmith's image")
  })

  it('escapes text that came from the database or from Django', () => {
    const md = renderSummary({status: 'planned', unchanged: true, config, plan, run: run(report()), seconds: 1})
    expect(md).not.toContain('<script>')
    expect(md).toContain('&#60;script&#62;Flag')
    expect(escapeHtml('a|b`c<d>&')).toBe('a&#124;b&#96;c&#60;d&#62;&#38;')
  })

  it('on a failure part-way says what was reached and how to continue', () => {
    const outcome: Outcome = {
      status: 'failed',
      unchanged: false,
      config,
      plan,
      run: run(report({error: {message: 'shop.0002_price is irreversible', migration: 'shop.0002_price'}})),
      verification: {unapplied: ['features.0002_b'], remaining: [rows[1]], lostBefore: [], lostBeforeUnnamed: 0},
      failure: {kind: 'command-failed', command: 'the rollback script in docker exec -i api', message: 'shop.0002_price is irreversible'},
      seconds: 1
    }
    const md = renderSummary(outcome)
    expect(md.split('\n')[0]).toBe('## ❌ Rollback failed part-way: 1 of 2 migrations unapplied, 1 still applied after the cutoff')
    expect(md).toContain('Unapplied: <code>features.0002_b</code>')
    expect(md).toContain('Still applied at or after the cutoff: <code>shop.0002_price</code>')
    expect(md).toContain('Run this workflow again with the same inputs')
  })

  it('says when nothing changed', () => {
    const md = renderSummary({
      status: 'failed',
      unchanged: true,
      config,
      plan,
      failure: {kind: 'refused', reasons: ['refused']},
      seconds: 0
    })
    expect(md.split('\n')[0]).toBe('## ⛔ Rollback stopped before any change: the database is as it was')
  })

  it('a failure inside the transaction: nothing was changed, the migration, operation, PostgreSQL message, rows and fix', () => {
    const hazard = {
      migration: 'shop.0002_price',
      operation: 'Alter field name on product',
      kind: 'not-null' as const,
      table: 'shop_product',
      columns: ['name'],
      detail: 'NOT NULL is put back on shop_product.name',
      rows: 1,
      counted: true
    }
    const r = report({
      hazards: [hazard],
      rolledBack: ['features.0002_b'],
      error: {
        message: 'IntegrityError: column "name" contains null values',
        pgMessage: 'column "name" of relation "shop_product" contains null values',
        sqlstate: '23502',
        migration: 'shop.0002_price',
        operation: 'Alter field name on product',
        statement: 'ALTER TABLE "shop_product" ALTER COLUMN "name" SET NOT NULL'
      }
    })
    const failure = describeFault(r, 10) ?? undefined
    const md = renderSummary({
      status: 'failed',
      unchanged: true,
      config,
      plan,
      run: {...run(r), fault: failure},
      verification: {unapplied: [], remaining: [rows[1], rows[2]], lostBefore: [], lostBeforeUnnamed: 0},
      failure: {kind: 'command-failed', command: 'the rollback script in docker exec -i api', message: 'stopped'},
      seconds: 1
    })
    expect(md.split('\n')[0]).toBe('## ⛔ Rollback failed at shop.0002_price; nothing was changed')
    expect(md).toContain(
      '<th align="left">PostgreSQL (23502)</th><td>column &#34;name&#34; of relation &#34;shop_product&#34; contains null values</td>'
    )
    expect(md).toContain('undo Alter field name on product')
    expect(md).toContain('1 row of shop_product has name NULL')
    expect(md).toContain('UPDATE shop_product SET name = ... WHERE name IS NULL')
    expect(md).toContain(
      'Django had undone 1 migration (<code>features.0002_b</code>) inside the transaction before the failure, and all of it was rolled back'
    )
    expect(md).not.toContain('### State reached')
  })

  it('a lock timeout lists the sessions that held the lock', () => {
    const r = report({
      error: {
        message: 'OperationalError: canceling statement due to lock timeout',
        pgMessage: 'canceling statement due to lock timeout',
        sqlstate: '55P03',
        migration: 'shop.0002_price',
        blockers: [
          {
            pid: 4242,
            applicationName: 'gunicorn <w>',
            user: 'app',
            state: 'idle in transaction',
            transactionSince: '2024-05-01T12:00:00Z',
            stateSince: null,
            query: 'SELECT 1'
          }
        ]
      }
    })
    const md = renderSummary({
      status: 'failed',
      unchanged: true,
      config,
      plan,
      run: {...run(r), fault: describeFault(r, 10) ?? undefined},
      failure: {kind: 'command-failed', command: 'the rollback script in docker exec -i api', message: 'stopped'},
      seconds: 1
    })
    expect(md).toContain('<td>4242</td><td>gunicorn &#60;w&#62;</td><td>app</td><td>idle in transaction</td><td>2024-05-01T12:00:00Z</td>')
    expect(md).toContain('lock-timeout (10 s)')
  })

  it('says which parts are all-or-nothing, what is lost (exact or about), the hazards, noop-reverse and the SQL', () => {
    const r = report({
      segments: [
        {atomic: true, migrations: ['features.0002_b']},
        {atomic: false, migrations: ['shop.0002_price']}
      ],
      losses: {
        tables: [{migration: 'features.0002_b', table: 'features_flag', rows: 1234567, exact: false}],
        columns: [{migration: 'shop.0002_price', table: 'shop_product', column: 'price', values: 3, exact: true}]
      },
      hazards: [
        {
          migration: 'shop.0002_price',
          operation: 'x',
          kind: 'unique',
          table: 't',
          columns: ['c'],
          detail: 'UNIQUE is put back on t.c',
          rows: 2,
          counted: true
        },
        {
          migration: 'shop.0002_price',
          operation: 'y',
          kind: 'not-null',
          table: 'big',
          columns: ['d'],
          detail: 'NOT NULL is put back on big.d',
          rows: null,
          counted: false
        }
      ],
      noopReverse: [{migration: 'shop.0002_price', operations: ['Raw Python operation']}],
      plan: [
        {migration: 'features.0002_b', operations: [], sql: ['-- Create model Flag', 'DROP TABLE "features_flag" CASCADE;']},
        {
          migration: 'shop.0002_price',
          atomic: false,
          operations: [],
          sql: ['-- Add field price', 'ALTER TABLE "shop_product" DROP COLUMN "price" CASCADE;']
        }
      ]
    })
    const md = renderSummary({
      status: 'planned',
      unchanged: true,
      config: {...config, dryRun: true, noopReverse: ['shop.0002_price']},
      plan,
      run: run(r),
      seconds: 1
    })
    expect(md.split('\n')[0]).toBe(
      '## 🔍 Dry run: 2 migrations in 2 apps would be rolled back; ⛔ 1 reverse step would fail on the data there now; nothing was changed'
    )
    expect(md).toContain('**In 2 parts:**')
    expect(md).toContain('1. all-or-nothing, one transaction: <code>features.0002_b</code>')
    expect(md).toContain('2. ⚠️ `atomic = False`, runs alone outside a transaction: <code>shop.0002_price</code>')
    expect(md).toContain('table <code>features_flag</code></td><td>about 1,234,567 rows')
    expect(md).toContain('column <code>shop_product.price</code></td><td>3 values (not NULL)')
    expect(md).toContain('⛔ 2 rows of t share a value of (c) with another row')
    expect(md).toContain('not counted (big table: a trial checks it)')
    expect(md).toContain('**noop-reverse:** these irreversible operations are to be skipped')
    expect(md).toContain('except those skipped by noop-reverse')
    expect(md).toContain('DROP TABLE &#34;features_flag&#34; CASCADE;')
    expect(md).toContain('-- shop.0002_price (atomic = False)')
  })

  it('a trial that passed says so, with the time per migration and what it could not try', () => {
    const r = report({
      trial: {tried: ['features.0002_b'], untried: ['shop.0002_price'], notAtomic: 'shop.0002_price'},
      timings: {'features.0002_b': 0.25}
    })
    const md = renderSummary({
      status: 'planned',
      unchanged: true,
      config: {...config, dryRun: true, trial: true},
      plan,
      run: run(r),
      seconds: 1
    })
    expect(md.split('\n')[0]).toBe(
      '## 🔍 Trial passed: 1 migration in 2 apps went through on the live data and were rolled back; nothing was changed'
    )
    expect(md).toContain('<tr><td><code>features.0002_b</code></td><td>0.250</td></tr>')
    expect(md).toContain('Not tried: 1 migration from <code>shop.0002_price</code> on')
  })

  it('a rehearsal answers first whether the change can be rolled back and what it would lose', () => {
    const r = report({losses: {tables: [{migration: 'features.0002_b', table: 'features_flag', rows: 0, exact: true}], columns: []}})
    const schema = {
      path: '/w/previous-schema.sql',
      pgDump: 'pg_dump 15',
      partial: false,
      comparison: {equal: true, differences: [], compared: 12, skippedTables: []}
    }
    const verification = {unapplied: ['features.0002_b', 'shop.0002_price'], remaining: [], lostBefore: [], lostBeforeUnnamed: 0}
    const ok = renderSummary({
      status: 'rolled-back',
      unchanged: false,
      config: {...config, rehearsal: true},
      plan,
      run: run(r),
      verification,
      schema,
      seconds: 1
    })
    const lines = ok.split('\n')
    expect(lines[0]).toBe(
      '## ✅ Rehearsal: this change can be rolled back, and the schema matches the previous release; it drops 1 table and 0 columns (see What is lost)'
    )
    expect(lines[2]).toMatch(/^\*\*✅ Rolled back 2 migrations/)
    expect(ok).not.toContain('Next: deploy the earlier release now')
    expect(ok).toContain('✅ The schema matches <code>/w/previous-schema.sql</code>: 12 objects compared')
    const hazards = report({
      hazards: [
        {
          migration: 'shop.0002_price',
          operation: 'x',
          kind: 'not-null',
          table: 't',
          columns: ['c'],
          detail: 'NOT NULL is put back on t.c',
          rows: 0,
          counted: true
        }
      ]
    })
    const failed = renderSummary({
      status: 'failed',
      unchanged: true,
      config: {...config, rehearsal: true},
      plan,
      run: run(hazards),
      failure: {kind: 'refused', reasons: ['refused']},
      seconds: 1
    })
    expect(failed.split('\n')[0]).toBe(
      '## ⛔ Rehearsal: this change cannot be rolled back as it is: see why below, and ask for a fix before it is merged or deployed'
    )
    expect(failed).toContain('### Reverse steps that can fail on production data')
    expect(failed).toContain('Counted on the rehearsal database, not on production')
  })

  it('per-app is not all-or-nothing, and says so', () => {
    const md = renderSummary({
      status: 'planned',
      unchanged: true,
      config: {...config, strategy: 'per-app'},
      plan,
      run: run(report()),
      seconds: 1
    })
    expect(md).toContain('**Not all-or-nothing:** strategy per-app runs plain `migrate` commands')
  })

  it('stays under 1 MiB for a huge plan, and says what it left out', () => {
    const many = Array.from({length: 20000}, (_, i) => ({
      migration: `app${i}.${String(i).padStart(4, '0')}_${'x'.repeat(60)}`,
      operations: [{description: `Undo Add field ${'y'.repeat(80)}`, irreversible: false}],
      sql: [`ALTER TABLE "t${i}" DROP COLUMN "${'z'.repeat(60)}" CASCADE;`]
    }))
    const md = renderSummary({status: 'planned', unchanged: true, config, plan, run: run(report({plan: many})), seconds: 1})
    expect(Buffer.byteLength(md)).toBeLessThan(SUMMARY_LIMIT)
    expect(md).toMatch(/\d+ more not shown \(summary size limit\)/)
  })

  it('marks the operations that drop data', () => {
    expect(losesData('Undo Create model Product')).toBe(true)
    expect(losesData('Undo Add field sku to product')).toBe(true)
    expect(losesData('Undo Alter field name on product')).toBe(false)
  })

  it('draws the cutoff between deployment batches, and warns when it splits one', () => {
    const clean = renderSummary({
      status: 'planned',
      unchanged: true,
      config,
      plan,
      run: run(report()),
      batches: deploymentBatches(rows, plan.cutoff.utc),
      seconds: 1
    })
    expect(clean).toContain('✂ cutoff 2024-05-01 11:00:00 UTC')
    expect(clean).not.toContain('falls inside a batch')

    const inside = planRollback(rows, parseCutoff('2024-05-01T12:00:00.000002Z'), '2030-01-01T00:00:00.000000Z')
    const md = renderSummary({
      status: 'planned',
      unchanged: true,
      config,
      plan: inside,
      run: run(report()),
      batches: deploymentBatches(rows, inside.cutoff.utc),
      seconds: 1
    })
    expect(md).toContain(
      'The cutoff falls inside a batch of migrations applied together between 2024-05-01 12:00:00 and 2024-05-01 12:00:00 UTC'
    )
    expect(md).toContain('⚠️ split by the cutoff: 2')
  })
})
