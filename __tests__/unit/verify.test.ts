import {parseCutoff} from '../../src/cutoff.js'
import type {MigrationRow} from '../../src/history.js'
import {planRollback} from '../../src/plan.js'
import {verify} from '../../src/verify.js'

const rows: MigrationRow[] = [
  {id: 1, app: 'shop', name: '0001_initial', applied: '2024-05-01T10:00:00.000000Z'},
  {id: 2, app: 'shop', name: '0002_price', applied: '2024-05-01T12:00:00.000000Z'},
  {id: 3, app: 'gone', name: '0001_deleted', applied: '2024-05-01T12:00:00.000001Z'},
  {id: 4, app: 'legacy', name: '0001_squashed_0002', applied: '2024-05-01T12:00:00.000002Z'}
]
const plan = planRollback(rows, parseCutoff('2024-05-01T11:00:00Z'), '2030-01-01T00:00:00.000000Z')
const leave = {orphans: ['gone.0001_deleted'], bookkeeping: ['legacy.0001_squashed_0002']}

describe('verify', () => {
  it('is complete when only orphans and squash bookkeeping remain after the cutoff', () => {
    const result = verify(plan, [rows[0], rows[2], rows[3]], leave)
    expect(result).toEqual({unapplied: ['shop.0002_price'], remaining: [], lostBefore: [], lostBeforeUnnamed: 0})
  })

  it('lists what is still applied after a partial run', () => {
    const result = verify(plan, rows, leave)
    expect(result.unapplied).toEqual([])
    expect(result.remaining.map(r => r.name)).toEqual(['0002_price'])
  })

  it('trusts the summary of the rows before the cutoff: unchanged means nothing lost, changed names what it can', () => {
    const then = {count: 1, digest: 'a'}
    expect(verify(plan, [rows[2], rows[3]], leave, {then, now: {count: 1, digest: 'a'}}).lostBefore).toEqual([])
    const lost = verify(plan, [rows[2], rows[3]], leave, {then: {count: 3, digest: 'a'}, now: {count: 1, digest: 'b'}})
    expect(lost.lostBefore).toEqual(['shop.0001_initial'])
    expect(lost.lostBeforeUnnamed).toBe(1)
  })

  it('catches a migration from before the cutoff that disappeared', () => {
    expect(verify(plan, [rows[2], rows[3]], leave).lostBefore).toEqual(['shop.0001_initial'])
  })
})
