/**
 * per-app: the documented procedure, `migrate APP TARGET` per app, with the
 * targets Django picks (the newest real migration before the cutoff). Refused
 * before any change whenever those commands would not unapply exactly the plan.
 */
import {type DjangoReport, migrateArgv, withDatabase} from '../django/commands.js'
import type {Plan} from '../plan.js'
import {commandRefusals, migrateCommandsSummary} from './migrate-commands.js'
import type {Strategy} from './strategy.js'

/** A command whose plan is empty (only bookkeeping or orphan rows in that app) has nothing to do. */
function evaluated(report: DjangoReport, app: string, target: string): boolean {
  return Boolean(report.commands.find(r => r.app === app && r.target === target)?.plan.length)
}

export const perApp: Strategy = {
  name: 'per-app',
  runsInScript: false,
  inputProblem: () => null,
  evaluate: (plan: Plan) => ({commands: [], perApp: plan.apps.map(({app, before}) => ({app, before}))}),
  refusals: (_plan, report) => commandRefusals('the per-app migrate commands', report),
  commands: (_plan, report, manageCommand, databaseAlias) =>
    report.perApp
      .filter(c => evaluated(report, c.app, c.target))
      .map(c => withDatabase(migrateArgv(manageCommand, c.app, c.target), databaseAlias)),
  summary: run => migrateCommandsSummary('per-app', run)
}
