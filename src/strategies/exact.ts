/**
 * exact (the default): the rollback script unapplies exactly S, in Django's own
 * backwards order, in one transaction per run of atomic migrations. The
 * per-app commands are evaluated too, only to show them as the by-hand
 * equivalent when they would do exactly the same.
 */
import {type DjangoReport, displayCommand, migrateArgv, withDatabase} from '../django/commands.js'
import type {Plan} from '../plan.js'
import {code, COLLAPSE_AFTER, escapeHtml, plural, pre} from '../summary/html.js'
import type {Strategy, StrategyRun} from './strategy.js'

function isEquivalent(report: DjangoReport): boolean {
  return (
    report.commandsExtra.length === 0 &&
    report.commandsMissing.length === 0 &&
    report.commands.every(c => !c.error && c.plan.every(step => step.backwards))
  )
}

function byHand(run: StrategyRun): string {
  const report = run.report
  if (isEquivalent(report) && report.perApp.length > 0) {
    const lines = report.perApp.length
    const commands = pre(
      report.perApp.map(c => displayCommand(withDatabase(migrateArgv(run.manageCommand, c.app, c.target), run.databaseAlias)))
    )
    return lines > COLLAPSE_AFTER
      ? `<details><summary>The same rollback by hand: ${lines} <code>migrate APP TARGET</code> commands (checked: they unapply exactly the same migrations)</summary>\n\n${commands}\n\n</details>`
      : `The same rollback by hand, as \`migrate APP TARGET\` commands (checked: they unapply exactly the same migrations):\n\n${commands}`
  }
  if (report.plan.length === 0) return ''
  const why = [
    ...report.commandsExtra.map(m => `would also unapply ${m}, applied before the cutoff`),
    ...report.commandsMissing.map(m => `would leave ${m} applied`),
    ...report.commands.filter(c => c.error).map(c => `migrate ${c.app} ${c.target}: ${c.error}`)
  ]
  return (
    'No set of `migrate APP TARGET` commands does this rollback exactly (a branch point, a squash or an ' +
    'ambiguous name: see docs/design.md). The per-app commands ' +
    (why.length ? `${escapeHtml(why.join('; '))}.` : 'differ.')
  )
}

function ran(run: StrategyRun): string {
  const parts: string[] = []
  if (run.commands.length > 0) {
    parts.push(
      `### ${run.wouldRun ? 'Would run' : 'Ran'}\n\nOne Django process in the target: ${code(`${run.manageCommand.join(' ')} shell`)} with the rollback script ` +
        `and the plan on its standard input (${plural(run.report.plan.length, 'migration')}).\n\n` +
        `<details><summary>The exact command line</summary>\n\n${pre(run.commands)}\n\n</details>`
    )
  }
  const hand = byHand(run)
  if (hand) parts.push(hand)
  return parts.join('\n\n')
}

/** Which parts of the plan are all-or-nothing, said before anything runs. */
function transaction(report: DjangoReport): string {
  const segments = report.segments ?? []
  if (segments.length <= 1) {
    const atomic = segments[0]?.atomic ?? true
    return atomic
      ? `**All or nothing:** the ${plural(report.plan.length, 'migration')} run in one transaction; if any step fails, nothing is changed.`
      : `**Not all-or-nothing:** ${code(segments[0].migrations[0])} has \`atomic = False\` and runs outside a transaction.`
  }
  const lines = segments.map((s, i) => {
    const names =
      s.migrations.length > 6
        ? `${s.migrations.slice(0, 6).map(code).join(', ')} and ${s.migrations.length - 6} more`
        : s.migrations.map(code).join(', ')
    return s.atomic
      ? `${i + 1}. all-or-nothing, one transaction: ${names}`
      : `${i + 1}. ⚠️ \`atomic = False\`, runs alone outside a transaction: ${names}`
  })
  return (
    `**In ${segments.length} parts:** migrations with \`atomic = False\` cannot run in a transaction. Each part commits ` +
    'before the next starts, so a failure in a later part leaves the earlier ones done (the summary then says exactly ' +
    'what was reached, and the same inputs finish the job).\n\n' +
    lines.join('\n')
  )
}

export const exact: Strategy = {
  name: 'exact',
  runsInScript: true,
  inputProblem: () => null,
  evaluate: (plan: Plan) => ({commands: [], perApp: plan.apps.map(({app, before}) => ({app, before}))}),
  refusals: () => [],
  commands: () => [],
  summary: run => ({ran: ran(run), transaction: run.report.plan.length > 0 ? transaction(run.report) : ''})
}
