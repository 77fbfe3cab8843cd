/**
 * A strategy is how the rollback is carried out once Django has checked the
 * exact plan: inside the rollback script (exact), or as `migrate` commands
 * (per-app, flagsmith). Each is one module behind this interface.
 */
import type {StrategyName} from '../config.js'
import type {DjangoReport, ScriptRequest} from '../django/commands.js'
import type {Plan} from '../plan.js'

/** What a strategy's summary section needs to know of the run. */
export interface StrategyRun {
  report: DjangoReport
  /** Command lines run (or that would run). */
  commands: string[]
  manageCommand: string[]
  databaseAlias: string
  /** True when nothing has run yet or nothing changed: the section says "would run". */
  wouldRun: boolean
}

export interface Strategy {
  readonly name: StrategyName
  /** The plan runs inside the rollback script, one transaction per atomic part; otherwise commands run after it. */
  readonly runsInScript: boolean
  /** Why the inputs cannot go with this strategy, or null. */
  inputProblem(inputs: {databaseAlias: string}): string | null
  /** The commands the script is to evaluate against the exact plan. */
  evaluate(plan: Plan): Pick<ScriptRequest, 'commands' | 'perApp'>
  /** Why this strategy cannot do the plan exactly, beyond the script's own blocking findings. */
  refusals(plan: Plan, report: DjangoReport): string[]
  /** argv of the commands that carry out the plan after the check; none when the script runs it. */
  commands(plan: Plan, report: DjangoReport, manageCommand: string[], databaseAlias: string): string[][]
  /** The summary's account of how the plan runs: what ran, and whether it is all or nothing. */
  summary(run: StrategyRun): {ran: string; transaction: string}
}
