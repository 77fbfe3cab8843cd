import * as core from '@actions/core'
import {utcWithOffset} from './cutoff.js'
import type {Outcome} from './outcome.js'
import {describeDifference} from './schema-compare.js'

export function setOutputs(outcome: Outcome): void {
  core.setOutput('status', outcome.status)
  if (outcome.plan) core.setOutput('cutoff', utcWithOffset(outcome.plan.cutoff.utc))
  const report = outcome.run?.report
  core.setOutput('plan', JSON.stringify(report ? [...report.plan.map(m => m.migration), ...report.rowsOnly] : []))
  core.setOutput('commands', JSON.stringify(outcome.run?.commands ?? []))
  if (outcome.backup) core.setOutput('backup-path', outcome.backup.path)
  core.setOutput('rolled-back', JSON.stringify(outcome.verification?.unapplied ?? []))
  core.setOutput('losses', JSON.stringify(report?.losses ?? {tables: [], columns: []}))
  core.setOutput(
    'hazards',
    JSON.stringify(
      (report?.hazards ?? []).map(({migration, operation, kind, table, columns, rows}) => ({
        migration,
        operation,
        kind,
        table,
        columns,
        rows
      }))
    )
  )
  core.setOutput('changed', String(!outcome.unchanged))
  const schema = outcome.schema
  core.setOutput('schema', !schema ? 'not-compared' : schema.comparison.equal ? 'matches' : 'differs')
  core.setOutput('schema-differences', JSON.stringify(schema?.comparison.differences.map(describeDifference) ?? []))
}
