import {deploymentBatches, recentBatches} from '../../src/batches.js'
import type {MigrationRow} from '../../src/history.js'

let id = 0
const row = (app: string, applied: string): MigrationRow => ({id: ++id, app, name: `m${id}`, applied})

const history = [
  row('shop', '2024-05-01T10:00:00.000000Z'),
  row('shop', '2024-05-01T10:00:01.500000Z'),
  row('billing', '2024-05-01T10:00:02.000000Z'),
  row('shop', '2024-05-08T09:00:00.000000Z'),
  row('features', '2024-05-08T09:00:00.900000Z'),
  row('features', '2024-05-15T12:00:00.000000Z')
]

describe('deploymentBatches', () => {
  it('groups migrations applied close together, one batch per deployment', () => {
    const batches = deploymentBatches(history, '2024-05-08T00:00:00.000000Z')
    expect(batches.map(b => [b.rows, b.apps, b.side])).toEqual([
      [3, ['billing', 'shop'], 'before'],
      [2, ['features', 'shop'], 'after'],
      [1, ['features'], 'after']
    ])
    expect(batches[1]).toMatchObject({first: '2024-05-08T09:00:00.000000Z', last: '2024-05-08T09:00:00.900000Z'})
  })

  it('marks a batch the cutoff falls inside', () => {
    const batches = deploymentBatches(history, '2024-05-08T09:00:00.500000Z')
    expect(batches.map(b => b.side)).toEqual(['before', 'split', 'after'])
  })

  it('keeps the batches around the cutoff', () => {
    const many = Array.from({length: 30}, (_, i) => row('a', `2024-06-${String(i + 1).padStart(2, '0')}T00:00:00.000000Z`))
    const shown = recentBatches(deploymentBatches(many, '2024-06-28T00:00:00.000000Z'))
    expect(shown.map(b => b.first.slice(0, 10))).toEqual([
      '2024-06-25',
      '2024-06-26',
      '2024-06-27',
      '2024-06-28',
      '2024-06-29',
      '2024-06-30'
    ])
  })
})
