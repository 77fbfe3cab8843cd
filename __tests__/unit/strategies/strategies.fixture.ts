import {parseCutoff} from '../../../src/cutoff.js'
import type {DjangoReport} from '../../../src/django/commands.js'
import {planRollback} from '../../../src/plan.js'
import {djangoReport} from '../../support/django-report.js'

export const plan = planRollback(
  [
    {id: 1, app: 'shop', name: '0001_initial', applied: '2024-05-01T10:00:00.000000Z'},
    {id: 2, app: 'shop', name: '0002_price', applied: '2024-05-01T12:00:00.000001Z'},
    {id: 3, app: 'audit', name: 'initial', applied: '2024-05-01T12:00:00.000002Z'}
  ],
  parseCutoff('2024-05-01T11:00:00Z'),
  '2030-01-01T00:00:00.000000Z'
)

export const report = (overrides: Partial<DjangoReport> = {}): DjangoReport =>
  djangoReport({
    plan: [{migration: 'shop.0002_price', operations: []}],
    problems: [],
    commands: [
      {
        app: 'shop',
        target: '0001_initial',
        resolved: '0001_initial',
        error: null,
        plan: [{migration: 'shop.0002_price', backwards: true}],
        irreversible: []
      }
    ],
    perApp: [{app: 'shop', target: '0001_initial'}],
    commandsExtra: [],
    commandsMissing: [],
    hasFlagsmithCommand: true,
    segments: [{atomic: true, migrations: ['shop.0002_price']}],
    ...overrides
  })
