/** The evidence: where the cutoff came from, the run's facts, the apps, the deployment batches, the rows left alone. */
import {BATCH_GAP_SECONDS} from '../batches.js'
import type {Outcome} from '../outcome.js'
import {key} from '../plan.js'
import {code, COLLAPSE_AFTER, escapeHtml, factTable, plural, shortTime} from './html.js'

function deploymentText(d: {id: number; ref: string; createdAt: string; creator: string | null}): string {
  return `deployment #${d.id} of ${code(d.ref)} (created ${escapeHtml(shortTime(d.createdAt))} UTC${d.creator ? ` by ${escapeHtml(d.creator)}` : ''})`
}

/** Where the cutoff came from, in words a reviewer can check. */
function cutoffEvidence(outcome: Outcome): string {
  const plan = outcome.plan as NonNullable<Outcome['plan']>
  const evidence = outcome.evidence
  if (evidence?.kind === 'deployments') {
    const r = evidence.resolution
    return (
      `${code(plan.cutoff.utc)}: the creation of ${r.next ? deploymentText(r.next) : 'the next deployment'} to ` +
      `${code(r.environment)}, the first after ${code(r.version)}'s latest, ${deploymentText(r.target)}, in ` +
      `${escapeHtml(r.repository)}. Every migration applied at or after it is rolled back.`
    )
  }
  if (evidence?.kind === 'source') {
    const outside = evidence.outsideApps.length
      ? ` Apps the source does not contain (${evidence.outsideApps.map(a => code(a.app)).join(', ')}): their rows ` +
        'applied at or after that time are rolled back too.'
      : ''
    return (
      `Every applied migration that the source of ${code(evidence.version)} (${code(evidence.path)}: ` +
      `${evidence.apps} apps, ${evidence.migrations} migrations) does not contain; the earliest was applied at ` +
      `${code(plan.cutoff.utc)}.${outside}`
    )
  }
  const given = plan.cutoff.input === plan.cutoff.utc ? 'as given in target-datetime' : `from target-datetime ${code(plan.cutoff.input)}`
  return (
    `${code(plan.cutoff.utc)}, ${given}` +
    (plan.cutoff.assumedUtc ? ' (no offset given: read as UTC)' : '') +
    '. Every migration applied at or after it is rolled back.'
  )
}

export function facts(outcome: Outcome): string {
  const rows: [string, string][] = []
  const plan = outcome.plan
  const config = outcome.config
  if (plan) rows.push(['Cutoff', cutoffEvidence(outcome)])
  if (config) {
    const django = outcome.run ? `, Django ${escapeHtml(outcome.run.report.django)}` : ''
    rows.push(['Strategy', `${config.strategy}${config.dryRun ? ' (dry run)' : ''}${django}`])
  }
  if (outcome.where) rows.push(['Ran in', escapeHtml(outcome.where)])
  if (config && config.databaseAlias !== 'default') rows.push(['Database', `Django alias ${code(config.databaseAlias)}`])
  if (config?.historySource === 'container') rows.push(['History', 'read through Django in the target (history-source: container)'])
  if (outcome.backup) {
    const b = outcome.backup
    rows.push([
      'Backup',
      `${code(b.path)}, ${(b.bytes / 1024 / 1024).toFixed(1)} MiB in ${b.seconds.toFixed(1)} s (${escapeHtml(b.pgDump)}). ` +
        'It is deleted with the runner: keep it with actions/upload-artifact (output backup-path), with a short ' +
        'retention-days, since whoever can read the repository can download artifacts. Restore with ' +
        `${code('pg_restore --clean --if-exists -d DATABASE_URL FILE')}.`
    ])
  }
  if (outcome.lock) rows.push(['One rollback at a time', escapeHtml(`lock ${outcome.lock}`)])
  if (outcome.run) {
    rows.push(['Django processes', `${outcome.run.djangoProcesses}, ${outcome.seconds.toFixed(1)} s in all`])
  }
  if (rows.length === 0) return ''
  return factTable(rows)
}

export function perAppTable(outcome: Outcome): string {
  const plan = outcome.plan
  if (!plan || plan.apps.length === 0) return ''
  const ignored = new Set([...(outcome.run?.report.orphans ?? []), ...(outcome.run?.report.bookkeeping ?? [])])
  const body = plan.apps
    .map(a => {
      const rows = plan.after.filter(r => r.app === a.app)
      const real = rows.filter(r => !ignored.has(key(r))).length
      const note = real === rows.length ? '' : ` (${rows.length - real} left alone, see below)`
      const to = outcome.run?.report.perApp.find(p => p.app === a.app)?.target ?? a.to
      return `<tr><td>${code(a.app)}</td><td>${code(a.from)}</td><td>${code(to)}</td><td>${real}${note}</td></tr>`
    })
    .join('')
  const table =
    '<table><tr><th>App</th><th>From (latest applied)</th><th>To (last before the cutoff)</th>' + `<th>Migrations</th></tr>${body}</table>`
  // A long table would push what to do next out of sight: fold it.
  return plan.apps.length > COLLAPSE_AFTER
    ? `### Per app\n\n<details><summary>${plan.apps.length} apps, from their latest migration to the last one before the cutoff</summary>\n\n${table}\n\n</details>`
    : `### Per app\n\n${table}`
}

export function leftAloneSection(outcome: Outcome): string {
  const report = outcome.run?.report
  if (!report) return ''
  const parts: string[] = []
  if (report.orphans.length > 0) {
    parts.push(
      `> [!WARNING]\n> ${plural(report.orphans.length, 'row')} applied after the cutoff name migrations the current ` +
        `code no longer has, so Django cannot unapply them: ${report.orphans.map(code).join(', ')}. ` +
        'Their tables or columns, if any, stay until you remove them by hand; the earlier release may or may not expect them.'
    )
  }
  if (report.bookkeeping.length > 0) {
    parts.push(
      `> [!NOTE]\n> Left alone: ${report.bookkeeping.map(code).join(', ')}. Django recorded these squashed ` +
        'migrations after the cutoff, but everything they replace was applied before it.'
    )
  }
  return parts.join('\n\n')
}

export function batchesSection(outcome: Outcome): string {
  const batches = outcome.batches
  if (!batches || batches.length === 0 || !outcome.plan) return ''
  const cutoffRow =
    `<tr><td colspan="3"><b>✂ cutoff ${escapeHtml(shortTime(outcome.plan.cutoff.utc))} UTC</b>: ` +
    'everything below is rolled back</td></tr>'
  let body = ''
  let cutoffShown = false
  for (const b of batches) {
    if (!cutoffShown && b.side !== 'before') {
      body += cutoffRow
      cutoffShown = true
    }
    const when = b.first === b.last ? shortTime(b.first) : `${shortTime(b.first)} → ${shortTime(b.last)}`
    const apps = b.apps.length > 6 ? `${b.apps.slice(0, 6).join(', ')} and ${b.apps.length - 6} more` : b.apps.join(', ')
    const mark = b.side === 'split' ? '⚠️ split by the cutoff: ' : ''
    body += `<tr><td>${escapeHtml(when)}</td><td>${mark}${b.rows}</td><td>${escapeHtml(apps)}</td></tr>`
  }
  if (!cutoffShown) body += cutoffRow
  // A rehearsal records its cutoff seconds after the previous release's migrate: always inside one batch.
  const split = outcome.config?.rehearsal ? undefined : batches.find(b => b.side === 'split')
  const warning = split
    ? `> [!WARNING]\n> The cutoff falls inside a batch of migrations applied together between ${shortTime(split.first)} and ` +
      `${shortTime(split.last)} UTC, most likely by one deployment: the time given and the database disagree. ` +
      'Check the time (and its time zone) before rolling back.\n\n'
    : ''
  return (
    `### Deployments as the database saw them\n\n${warning}Migrations applied within ${BATCH_GAP_SECONDS / 60} minutes ` +
    'of each other are shown as one batch (one deployment).\n\n' +
    `<table><tr><th>Applied (UTC)</th><th>Migrations</th><th>Apps</th></tr>${body}</table>`
  )
}
