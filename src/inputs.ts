/**
 * Every input, read and checked once, before anything connects anywhere, into
 * one typed Config that the rest of the action trusts. Each error names the
 * input and the form expected; nothing has been touched when one is thrown.
 */
import type {Config, Database} from './config.js'
import {databaseFromEnvironment, parseDatabaseUrl} from './database.js'
import {checkDatabaseAlias, DEFAULT_DATABASE} from './django/commands.js'
import {inputError} from './errors.js'
import {readExecutor} from './inputs/executor.js'
import {readCommandTimeout, readExpectedSchema, readLockTimeout, readNoopReverse} from './inputs/options.js'
import {booleanInput, fromActionInputs, type InputReader, oneOf, pgVariablesSet, splitWords, workspacePath} from './inputs/read.js'
import {readTarget} from './inputs/target.js'
import {STRATEGY_NAMES, strategyFor} from './strategies/index.js'

export {DEFAULT_LOCK_TIMEOUT_SECONDS} from './inputs/options.js'
export {splitWords, type InputReader}

function readDatabase(read: InputReader, historySource: Config['historySource']): Database | undefined {
  const value = read('database-url')
  if (value !== '') return parseDatabaseUrl(value)
  // history-source container needs no database on the runner; backup and expected-schema may still use PG* variables.
  if (historySource === 'container') return pgVariablesSet() ? databaseFromEnvironment() : undefined
  if (!pgVariablesSet(/^PG(HOST|DATABASE|USER|PORT|PASSWORD|SERVICE)$/)) {
    throw inputError(
      'database-url is empty and no PG* environment variables are set: pass the application database as ' +
        'postgres://user:password@host:5432/name (from a secret), or set PGHOST, PGDATABASE, PGUSER, PGPASSWORD'
    )
  }
  return databaseFromEnvironment()
}

function readBackupPath(read: InputReader): string | undefined {
  const given = read('backup-path')
  if (given && (given.includes('\0') || given.endsWith('/'))) {
    throw inputError(`backup-path ${JSON.stringify(given)} is not valid: expected a file path such as backups/flagsmith.dump`)
  }
  return given ? workspacePath(given) : undefined
}

/** Reads and checks every input before anything connects anywhere. */
export function readInputs(read: InputReader = fromActionInputs): Config {
  const target = readTarget(read)
  const historySource = oneOf('history-source', read('history-source') || 'database', ['database', 'container'] as const)
  const database = readDatabase(read, historySource)
  // pg_dump runs on the runner: it needs a URL, or PG* variables that name the database.
  const canDump = Boolean(database?.url) || (database !== undefined && pgVariablesSet())
  const databaseAlias = read('database-alias') || DEFAULT_DATABASE
  const aliasProblem = checkDatabaseAlias(databaseAlias)
  if (aliasProblem) throw inputError(aliasProblem)
  const executor = readExecutor(read)
  const strategy = oneOf('strategy', read('strategy') || 'exact', STRATEGY_NAMES)
  const strategyProblem = strategyFor(strategy).inputProblem({databaseAlias})
  if (strategyProblem) throw inputError(strategyProblem)
  const manageCommand = splitWords('manage-command', read('manage-command') || 'python manage.py')
  if (manageCommand.length === 0) throw inputError('manage-command is empty: expected e.g. python manage.py')

  const backup = booleanInput(read, 'backup', false)
  if (backup && !canDump) {
    throw inputError(
      'backup is true but database-url is empty: pg_dump runs on the runner and needs the database URL ' +
        '(history-source: container alone cannot back up)'
    )
  }
  const backupPath = readBackupPath(read)
  const dryRun = booleanInput(read, 'dry-run', false)
  const trial = booleanInput(read, 'trial', false)
  if (trial && !dryRun) {
    throw inputError(
      'trial is true but dry-run is false: a trial runs the plan in a transaction and rolls it back, so it goes with ' +
        'dry-run: true (a real run is all-or-nothing by itself)'
    )
  }

  return {
    target,
    database,
    backup,
    backupPath,
    historySource,
    databaseAlias,
    executor,
    manageCommand,
    dryRun,
    trial,
    allowIrreversible: booleanInput(read, 'allow-irreversible', false),
    lockTimeoutSeconds: readLockTimeout(read),
    noopReverse: readNoopReverse(read, strategy),
    expectedSchema: readExpectedSchema(read, canDump),
    rehearsal: booleanInput(read, 'rehearsal', false),
    strategy,
    commandTimeoutSeconds: readCommandTimeout(read)
  }
}
