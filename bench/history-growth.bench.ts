/**
 * Benchmark, not a test (`npm run bench`): what a long history adds to a whole dry run. The hazard
 * project at release B, with 0, 10,000, 30,000 and 100,000 extra django_migrations rows of an old app
 * applied years before the cutoff (none of them rolled back); `node dist/index.js`, executor local,
 * dry-run, median of BENCH_REPEAT (default 3). Target: 100,000 extra rows add under 1 s.
 * BENCH_EXTRA=0,100000 picks the sizes.
 */
import {runAction} from '../__tests__/support/action.js'
import {atReleaseBWithOldHistory, hazardDryRunInputs} from '../__tests__/support/hazard-project.js'
import {requireSetup} from '../__tests__/support/setup-check.mjs'
import {REPEAT, fmt, now, print, stats, table} from './stats.js'

requireSetup('bench/history-growth.bench.ts', ['venv', 'dist'])

const SIZES = (process.env.BENCH_EXTRA ?? '0,10000,30000,100000').split(',').map(Number)
const TARGET_S = 1

it('prints what extra history rows add to a whole dry run', async () => {
  const rows: string[][] = [['extra rows', 'whole dry run (min / median)', 'added (median)', `target: 100,000 add < ${TARGET_S} s`]]
  let base: number | undefined
  for (const extra of SIZES) {
    // An old app's rows, a batch of 10 an hour from 2019 (100,000 rows end in 2020): nothing the rollback touches.
    const {db, cutoff} = await atReleaseBWithOldHistory(`bench_growth_${extra}`, extra, '1 hour')
    const times: number[] = []
    for (let i = 0; i <= REPEAT; i++) {
      const started = now()
      const run = await runAction(hazardDryRunInputs(db, cutoff), {env: {DATABASE_URL: db}})
      if (run.outputs.status !== 'planned') throw new Error(`${extra}: ${run.outputs.status}\n${run.summary}`)
      if (i > 0) times.push((now() - started) / 1000) // the first run warms caches
    }
    const s = stats(times)
    base ??= s.median
    const added = s.median - base
    rows.push([
      String(extra),
      fmt(s, 's'),
      `${added >= 0 ? '+' : ''}${added.toFixed(2)} s`,
      extra === 100000 ? (added < TARGET_S ? 'met' : `missed by ${(added - TARGET_S).toFixed(2)} s`) : ''
    ])
  }
  print(`history growth: hazard project, whole dry run, median of ${REPEAT} after a warm-up`, table(rows))
}, 900000)
