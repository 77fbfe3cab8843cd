/**
 * Benchmark, not a test: wall time and Django processes of a 10-app rollback
 * (Flagsmith's graph, v2.229.0 back to v2.207.1: 12 migrations in 10 apps)
 * with each strategy, executor local. Prints figures; `npm run bench`.
 */
import {runAction} from '../__tests__/support/action.js'
import {serverNow} from '../__tests__/support/django-project.js'
import {databaseAtRelease, deployFlagsmith, flagsmithProject} from '../__tests__/support/flagsmith.js'
import {pythonBin} from '../__tests__/support/python.js'

const REPEAT = Number(process.env.BENCH_REPEAT ?? 3)

it('prints the strategies figures', async () => {
  const lines: string[] = []
  for (const strategy of ['exact', 'per-app', 'flagsmith']) {
    const walls: number[] = []
    let processes = ''
    for (let i = 0; i < REPEAT; i++) {
      const db = await databaseAtRelease('v2.207.1', 'bench')
      const cutoff = await serverNow(db)
      await deployFlagsmith(db, 'v2.229.0')
      const started = Date.now()
      const run = await runAction(
        {
          'target-datetime': cutoff,
          'database-url': db,
          executor: 'local',
          strategy,
          'manage-command': `${pythonBin()} ${flagsmithProject('v2.229.0')}/manage.py`
        },
        {env: {DATABASE_URL: db}}
      )
      walls.push((Date.now() - started) / 1000)
      if (run.outputs.status !== 'rolled-back') throw new Error(`${strategy}: ${run.outputs.status}\n${run.summary}`)
      processes = /Django processes<\/th><td>(\d+)/.exec(run.summary)?.[1] ?? '?'
    }
    walls.sort((a, b) => a - b)
    lines.push(
      `${strategy.padEnd(9)} 10 apps, 12 migrations: ${processes} Django processes, wall min ${walls[0].toFixed(2)} s, ` +
        `median ${walls[Math.floor(walls.length / 2)].toFixed(2)} s, max ${walls[walls.length - 1].toFixed(2)} s (n=${REPEAT})`
    )
  }
  process.stdout.write(`\n${lines.join('\n')}\n`)
})
