/** The database's schema as `pg_dump --schema-only` prints it, for expected-schema. */
import {dumpError, explainFailure, pgEnvironment, usablePgDump, type BackupOptions} from './backup.js'
import type {Database} from './config.js'
import {runProcess} from './executors/process.js'

export interface SchemaDump {
  text: string
  /** Which pg_dump made it. */
  pgDump: string
}

/**
 * Dumps the schema with the newest pg_dump on the runner, the connection only through PG* variables (never
 * the password in argv). `consequence` says what a failure means at this point of the run.
 */
export async function dumpSchema(database: Database, consequence: string, options: BackupOptions = {}): Promise<SchemaDump> {
  const env = pgEnvironment(database, 'django-migration-rollback schema check')
  const tool = await usablePgDump(options, env, 'expected-schema')
  const result = await runProcess([tool.path, '--schema-only', '--no-owner', '--no-privileges', '--no-password'], {env}).catch(
    (e: Error) => ({exitCode: -1, stdout: '', stderr: e.message})
  )
  if (result.exitCode !== 0) {
    throw await explainFailure(result.stderr, result.exitCode, tool.path, tool.version, database.where, '(stdout)', consequence)
  }
  if (!result.stdout.trim()) throw dumpError(`${tool.path} printed nothing for the schema. ${consequence}`)
  return {text: result.stdout, pgDump: tool.label}
}
