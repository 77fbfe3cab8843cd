/** What the rollback does to the data: skipped operations, the trial, hazards, losses, the SQL, the schema, the migration list. */
import type {PlannedMigration} from '../django/commands.js'
import {hazardRows} from '../fault.js'
import type {Outcome} from '../outcome.js'
import {key} from '../plan.js'
import {differenceText} from '../schema-compare.js'
import {code, COLLAPSE_AFTER, escapeHtml, plural, pre, shortTime} from './html.js'

const DETAILS_BUDGET = 700 * 1024

/** Undoing these drops a table or a column: the data in it is gone unless restored from a backup. */
export function losesData(description: string): boolean {
  return /^Undo (Create model|Add field)\b/.test(description)
}

export function trialSection(outcome: Outcome): string {
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

export function noopReverseSection(outcome: Outcome): string {
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

export function lossesSection(outcome: Outcome): string {
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

export function hazardsSection(outcome: Outcome): string {
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

export function sqlSection(outcome: Outcome): string {
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
export function schemaSection(outcome: Outcome): string {
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

export function migrationList(outcome: Outcome): string {
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
