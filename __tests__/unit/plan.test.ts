import {parseCutoff} from '../../src/cutoff.js'
import type {MigrationRow} from '../../src/history.js'
import {RollbackError} from '../../src/errors.js'
import {key, planRollback} from '../../src/plan.js'
// Flagsmith's model beside the plan: the cases where number-minus-one goes wrong.
import {vendorCommands} from '../../src/strategies/flagsmith.js'

const NOW = '2030-01-01T00:00:00.000000Z'

function kindThrown(fn: () => unknown): string {
  try {
    fn()
  } catch (error) {
    expect(error).toBeInstanceOf(RollbackError)
    return (error as RollbackError).kind
  }
  throw new Error('expected a RollbackError')
}
let nextId = 1
const row = (app: string, name: string, applied: string): MigrationRow => ({id: nextId++, app, name, applied})
const at = (time: string): string => `2024-05-01T${time}Z`

// Release A deployed at 10:00, release B at 12:00 (cutoff 11:00).
const history = (): MigrationRow[] => [
  row('segments', '0001_initial', at('10:00:00.000001')),
  row('segments', '0008_auto_20210223_1603', at('10:00:00.000002')),
  row('features', '0001_initial', at('10:00:00.000003')),
  row('features', '0035_auto_20211109_0603', at('10:00:00.000004')),
  row('features', '0036_alter_feature_options', at('10:00:00.000005')),
  row('features', '0036_remove_feature_default_enabled', at('12:00:00.000001')),
  row('features', '0037_merge_20211118_1452', at('12:00:00.000002')),
  row('segments', '0010_add_uuid_fields', at('12:00:00.000003')),
  row('audit', 'initial', at('12:00:00.000004'))
]

describe('planRollback', () => {
  const cutoff = parseCutoff('2024-05-01T11:00:00Z')

  it('selects exactly the rows applied at or after the cutoff, newest first', () => {
    const plan = planRollback(history(), cutoff, NOW)
    expect(plan.after.map(key)).toEqual([
      'audit.initial',
      'segments.0010_add_uuid_fields',
      'features.0037_merge_20211118_1452',
      'features.0036_remove_feature_default_enabled'
    ])
    expect(plan.before).toHaveLength(5)
  })

  it('across a numbering gap targets the full name of the last migration before the cutoff, never a guessed 0009', () => {
    const plan = planRollback(history(), cutoff, NOW)
    expect(plan.apps.find(a => a.app === 'segments')).toEqual({
      app: 'segments',
      from: '0010_add_uuid_fields',
      to: '0008_auto_20210223_1603',
      count: 1,
      before: ['0008_auto_20210223_1603', '0001_initial']
    })
    expect(vendorCommands(plan).find(c => c.app === 'segments')?.target).toBe('0009')
  })

  it('at a branch point (two 0036 on one parent, then a merge) targets the sibling from before the cutoff', () => {
    const plan = planRollback(history(), cutoff, NOW)
    expect(plan.apps.find(a => a.app === 'features')).toMatchObject({
      app: 'features',
      from: '0037_merge_20211118_1452',
      to: '0036_alter_feature_options',
      count: 2
    })
    // Number-minus-one lands on 0035, which would also unapply 0036_alter_feature_options.
    expect(vendorCommands(plan).find(c => c.app === 'features')?.target).toBe('0035')
  })

  it('orders apps newest first and targets zero for an app with nothing before the cutoff', () => {
    const plan = planRollback(history(), cutoff, NOW)
    expect(plan.apps.map(a => [a.app, a.to])).toEqual([
      ['audit', 'zero'],
      ['segments', '0008_auto_20210223_1603'],
      ['features', '0036_alter_feature_options']
    ])
    expect(plan.apps[0].before).toEqual([])
  })

  it('keeps a squash bookkeeping row in S for Django to classify, and hands Django the rows before it', () => {
    const rows = [
      row('legacy', '0001_initial', at('10:00:00')),
      row('legacy', '0002_more', at('10:00:01')),
      row('legacy', '0001_squashed_0002_more', at('12:00:00'))
    ]
    const plan = planRollback(rows, cutoff, NOW)
    expect(plan.after.map(key)).toEqual(['legacy.0001_squashed_0002_more'])
    expect(plan.apps[0].before).toEqual(['0002_more', '0001_initial'])
  })

  it('compares microseconds: a row one microsecond before the cutoff stays, one at it goes', () => {
    const rows = [
      row('shop', '0001_initial', '2024-05-01T11:00:00.122999Z'),
      row('shop', '0002_price', '2024-05-01T11:00:00.123000Z'),
      row('shop', '0003_sku', '2024-05-01T11:00:00.123001Z')
    ]
    const plan = planRollback(rows, parseCutoff('2024-05-01T13:00:00.123+02:00'), NOW)
    expect(plan.after.map(key)).toEqual(['shop.0003_sku', 'shop.0002_price'])
    expect(plan.apps[0].to).toBe('0001_initial')
  })

  it('reads a naive cutoff as UTC', () => {
    const plan = planRollback(history(), parseCutoff('2024-05-01 11:00'), NOW)
    expect(plan.cutoff.assumedUtc).toBe(true)
    expect(plan.after).toHaveLength(4)
  })

  it('refuses a cutoff in the future instead of reporting nothing to do', () => {
    expect(kindThrown(() => planRollback(history(), parseCutoff('2031-01-01'), NOW))).toBe('future-cutoff')
    expect(() => planRollback(history(), parseCutoff('2031-01-01'), NOW)).toThrow(/in the future: the database clock says 2030/)
  })

  it('has nothing to do when every row is older than the cutoff', () => {
    const plan = planRollback(history(), parseCutoff('2024-05-01T13:00:00Z'), NOW)
    expect(plan.after).toEqual([])
    expect(plan.apps).toEqual([])
  })

  it.each([
    ['shop', "0002_x'; rm -rf / #"],
    ['shop; touch /tmp/pwned', '0001_initial'],
    ['shop', '0003_$(reboot)'],
    ['shop', '0004 spaces'],
    ['shop', '']
  ])('stops on a hostile row (%s, %j) and names it', (app, name) => {
    const rows = [...history(), {id: 999, app, name, applied: at('09:00:00')}]
    expect(kindThrown(() => planRollback(rows, cutoff, NOW))).toBe('unsafe-row')
    expect(() => planRollback(rows, cutoff, NOW)).toThrow(/row id 999 .*must match \^\[A-Za-z0-9_\]\+\$/)
  })
})
