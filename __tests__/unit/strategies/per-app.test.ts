import {perApp} from '../../../src/strategies/per-app.js'
import {plan, report} from './strategies.fixture.js'

describe('strategy per-app', () => {
  it("runs Django's per-app targets, skipping an app whose command has nothing to do, with the alias", () => {
    const r = report({
      perApp: [
        {app: 'shop', target: '0001_initial'},
        {app: 'audit', target: 'zero'}
      ]
    })
    expect(perApp.commands(plan, r, ['python', 'manage.py'], 'analytics')).toEqual([
      ['python', 'manage.py', 'migrate', 'shop', '0001_initial', '--database', 'analytics']
    ])
  })

  it('refuses when the commands would leave part of the plan applied, and is never all or nothing', () => {
    expect(perApp.refusals(plan, report({commandsMissing: ['audit.initial']}))).toEqual([
      'the per-app migrate commands would leave audit.initial applied. Use strategy: exact, which unapplies exactly what came after the cutoff'
    ])
    const summary = perApp.summary({
      report: report(),
      commands: ['python manage.py migrate shop 0001_initial'],
      manageCommand: ['python', 'manage.py'],
      databaseAlias: 'default',
      wouldRun: true
    })
    expect(summary.ran).toContain('### Would run')
    expect(summary.transaction).toContain('**Not all-or-nothing:** strategy per-app')
  })
})
