/** expected-schema: the database's schema dumped now and compared with the release's, as one verdict. */
import * as core from '@actions/core'
import type {Config, Database} from './config.js'
import type {DjangoReport} from './django/commands.js'
import type {SchemaCheck} from './outcome.js'
import {compareSchemas, describeDifference, tablesNamedIn} from './schema-compare.js'
import {dumpSchema} from './schema-dump.js'

/**
 * `partial` (a dry run): the tables the plan's SQL names are left out, since the rollback has not changed
 * them yet; everything else must already match.
 */
export async function checkSchema(config: Config, report: DjangoReport, partial: boolean): Promise<SchemaCheck> {
  const expected = config.expectedSchema as NonNullable<Config['expectedSchema']>
  const consequence = partial
    ? 'Nothing was changed.'
    : 'The rollback itself is done (see the history below); only the schema check could not run.'
  // inputs.ts refuses expected-schema without a database the runner can dump.
  const dump = await dumpSchema(config.database as Database, consequence)
  const skip = partial ? tablesNamedIn(report.plan.flatMap(m => m.sql ?? [])) : new Set<string>()
  const comparison = compareSchemas(expected.text, dump.text, skip)
  core.info(
    comparison.equal
      ? `Schema matches ${expected.path} (${comparison.compared} objects compared)`
      : `Schema differs from ${expected.path}: ${comparison.differences.map(describeDifference).join('; ')}`
  )
  return {path: expected.path, comparison, pgDump: dump.pgDump, partial}
}

/** The error for a schema that differs, naming the first differences. */
export function schemaError(check: SchemaCheck): string {
  const d = check.comparison.differences
  const shown = d.slice(0, 5).map(describeDifference).join('; ')
  const more = d.length > 5 ? ` and ${d.length - 5} more` : ''
  return check.partial
    ? `the schema differs from expected-schema (${check.path}) outside what the plan changes, so the rolled-back schema would not match it either: ${shown}${more}`
    : `the history is rolled back, but the schema differs from expected-schema (${check.path}): ${shown}${more}. ` +
        'A hand-made change, a reverse that does not restore exactly, or a migration edited after release: fix the schema by hand (the diff is in the summary), then compare again'
}
