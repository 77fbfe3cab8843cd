import {flagsmith, vendorCommands} from '../../../src/strategies/flagsmith.js'
import {plan, report} from './strategies.fixture.js'

describe('strategy flagsmith', () => {
  it('models number-minus-one, and says when a name has no number', () => {
    const steps = vendorCommands(plan)
    expect(steps.find(s => s.app === 'shop')).toEqual({app: 'shop', target: '0001'})
    expect(steps.find(s => s.app === 'audit')?.error).toContain('audit.initial does not start with a number')
    // Only the computable commands are evaluated by the script.
    expect(flagsmith.evaluate(plan)).toEqual({commands: [{app: 'shop', target: '0001'}], perApp: []})
  })

  it('refuses an image without the vendor command, and a command that would unapply more than the plan', () => {
    const reasons = flagsmith.refusals(plan, report({hasFlagsmithCommand: false, commandsExtra: ['shop.0001_initial']}))
    expect(reasons.join('\n')).toContain('has no rollbackmigrationsappliedafter command: it arrived in Flagsmith v2.151.0')
    expect(reasons.join('\n')).toContain('would also unapply shop.0001_initial, applied before the cutoff')
  })

  it('runs the one vendor command with the cutoff as an offset datetime, and refuses another database', () => {
    expect(flagsmith.commands(plan, report(), ['python', 'manage.py'], 'default')).toEqual([
      ['python', 'manage.py', 'rollbackmigrationsappliedafter', '2024-05-01T11:00:00.000000+00:00']
    ])
    expect(flagsmith.inputProblem({databaseAlias: 'analytics'})).toContain('has no --database option')
    expect(flagsmith.inputProblem({databaseAlias: 'default'})).toBeNull()
  })
})
