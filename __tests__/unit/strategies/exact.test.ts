import {exact} from '../../../src/strategies/exact.js'
import {plan, report} from './strategies.fixture.js'

const run = (overrides = {}) => ({
  report: report(overrides),
  commands: ['python manage.py shell -v 0 -c BOOTSTRAP < rollback.py+request'],
  manageCommand: ['python', 'manage.py'],
  databaseAlias: 'default',
  wouldRun: false
})

describe('strategy exact', () => {
  it('runs in the script, with nothing after it, and asks for the per-app commands only to compare', () => {
    expect(exact.runsInScript).toBe(true)
    expect(exact.commands(plan, report(), ['python', 'manage.py'], 'default')).toEqual([])
    expect(exact.evaluate(plan).perApp.map(a => a.app)).toEqual(['audit', 'shop'])
  })

  it('shows the by-hand migrate commands only when Django found them exact', () => {
    expect(exact.summary(run()).ran).toContain('python manage.py migrate shop 0001_initial')
    const differs = exact.summary(run({commandsExtra: ['shop.0001_initial']})).ran
    expect(differs).not.toContain('migrate shop 0001_initial</pre>')
    expect(differs).toContain('would also unapply shop.0001_initial, applied before the cutoff')
  })

  it('says which parts are all or nothing', () => {
    expect(exact.summary(run()).transaction).toContain('**All or nothing:** the 1 migration run in one transaction')
    const parts = exact.summary(
      run({
        segments: [
          {atomic: true, migrations: ['a.2']},
          {atomic: false, migrations: ['b.1']}
        ]
      })
    ).transaction
    expect(parts).toContain('**In 2 parts:**')
    expect(parts).toContain('2. ⚠️ `atomic = False`, runs alone outside a transaction: <code>b.1</code>')
  })
})
