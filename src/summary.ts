/**
 * The job summary, for a person at the worst moment of their week: the outcome
 * first, then the next step, then the evidence. Text from the database or from
 * remote output is HTML-escaped; the whole stays under the 1 MiB the runner keeps.
 */
import * as core from '@actions/core'
import type {Outcome} from './outcome.js'
import {strategyFor} from './strategies/index.js'
import {
  hazardsSection,
  lossesSection,
  migrationList,
  noopReverseSection,
  schemaSection,
  sqlSection,
  trialSection
} from './summary/analysis.js'
import {failureSection} from './summary/failure.js'
import {batchesSection, facts, leftAloneSection, perAppTable} from './summary/facts.js'
import {escapeHtml, plural} from './summary/html.js'

export {escapeHtml}
export {losesData} from './summary/analysis.js'

export const SUMMARY_LIMIT = 1024 * 1024

/** Flagsmith's image runs migrate whenever a container starts; other apps often do the same from an entrypoint. */
function nextStep(outcome: Outcome): string {
  const flagsmith = outcome.config?.strategy === 'flagsmith' || outcome.run?.report.hasFlagsmithCommand === true
  const why = flagsmith
    ? "The current release re-applies its migrations whenever one of its containers starts (Flagsmith's image runs `migrate` on start)"
    : 'If the current release runs `migrate` when a container starts (an entrypoint, an init container or a release step), it re-applies its migrations'
  return (
    `**Next: deploy the earlier release now.** ${why}, so do not restart, scale or redeploy the current ` +
    'release before the earlier one is running.'
  )
}

function headline(outcome: Outcome): string {
  const v = outcome.verification
  const planned = outcome.run?.report.plan.length ?? 0
  const apps = new Set((outcome.run?.report.plan ?? []).map(p => p.migration.split('.')[0])).size
  const when = outcome.plan ? `${outcome.plan.cutoff.utc.replace('T', ' ').replace(/(\.0+)?Z$/, '')} UTC` : ''
  const e = outcome.evidence
  const release = e?.kind === 'deployments' ? e.resolution.version : e?.kind === 'source' ? e.version : null
  switch (outcome.status) {
    case 'rolled-back':
      return `## ✅ Rolled back ${plural(v?.unapplied.length ?? planned, 'migration')} in ${plural(apps, 'app')}: the database is back to ${release ? `release ${release} (` : ''}its state before ${when}${release ? ')' : ''}`
    case 'nothing-to-roll-back': {
      if (e?.kind === 'deployments' && !e.resolution.next) {
        return `## ✅ Nothing to roll back: ${e.resolution.version} is still the latest deployment to ${e.resolution.environment}`
      }
      return `## ✅ Nothing to roll back: no migration the code knows was applied at or after ${when || 'the cutoff'}`
    }
    case 'planned': {
      const trial = outcome.run?.report.trial
      if (trial && trial.tried.length > 0) {
        return `## 🔍 Trial passed: ${plural(trial.tried.length, 'migration')} in ${plural(apps, 'app')} went through on the live data and were rolled back; nothing was changed`
      }
      const failing = (outcome.run?.report.hazards ?? []).filter(h => (h.rows ?? 0) > 0).length
      const warning = failing ? `; ⛔ ${plural(failing, 'reverse step')} would fail on the data there now` : ''
      return `## 🔍 Dry run: ${plural(planned, 'migration')} in ${plural(apps, 'app')} would be rolled back${warning}; nothing was changed`
    }
    case 'failed':
      return failedHeadline(outcome, planned)
  }
}

function failedHeadline(outcome: Outcome, planned: number): string {
  const v = outcome.verification
  const failure = outcome.failure
  if (failure?.kind === 'schema-differs' && !failure.check.partial) {
    return `## ❌ Rolled back ${plural(v?.unapplied.length ?? planned, 'migration')}, but the schema differs from expected-schema (${plural(failure.check.comparison.differences.length, 'difference')})`
  }
  const fault = outcome.run?.fault
  if (fault && outcome.unchanged) {
    const at = fault.migration ? ` at ${fault.migration}` : ''
    const subject = outcome.config?.trial ? `Trial failed${at}: the rollback would not go through` : `Rollback failed${at}`
    return `## ⛔ ${subject}; nothing was changed`
  }
  if (outcome.unchanged) return '## ⛔ Rollback stopped before any change: the database is as it was'
  if (!v) return '## ❌ Rollback ran, but its result could not be verified'
  if (v.unapplied.length > 0) {
    return `## ❌ Rollback failed part-way: ${v.unapplied.length} of ${outcome.plan?.after.length} migrations unapplied, ${v.remaining.length} still applied after the cutoff`
  }
  return '## ❌ Rollback failed'
}

/** A rehearsal's one question, answered first: can this change be rolled back, and what would it lose. */
function rehearsalAnswer(outcome: Outcome): string {
  if (!outcome.config?.rehearsal) return ''
  const losses = outcome.run?.report.losses
  const dropped = losses ? losses.tables.length + losses.columns.length : 0
  const lose = dropped
    ? `; it drops ${plural(losses?.tables.length ?? 0, 'table')} and ${plural(losses?.columns.length ?? 0, 'column')} (see What is lost)`
    : '; it drops no table or column'
  const schema = outcome.schema ? (outcome.schema.comparison.equal ? ', and the schema matches the previous release' : '') : ''
  switch (outcome.status) {
    case 'rolled-back':
      return `## ✅ Rehearsal: this change can be rolled back${schema}${lose}`
    case 'planned':
      return outcome.run?.report.trial?.tried.length
        ? `## ✅ Rehearsal: the rollback of this change went through in a trial${lose}`
        : `## 🔍 Rehearsal (dry run): the rollback of this change was planned and checked${lose}`
    case 'nothing-to-roll-back':
      return '## ✅ Rehearsal: this change adds no migration, nothing to roll back'
    case 'failed':
      return '## ⛔ Rehearsal: this change cannot be rolled back as it is: see why below, and ask for a fix before it is merged or deployed'
  }
}

function plannedNote(outcome: Outcome): string {
  if (outcome.status !== 'planned') return ''
  const config = outcome.config
  const irreversible = config?.allowIrreversible
    ? '.'
    : config?.noopReverse.length
      ? ', and no step is irreversible except those skipped by noop-reverse.'
      : ', and no step is irreversible.'
  return `Django checked the plan in the target: every step goes backwards, nothing applied before the cutoff is touched${irreversible} Run again with dry-run: false to do it.`
}

/** How the strategy runs the plan: what ran (or would), and whether it is all or nothing. */
function strategySections(outcome: Outcome): {ran: string; transaction: string} {
  const run = outcome.run
  const config = outcome.config
  if (!run || !config) return {ran: '', transaction: ''}
  const sections = strategyFor(config.strategy).summary({
    report: run.report,
    commands: run.commands,
    manageCommand: config.manageCommand,
    databaseAlias: config.databaseAlias,
    wouldRun: outcome.status === 'planned' || outcome.unchanged
  })
  return run.report.plan.length > 0 ? sections : {ran: sections.ran, transaction: ''}
}

export function renderSummary(outcome: Outcome): string {
  const answer = rehearsalAnswer(outcome)
  const {ran, transaction} = strategySections(outcome)
  const sections = [
    answer,
    answer ? headline(outcome).replace(/^## /, '**') + '**' : headline(outcome),
    // A rehearsal's database is thrown away: there is nothing to deploy next.
    outcome.status === 'rolled-back' && !outcome.config?.rehearsal ? nextStep(outcome) : '',
    plannedNote(outcome),
    failureSection(outcome),
    schemaSection(outcome),
    noopReverseSection(outcome),
    trialSection(outcome),
    transaction,
    hazardsSection(outcome),
    lossesSection(outcome),
    facts(outcome),
    perAppTable(outcome),
    batchesSection(outcome),
    leftAloneSection(outcome),
    ran,
    sqlSection(outcome),
    migrationList(outcome)
  ]
  let markdown = `${sections.filter(s => s).join('\n\n')}\n`
  if (Buffer.byteLength(markdown) > SUMMARY_LIMIT) {
    markdown = `${sections.slice(0, -1).join('\n\n')}\n\n(The migration list was left out: it exceeded the summary size limit.)\n`
  }
  return markdown
}

export async function writeSummary(outcome: Outcome): Promise<void> {
  if (!process.env.GITHUB_STEP_SUMMARY) return
  await core.summary.addRaw(renderSummary(outcome)).write()
}
