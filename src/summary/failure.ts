/** The failure section: the cause, what it means, the state reached and how to continue. */
import type {ScriptFault} from '../fault.js'
import {hazardRows} from '../fault.js'
import {describeLimit} from '../executors/timeout.js'
import {failureMessage, type Outcome} from '../outcome.js'
import {code, escapeHtml, factTable, plural} from './html.js'

const FAULT_WORDS: Record<ScriptFault['kind'], string> = {
  data: 'the data written since the deploy does not fit the earlier schema',
  'lock-timeout': 'waited longer than lock-timeout for a lock another session holds',
  irreversible: 'an irreversible step',
  timeout: 'stopped by command-timeout',
  error: 'an error'
}

/** What a command stopped by command-timeout means, when one was. */
function timeoutNote(outcome: Outcome): string {
  const failure = outcome.failure
  const stopped = failure?.kind === 'timeout' ? failure : outcome.run?.timedOut
  if (!stopped) return ''
  const limit = outcome.config?.commandTimeoutSeconds
  const what = stopped.message
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

function transactionWords(outcome: Outcome, fault: ScriptFault): string {
  const undone = fault.rolledBack.length
  if (outcome.config?.trial) return 'a trial always rolls its transaction back.'
  return undone
    ? `Django had undone ${plural(undone, 'migration')} (${fault.rolledBack.map(code).join(', ')}) inside the transaction before the failure, and all of it was rolled back: history, schema and data are exactly as before.`
    : 'the transaction was rolled back before anything was kept: history, schema and data are exactly as before.'
}

function blockersTable(outcome: Outcome): string {
  const blockers = outcome.run?.report.error?.blockers ?? []
  if (blockers.length === 0) {
    return '\n\nThe blocking session was not seen while waiting (it may have ended): look in `pg_stat_activity` for long transactions.'
  }
  const rows = blockers.map(
    b =>
      `<tr><td>${b.pid}</td><td>${escapeHtml(b.applicationName || '')}</td><td>${escapeHtml(b.user || '')}</td>` +
      `<td>${escapeHtml(b.state || '')}</td><td>${escapeHtml(b.transactionSince ?? '')}</td><td>${code(b.query || '')}</td></tr>`
  )
  return (
    '\n\nSessions holding the lock it waited for:\n\n<table><tr><th>pid</th><th>application_name</th><th>user</th><th>state</th>' +
    `<th>transaction since (UTC)</th><th>query</th></tr>${rows.join('')}</table>`
  )
}

function faultDetails(outcome: Outcome, fault: ScriptFault): string {
  const rows: [string, string][] = [['What', escapeHtml(FAULT_WORDS[fault.kind])]]
  if (fault.migration) rows.push(['Migration', code(fault.migration)])
  if (fault.operation) rows.push(['Operation', `undo ${escapeHtml(fault.operation)}`])
  rows.push([fault.sqlstate ? `PostgreSQL (${escapeHtml(fault.sqlstate)})` : 'Message', escapeHtml(fault.message)])
  if (fault.hazard && fault.hazard.rows !== null) rows.push(['Rows that cause it', escapeHtml(hazardRows(fault.hazard))])
  if (fault.statement) rows.push(['Statement', code(fault.statement.slice(0, 500))])
  rows.push(['Fix', escapeHtml(fault.fix)])
  return factTable(rows) + (fault.kind === 'lock-timeout' ? blockersTable(outcome) : '')
}

function stateReached(outcome: Outcome): string {
  const v = outcome.verification
  if (!v) return ''
  const lost = [...v.lostBefore.map(code), ...(v.lostBeforeUnnamed ? [`${v.lostBeforeUnnamed} more rows`] : [])]
  return (
    '### State reached\n\n' +
    `- Unapplied: ${v.unapplied.length ? v.unapplied.map(code).join(', ') : 'nothing'}\n` +
    `- Still applied at or after the cutoff: ${v.remaining.length ? v.remaining.map(r => code(`${r.app}.${r.name}`)).join(', ') : 'nothing'}` +
    (lost.length ? `\n- ⛔ Unapplied although applied before the cutoff: ${lost.join(', ')}` : '')
  )
}

const HOW_TO_CONTINUE =
  '### How to continue\n\n' +
  '1. Do not deploy the earlier release yet, and do not restart the current one.\n' +
  '2. Fix the cause above (for an irreversible step: add its reverse operation, or restore the affected data from a backup).\n' +
  '3. Run this workflow again with the same inputs: it re-reads `django_migrations` and unapplies only what is still ' +
  'applied at or after the cutoff.'

export function failureSection(outcome: Outcome): string {
  const failure = outcome.failure
  if (outcome.status !== 'failed' || !failure) return ''
  // A paragraph, not <pre>: GitHub does not wrap <pre>, and the cause is the one thing that must be read whole.
  const parts = [`<blockquote><p>${escapeHtml(failureMessage(failure)).replace(/\n+/g, '<br>')}</p></blockquote>`]
  const timeout = timeoutNote(outcome)
  if (timeout) parts.push(timeout)
  const fault = outcome.run?.fault
  if (fault) parts.push(faultDetails(outcome, fault))
  if (outcome.unchanged) {
    parts.push(
      fault
        ? `Nothing was changed: ${transactionWords(outcome, fault)} Fix the cause and run the workflow again with the same inputs.`
        : 'Nothing was unapplied. Fix the cause above and run the workflow again.'
    )
    return parts.join('\n\n')
  }
  const state = stateReached(outcome)
  if (state) parts.push(state)
  parts.push(HOW_TO_CONTINUE)
  return parts.join('\n\n')
}
