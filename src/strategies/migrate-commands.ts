/** What per-app and flagsmith share: they run plain `migrate` commands, checked by Django against the exact plan first. */
import type {DjangoReport} from '../django/commands.js'
import {pre} from '../summary/html.js'
import type {StrategyRun} from './strategy.js'

/** The commands' problems: any of them stops these strategies, since they would not do exactly the plan. */
export function commandRefusals(label: string, report: DjangoReport): string[] {
  const reasons: string[] = []
  // Problems with one command (ambiguous, not found, forwards) do not stop the exact plan, but they stop these.
  for (const p of report.problems) if (p.command && !p.blocking) reasons.push(`${p.command}: ${p.message}`)
  if (report.commandsExtra.length > 0) {
    reasons.push(
      `${label} would also unapply ${report.commandsExtra.join(', ')}, applied before the cutoff: data of the ` +
        'release you are going back to would be lost. Use strategy: exact, which unapplies exactly what came after the cutoff'
    )
  }
  if (report.commandsMissing.length > 0) {
    reasons.push(
      `${label} would leave ${report.commandsMissing.join(', ')} applied. Use strategy: exact, which unapplies ` +
        'exactly what came after the cutoff'
    )
  }
  return reasons
}

export function migrateCommandsSummary(name: string, run: StrategyRun): {ran: string; transaction: string} {
  return {
    ran: run.commands.length > 0 ? `### ${run.wouldRun ? 'Would run' : 'Ran'}\n\n${pre(run.commands)}` : '',
    transaction:
      `**Not all-or-nothing:** strategy ${name} runs plain \`migrate\` commands, which commit each migration ` +
      'as they go; a failure part-way leaves a half-done rollback. strategy: exact runs the plan in one transaction.'
  }
}
