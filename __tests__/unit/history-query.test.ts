/**
 * The narrow history read with a cutoff (src/history-query.ts), over a direct connection and through
 * Django in the target: the rows after the cutoff, each rolled-back app's newest rows before it and the
 * deploy batches just before it; everything else before the cutoff only as a count and a digest.
 */
import {parseDatabaseUrl} from '../../src/database.js'
import path from 'node:path'
import {deploymentBatches, recentBatches} from '../../src/batches.js'
import {parseCutoff} from '../../src/cutoff.js'
import {LocalExecutor} from '../../src/executors/local.js'
import {readHistory} from '../../src/history.js'
import {readHistoryInContainer} from '../../src/history-container.js'
import {BATCHES_BEFORE, ROWS_PER_APP} from '../../src/history-query.js'
import {planRollback} from '../../src/plan.js'
import {verify} from '../../src/verify.js'
import {atReleaseBWithOldHistory, hazardProjectDir} from '../support/hazard-project.js'
import {query} from '../support/postgres.js'
import {pythonBin} from '../support/python.js'

const OLD_ROWS = 3000

/** Years of an old app first, one batch a day; then releases A and B. */
const deployed = () => atReleaseBWithOldHistory('history_query', OLD_ROWS, '1 day')

describe('the history read with a cutoff', () => {
  it('reads what the rollback needs, sums up the rest, and gives the same through Django in the target', async () => {
    const {db, cutoff} = await deployed()
    const c = parseCutoff(cutoff)
    const narrow = await readHistory(parseDatabaseUrl(db), c)
    const all = await readHistory(parseDatabaseUrl(db))
    const before = all.rows.filter(r => r.applied < c.utc)
    expect(narrow.before?.count).toBe(before.length)
    expect(narrow.rows.filter(r => r.applied >= c.utc)).toEqual(all.rows.filter(r => r.applied >= c.utc))
    // Release A's batch is the newest batch before the cutoff; the old app's batches are one a day.
    const lastBatches = deploymentBatches(before, c.utc).slice(-(BATCHES_BEFORE + 1))
    expect(lastBatches.map(b => b.apps.includes('oldapp'))).toEqual([true, true, true, false])
    const oldRead = narrow.rows.filter(r => r.app === 'oldapp')
    expect(oldRead.length).toBe(lastBatches[0].rows + lastBatches[1].rows + lastBatches[2].rows)
    expect(recentBatches(deploymentBatches(narrow.rows, c.utc))).toEqual(recentBatches(deploymentBatches(all.rows, c.utc)))
    expect(narrow.rows.length).toBeLessThan(all.rows.length / 10)
    // Each app with rows after the cutoff has its newest rows before it, up to ROWS_PER_APP.
    for (const app of ['catalog', 'ledger']) {
      expect(narrow.rows.filter(r => r.app === app && r.applied < c.utc).map(r => r.name)).toEqual(
        before
          .filter(r => r.app === app)
          .slice(-ROWS_PER_APP)
          .map(r => r.name)
      )
    }
    // The plan is the same as from every row.
    const planNarrow = planRollback(narrow.rows, c, narrow.now)
    const planAll = planRollback(all.rows, c, all.now)
    expect(planNarrow.after).toEqual(planAll.after)
    expect(planNarrow.apps).toEqual(planAll.apps)

    const manage = ['/usr/bin/env', `DATABASE_URL=${db}`, pythonBin(), path.join(hazardProjectDir, 'manage.py')]
    const viaDjango = await readHistoryInContainer(new LocalExecutor(), manage, 'default', c)
    expect(viaDjango.rows).toEqual(narrow.rows)
    expect(viaDjango.before).toEqual(narrow.before)
  })

  it('the verification sees a row before the cutoff that disappeared, even one it never read', async () => {
    const {db, cutoff} = await deployed()
    const c = parseCutoff(cutoff)
    const then = await readHistory(parseDatabaseUrl(db), c)
    const plan = planRollback(then.rows, c, then.now)
    const leave = {orphans: [], bookkeeping: []}
    // Nothing touched: the rows not read are not missed.
    const same = await readHistory(parseDatabaseUrl(db), c)
    expect(verify(plan, same.rows, leave, {then: then.before, now: same.before}).lostBefore).toEqual([])
    // An old row (never read) and a row that was read, both gone.
    await query(
      db,
      `DELETE FROM django_migrations WHERE (app = 'oldapp' AND name = '000005_x') OR (app = 'catalog' AND name = '0001_initial')`
    )
    const now = await readHistory(parseDatabaseUrl(db), c)
    expect(now.before?.count).toBe((then.before?.count ?? 0) - 2)
    const everything = await readHistory(parseDatabaseUrl(db))
    const result = verify(plan, everything.rows, leave, {then: then.before, now: now.before})
    expect(result.lostBefore).toEqual(['catalog.0001_initial'])
    expect(result.lostBeforeUnnamed).toBe(1)
  })
})
