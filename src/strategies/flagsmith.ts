/**
 * flagsmith: Flagsmith's own `rollbackmigrationsappliedafter DATETIME`, which
 * runs `migrate APP (number of the app's earliest row after it, minus one)`
 * per app. Modelled here so Django can check it against the exact plan, and
 * refused before any change where it would unapply more or less than the plan.
 */
import type {Cutoff} from '../config.js'
import {type DjangoReport, VENDOR_COMMAND, vendorArgv, vendorDatabaseRefusal} from '../django/commands.js'
import {key, type MigrateCommand, type Plan} from '../plan.js'
import {commandRefusals, migrateCommandsSummary} from './migrate-commands.js'
import type {Strategy} from './strategy.js'

export interface VendorStep extends MigrateCommand {
  /** Set when the vendor command cannot compute a target (a name that does not start with a number). */
  error?: string
}

/** Per app, in order of the app's earliest row in S, "number of that row minus one" as a prefix, or `zero`. */
export function vendorCommands(plan: Plan): VendorStep[] {
  const earliestFirst = [...plan.after].reverse()
  const steps: VendorStep[] = []
  for (const row of earliestFirst) {
    if (steps.some(s => s.app === row.app)) continue
    const prefix = row.name.split('_', 1)[0]
    if (!/^\d+$/.test(prefix)) {
      steps.push({
        app: row.app,
        target: '',
        error: `${key(row)} does not start with a number, so "number minus one" has no answer (the vendor command stops with a ValueError)`
      })
      continue
    }
    const number = Number(prefix)
    steps.push({app: row.app, target: number > 1 ? String(number - 1).padStart(4, '0') : 'zero'})
  }
  return steps
}

function refusals(plan: Plan, report: DjangoReport): string[] {
  const reasons = vendorCommands(plan).flatMap(step => (step.error ? [step.error] : []))
  if (!report.hasFlagsmithCommand) {
    reasons.push(
      `The container's manage.py has no ${VENDOR_COMMAND} command: it arrived in Flagsmith v2.151.0 ` +
        "(Flagsmith's docs misname it rollbackmigrationsafter). strategy: exact works on every version"
    )
  }
  return [...reasons, ...commandRefusals(`Flagsmith's ${VENDOR_COMMAND}`, report)]
}

export const flagsmith: Strategy = {
  name: 'flagsmith',
  runsInScript: false,
  inputProblem: ({databaseAlias}) => vendorDatabaseRefusal(databaseAlias),
  evaluate: plan => ({
    commands: vendorCommands(plan)
      .filter(c => !c.error)
      .map(({app, target}) => ({app, target})),
    perApp: []
  }),
  refusals,
  commands: (plan, _report, manageCommand) => [vendorArgv(manageCommand, plan.cutoff as Cutoff)],
  summary: run => migrateCommandsSummary('flagsmith', run)
}
