/**
 * The job summary, for a person at the worst moment of their week: the outcome
 * first, then the next step, then the evidence. Text from the database or from
 * remote output is HTML-escaped; the whole stays under the 1 MiB the runner keeps.
 */
import * as core from '@actions/core'
import {BATCH_GAP_SECONDS} from './batches.js'
import type {PlannedMigration} from './django/commands.js'
import {remainingKeys, type Outcome} from './outcome.js'
import {displayCommand, migrateArgv, withDatabase} from './django/commands.js'
import {describeLimit} from './executors/timeout.js'
import {type Failure, hazardRows} from './failure.js'
import {differenceText} from './schema-compare.js'
import {key} from './plan.js'

export const SUMMARY_LIMIT = 1024 * 1024
/** Lists longer than this are folded into <details>. */
const COLLAPSE_AFTER = 10
const DETAILS_BUDGET = 700 * 1024

/** HTML-escapes, and entity-encodes the characters Markdown would act on around inline HTML (not `_`: names are full of it, and GFM ignores it inside words). */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"'|`*[\]\\]/g, c => `&#${c.charCodeAt(0)};`)
}

const code = (text: string): string => `<code>${escapeHtml(text)}</code>`
// A blank line would end the HTML block and let Markdown loose on the rest of the text.
const pre = (lines: string[]): string => `<pre>${escapeHtml(lines.join('\n').replace(/\n\s*\n/g, '\n'))}</pre>`
const shortTime = (utc: string): string => utc.replace('T', ' ').replace(/(\.\d+)?Z$/, '')
const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`

/** Undoing these drops a table or a column: the data in it is gone unless restored from a backup. */
export function losesData(description: string): boolean {
  return /^Undo (Create model|Add field)\b/.test(description)
}

const NEXT_STEP =
  '**Next: deploy the earlier release now.** The current release re-applies its migrations whenever one of its ' +
  "containers starts (Flagsmith's image runs `migrate` on start), so do not restart, scale or redeploy the current " +
  'release before the earlier one is running.'

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
      const e = outcome.evidence
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
    case 'failed': {
      if (outcome.schema && !outcome.schema.comparison.equal && !outcome.schema.partial) {
        return `## ❌ Rolled back ${plural(v?.unapplied.length ?? planned, 'migration')}, but the schema differs from expected-schema (${plural(outcome.schema.comparison.differences.length, 'difference')})`
      }
      const failure = outcome.run?.failure
      if (failure && outcome.unchanged) {
        const at = failure.migration ? ` at ${failure.migration}` : ''
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
  }
}

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

function facts(outcome: Outcome): string {
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
  return `<table>${rows.map(([k, v]) => `<tr><th align="left">${k}</th><td>${v}</td></tr>`).join('')}</table>`
}

function perAppTable(outcome: Outcome): string {
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

function commandsSection(outcome: Outcome): string {
  const run = outcome.run
  const config = outcome.config
  if (!run || !config) return ''
  const parts: string[] = []
  const verb = outcome.status === 'planned' || outcome.unchanged ? 'Would run' : 'Ran'
  if (config.strategy === 'exact' && run.commands.length > 0) {
    parts.push(
      `### ${verb}\n\nOne Django process in the target: ${code(`${config.manageCommand.join(' ')} shell`)} with rollback.py ` +
        `and the plan on its standard input (${plural(run.report.plan.length, 'migration')}).\n\n` +
        `<details><summary>The exact command line</summary>\n\n${pre(run.commands)}\n\n</details>`
    )
  } else if (run.commands.length > 0) {
    parts.push(`### ${verb}\n\n${pre(run.commands)}`)
  }
  if (config.strategy === 'exact') {
    if (config.strategy === 'exact' && run.equivalent && run.equivalent.length > 0) {
      const lines = run.equivalent.length
      parts.push(
        (lines > COLLAPSE_AFTER
          ? `<details><summary>The same rollback by hand: ${lines} <code>migrate APP TARGET</code> commands (checked: they unapply exactly the same migrations)</summary>\n\n`
          : 'The same rollback by hand, as `migrate APP TARGET` commands (checked: they unapply exactly the same migrations):\n\n') +
          pre(
            run.equivalent.map(c => displayCommand(withDatabase(migrateArgv(config.manageCommand, c.app, c.target), config.databaseAlias)))
          ) +
          (lines > COLLAPSE_AFTER ? '\n\n</details>' : '')
      )
    } else if (run.report.plan.length > 0) {
      const why = [
        ...run.report.commandsExtra.map(m => `would also unapply ${m}, applied before the cutoff`),
        ...run.report.commandsMissing.map(m => `would leave ${m} applied`),
        ...run.report.commands.filter(c => c.error).map(c => `migrate ${c.app} ${c.target}: ${c.error}`)
      ]
      parts.push(
        'No set of `migrate APP TARGET` commands does this rollback exactly (a branch point, a squash or an ' +
          'ambiguous name: see the README, "Why not the documented procedure"). The per-app commands ' +
          (why.length ? `${escapeHtml(why.join('; '))}.` : 'differ.')
      )
    }
  }
  return parts.join('\n\n')
}

function leftAloneSection(outcome: Outcome): string {
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

function batchesSection(outcome: Outcome): string {
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

function migrationList(outcome: Outcome): string {
  const report = outcome.run?.report
  const plan = outcome.plan
  if (!report || !plan || report.plan.length === 0) return ''
  const applied = new Map(plan.after.map(r => [key(r), r.applied]))
  const lossy = (m: PlannedMigration): boolean => m.operations.some(o => losesData(o.description))
  const drop = report.plan.filter(lossy).length
  const title =
    `${plural(report.plan.length, 'migration')} in the order they ${outcome.status === 'rolled-back' ? 'were' : 'are to be'} ` +
    `unapplied${drop ? `; ⚠️ ${drop} drop tables or columns (data in them is lost)` : ''}`
  let body = ''
  let shown = 0
  for (const m of report.plan) {
    const ops = m.operations
      .map(o => {
        const mark = o.irreversible ? '⛔ ' : losesData(o.description) ? '⚠️ ' : ''
        return `${mark}${escapeHtml(o.description)}`
      })
      .join('<br>')
    const when = shortTime(applied.get(m.migration) ?? '')
    const row = `<tr><td>${escapeHtml(m.migration)}</td><td>${escapeHtml(when)}</td><td>${ops}</td></tr>`
    if (body.length + row.length > DETAILS_BUDGET) break
    body += row
    shown++
  }
  const cut = shown < report.plan.length ? `\n\n${report.plan.length - shown} more not shown (summary size limit).` : ''
  return (
    `<details><summary>${title}</summary>\n\n<table><tr><th>Migration</th><th>Applied (UTC)</th>` +
    `<th>Operations Django reported</th></tr>${body}</table>${cut}\n\n</details>`
  )
}

/** What a command stopped by command-timeout means, when one was. */
function timeoutNote(outcome: Outcome): string {
  const stopped = outcome.run?.timedOut
  if (!stopped && !/\(command-timeout\)/.test(outcome.error ?? '')) return ''
  const limit = outcome.config?.commandTimeoutSeconds
  const what = stopped
    ? escapeHtml(stopped.message)
    : `A command was stopped by command-timeout${limit ? ` (${escapeHtml(describeLimit(limit))})` : ''}`
  return (
    `⏱ **Stopped by command-timeout.** ${what}. It was ended in the target, ` +
    'and `django_migrations` was read again afterwards, so the state below is what the database holds now. ' +
    'With strategy exact, the transaction it stopped in was rolled back: only parts before an atomic = False migration ' +
    'stay done. With the other strategies, the migration interrupted half way was rolled back by its transaction. ' +
    'If a data migration needs longer, raise command-timeout; if it was waiting, look for a lock held by the application ' +
    '(`pg_stat_activity`, `pg_locks`). Then run again with the same inputs.'
  )
}

function failureSection(outcome: Outcome): string {
  if (outcome.status !== 'failed') return ''
  // A paragraph, not <pre>: GitHub does not wrap <pre>, and the cause is the one thing that must be read whole.
  const cause = escapeHtml(outcome.error ?? 'unknown error').replace(/\n+/g, '<br>')
  const parts = [`<blockquote><p>${cause}</p></blockquote>`]
  const timeout = timeoutNote(outcome)
  if (timeout) parts.push(timeout)
  const failure = outcome.run?.failure
  if (failure) parts.push(failureDetails(outcome, failure))
  const v = outcome.verification
  if (outcome.unchanged) {
    parts.push(
      failure
        ? `Nothing was changed: ${transactionWords(outcome, failure)} Fix the cause and run the workflow again with the same inputs.`
        : 'Nothing was unapplied. Fix the cause above and run the workflow again.'
    )
    return parts.join('\n\n')
  }
  if (v) {
    parts.push(
      '### State reached\n\n' +
        `- Unapplied: ${v.unapplied.length ? v.unapplied.map(code).join(', ') : 'nothing'}\n` +
        `- Still applied at or after the cutoff: ${v.remaining.length ? remainingKeys(v.remaining).map(code).join(', ') : 'nothing'}` +
        (v.lostBefore.length || v.lostBeforeUnnamed
          ? `\n- ⛔ Unapplied although applied before the cutoff: ${[...v.lostBefore.map(code), ...(v.lostBeforeUnnamed ? [`${v.lostBeforeUnnamed} more rows`] : [])].join(', ')}`
          : '')
    )
  }
  parts.push(
    '### How to continue\n\n' +
      '1. Do not deploy the earlier release yet, and do not restart the current one.\n' +
      '2. Fix the cause above (for an irreversible step: add its reverse operation, or restore the affected data from a backup).\n' +
      '3. Run this workflow again with the same inputs: it re-reads `django_migrations` and unapplies only what is still ' +
      'applied at or after the cutoff.'
  )
  return parts.join('\n\n')
}

const FAULT_WORDS: Record<Failure['kind'], string> = {
  data: 'the data written since the deploy does not fit the earlier schema',
  'lock-timeout': 'waited longer than lock-timeout for a lock another session holds',
  irreversible: 'an irreversible step',
  timeout: 'stopped by command-timeout',
  error: 'an error'
}

function transactionWords(outcome: Outcome, failure: Failure): string {
  const undone = failure.rolledBack.length
  if (outcome.config?.trial) return 'a trial always rolls its transaction back.'
  return undone
    ? `Django had undone ${plural(undone, 'migration')} (${failure.rolledBack.map(code).join(', ')}) inside the transaction before the failure, and all of it was rolled back: history, schema and data are exactly as before.`
    : 'the transaction was rolled back before anything was kept: history, schema and data are exactly as before.'
}

function failureDetails(outcome: Outcome, failure: Failure): string {
  const rows: [string, string][] = [['What', escapeHtml(FAULT_WORDS[failure.kind])]]
  if (failure.migration) rows.push(['Migration', code(failure.migration)])
  if (failure.operation) rows.push(['Operation', `undo ${escapeHtml(failure.operation)}`])
  rows.push([failure.sqlstate ? `PostgreSQL (${escapeHtml(failure.sqlstate)})` : 'Message', escapeHtml(failure.message)])
  if (failure.hazard && failure.hazard.rows !== null) rows.push(['Rows that cause it', escapeHtml(hazardRows(failure.hazard))])
  if (failure.statement) rows.push(['Statement', code(failure.statement.slice(0, 500))])
  rows.push(['Fix', escapeHtml(failure.fix)])
  let text = `<table>${rows.map(([k, v]) => `<tr><th align="left">${k}</th><td>${v}</td></tr>`).join('')}</table>`
  const blockers = outcome.run?.report.error?.blockers ?? []
  if (failure.kind === 'lock-timeout') {
    text += blockers.length
      ? '\n\nSessions holding the lock it waited for:\n\n<table><tr><th>pid</th><th>application_name</th><th>user</th><th>state</th>' +
        '<th>transaction since (UTC)</th><th>query</th></tr>' +
        blockers
          .map(
            b =>
              `<tr><td>${b.pid}</td><td>${escapeHtml(b.applicationName || '')}</td><td>${escapeHtml(b.user || '')}</td>` +
              `<td>${escapeHtml(b.state || '')}</td><td>${escapeHtml(b.transactionSince ?? '')}</td><td>${code(b.query || '')}</td></tr>`
          )
          .join('') +
        '</table>'
      : '\n\nThe blocking session was not seen while waiting (it may have ended): look in `pg_stat_activity` for long transactions.'
  }
  return text
}

/** Which parts of the plan are all-or-nothing, said before anything runs. */
function segmentsSection(outcome: Outcome): string {
  const report = outcome.run?.report
  const config = outcome.config
  if (!report || !config || report.plan.length === 0) return ''
  if (config.strategy !== 'exact') {
    return (
      `**Not all-or-nothing:** strategy ${config.strategy} runs plain \`migrate\` commands, which commit each migration ` +
      'as they go; a failure part-way leaves a half-done rollback. strategy: exact runs the plan in one transaction.'
    )
  }
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

function trialSection(outcome: Outcome): string {
  const trial = outcome.run?.report.trial
  if (!trial) return ''
  const timings = outcome.run?.report.timings ?? {}
  const parts: string[] = []
  if (trial.tried.length > 0) {
    const total = trial.tried.reduce((sum, m) => sum + (timings[m] ?? 0), 0)
    parts.push(
      `**Trial:** ${plural(trial.tried.length, 'migration')} unapplied on the live data in ${total.toFixed(2)} s, then rolled back.\n\n` +
        `<details><summary>Time per migration</summary>\n\n<table><tr><th>Migration</th><th>Seconds</th></tr>` +
        trial.tried.map(m => `<tr><td>${code(m)}</td><td>${(timings[m] ?? 0).toFixed(3)}</td></tr>`).join('') +
        '</table>\n\n</details>'
    )
  }
  if (trial.untried.length > 0) {
    parts.push(
      `> [!NOTE]\n> Not tried: ${plural(trial.untried.length, 'migration')} from ${code(trial.notAtomic ?? trial.untried[0])} on, ` +
        "which has `atomic = False` and cannot run inside the trial's transaction."
    )
  }
  return parts.join('\n\n')
}

function noopReverseSection(outcome: Outcome): string {
  const entries = (outcome.run?.report.noopReverse ?? []).filter(e => e.operations.length > 0)
  if (entries.length === 0) return ''
  const verb = outcome.status === 'rolled-back' ? 'were skipped' : 'are to be skipped'
  return (
    `> [!WARNING]\n> **noop-reverse:** these irreversible operations ${verb} (treated as doing nothing) when unapplying; ` +
    'whatever they changed in the data stays as it is:\n' +
    entries.map(e => `> - ${code(e.migration)}: ${e.operations.map(o => escapeHtml(o)).join('; ')}`).join('\n')
  )
}

const TABLE_ROWS = 200

/** At most TABLE_ROWS table rows; the whole list is in the named output. */
function capped(rows: string[], output: string): string {
  if (rows.length <= TABLE_ROWS) return rows.join('')
  return `${rows.slice(0, TABLE_ROWS).join('')}<tr><td colspan="3">${rows.length - TABLE_ROWS} more: see the ${output} output</td></tr>`
}

const about = (n: number | null, exact: boolean): string =>
  n === null ? 'unknown' : `${exact ? '' : 'about '}${n.toLocaleString('en-US')}`

function lossesSection(outcome: Outcome): string {
  const losses = outcome.run?.report.losses
  if (!losses || (losses.tables.length === 0 && losses.columns.length === 0)) return ''
  const rows = [
    ...losses.tables.map(
      t => `<tr><td>${code(t.migration)}</td><td>table ${code(t.table)}</td><td>${about(t.rows, t.exact)} rows</td></tr>`
    ),
    ...losses.columns.map(
      c =>
        `<tr><td>${code(c.migration)}</td><td>column ${code(`${c.table}.${c.column}`)}</td><td>${about(c.values, c.exact)} values (not NULL)</td></tr>`
    )
  ]
  const verb = outcome.status === 'rolled-back' ? 'were dropped' : 'would be dropped'
  const body = `<table><tr><th>Migration</th><th>Dropped</th><th>Data in it now</th></tr>${capped(rows, 'losses')}</table>`
  return (
    `### What is lost\n\nThese ${verb} with the data in them, counted before the run ("about": the planner's estimate, for big tables). ` +
    `Keep a backup (input backup) if any of it matters.\n\n${rows.length > COLLAPSE_AFTER ? `<details><summary>${rows.length} tables and columns</summary>\n\n${body}\n\n</details>` : body}`
  )
}

function hazardsSection(outcome: Outcome): string {
  const hazards = outcome.run?.report.hazards ?? []
  const rehearsal = outcome.config?.rehearsal ?? false
  if (hazards.length === 0) return ''
  const rows = hazards.map(h => {
    const count = h.rows === null ? 'not counted (big table: a trial checks it)' : h.rows === 0 ? '0: fine now' : `⛔ ${hazardRows(h)}`
    return `<tr><td>${code(h.migration)}</td><td>${escapeHtml(h.detail)}</td><td>${escapeHtml(count)}</td></tr>`
  })
  const failing = hazards.filter(h => (h.rows ?? 0) > 0).length
  return (
    `### Reverse steps that can fail on ${rehearsal ? 'production ' : ''}data\n\n${failing ? `⛔ ${plural(failing, 'step')} would fail on the rows there now. ` : ''}` +
    (rehearsal
      ? 'Counted on the rehearsal database, not on production: each step listed fails there if rows written since the deploy break the old constraint. Ask for a reverse that copes (or a data fix in it) before merging.'
      : 'Counted before the run.') +
    '\n\n<table><tr><th>Migration</th><th>Reverse step</th><th>Rows that make it fail</th></tr>' +
    `${capped(rows, 'hazards')}</table>`
  )
}

const SQL_BUDGET = 150 * 1024
const SQL_LINES_PER_MIGRATION = 60

function sqlSection(outcome: Outcome): string {
  const plan = outcome.run?.report.plan ?? []
  if (!plan.some(m => m.sql)) return ''
  let body = ''
  let shown = 0
  for (const m of plan) {
    const lines = m.sql ?? []
    const kept =
      lines.length > SQL_LINES_PER_MIGRATION
        ? [...lines.slice(0, SQL_LINES_PER_MIGRATION), `-- ... ${lines.length - SQL_LINES_PER_MIGRATION} more lines`]
        : lines
    const block = `-- ${m.migration}${m.atomic === false ? ' (atomic = False)' : ''}\n${kept.join('\n')}\n`
    if (body.length + block.length > SQL_BUDGET) break
    body += `${block}\n`
    shown++
  }
  const cut = shown < plan.length ? `\n\n${plan.length - shown} more migrations not shown (summary size limit).` : ''
  return `<details><summary>The SQL of the backwards plan, per migration (as sqlmigrate --backwards prints it)</summary>\n\n${pre(body.trimEnd().split('\n'))}${cut}\n\n</details>`
}

/** expected-schema's verdict, with the differences named and the diff folded. */
function schemaSection(outcome: Outcome): string {
  const check = outcome.schema
  if (!check) return ''
  const c = check.comparison
  const file = code(check.path)
  const skipped = c.skippedTables.length
    ? ` Not compared yet, since the rollback changes them: ${c.skippedTables.map(t => code(t)).join(', ')}.`
    : ''
  if (c.equal) {
    return `### Schema

✅ ${check.partial ? 'Everything the plan does not change matches' : 'The schema matches'} ${file}: ${plural(c.compared, 'object')} compared (${escapeHtml(check.pgDump)}).${skipped}`
  }
  const shown = c.differences.slice(0, 50)
  const list = shown.map(d => `- ${code(d.object)}: ${escapeHtml(d.change)}`).join('\n')
  const more = c.differences.length > shown.length ? `\n- and ${c.differences.length - shown.length} more (output schema-differences)` : ''
  const diff = differenceText(c.differences)
  const folded = diff.length > SQL_BUDGET ? `${diff.slice(0, SQL_BUDGET)}\n... (cut: summary size limit)` : diff
  return (
    `### Schema

⛔ The schema differs from ${file} (${plural(c.differences.length, 'difference')}, ${plural(c.compared, 'object')} compared):

${list}${more}

` +
    `<details><summary>The differences: - expected, + the database</summary>

${pre(folded.split('\n'))}

</details>${
      skipped
        ? `

${skipped.trim()}`
        : ''
    }`
  )
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

export function renderSummary(outcome: Outcome): string {
  const answer = rehearsalAnswer(outcome)
  const sections = [
    answer,
    answer ? headline(outcome).replace(/^## /, '**') + '**' : headline(outcome),
    // A rehearsal's database is thrown away: there is nothing to deploy next.
    outcome.status === 'rolled-back' && !outcome.config?.rehearsal ? NEXT_STEP : '',
    outcome.status === 'planned'
      ? 'Django checked the plan in the target: every step goes backwards, nothing applied before the cutoff is touched' +
        (outcome.config?.allowIrreversible
          ? '.'
          : outcome.config?.noopReverse.length
            ? ', and no step is irreversible except those skipped by noop-reverse.'
            : ', and no step is irreversible.') +
        ' Run again with dry-run: false to do it.'
      : '',
    failureSection(outcome),
    schemaSection(outcome),
    noopReverseSection(outcome),
    trialSection(outcome),
    segmentsSection(outcome),
    hazardsSection(outcome),
    lossesSection(outcome),
    facts(outcome),
    perAppTable(outcome),
    batchesSection(outcome),
    leftAloneSection(outcome),
    commandsSection(outcome),
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
