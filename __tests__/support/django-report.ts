/**
 * The shapes the unit tests hand to the action's pure parts and to fake
 * targets: a Config as inputs.ts builds it, and a rollback script report with
 * every field at its empty value (each test sets what it is about).
 */
import type {Config} from '../../src/config.js'
import {parseCutoff} from '../../src/cutoff.js'
import {parseDatabaseUrl} from '../../src/database.js'
import {type DjangoReport, REQUEST_SEPARATOR, type ScriptRequest} from '../../src/django/commands.js'

export function testConfig(overrides: Partial<Config> = {}, databaseUrl = 'postgres://app@db.internal:5432/app'): Config {
  return {
    target: {kind: 'datetime', cutoff: parseCutoff('2024-05-01T11:00:00Z')},
    database: parseDatabaseUrl(databaseUrl),
    historySource: 'database',
    databaseAlias: 'default',
    backup: false,
    executor: {kind: 'local'},
    manageCommand: ['python', 'manage.py'],
    dryRun: false,
    trial: false,
    allowIrreversible: false,
    lockTimeoutSeconds: 10,
    noopReverse: [],
    rehearsal: false,
    strategy: 'exact',
    ...overrides
  }
}

export function djangoReport(overrides: Partial<DjangoReport> = {}): DjangoReport {
  return {
    version: 1,
    django: '5.2.17',
    orphans: [],
    bookkeeping: [],
    rowsOnly: [],
    plan: [],
    problems: [],
    blocked: false,
    commands: [],
    perApp: [],
    commandsExtra: [],
    commandsMissing: [],
    hasFlagsmithCommand: false,
    segments: [],
    hazards: [],
    losses: {tables: [], columns: []},
    noopReverse: [],
    executed: [],
    rolledBack: [],
    timings: {},
    trial: null,
    stoppedBefore: null,
    rowsDeleted: [],
    error: null,
    ...overrides
  }
}

/** The request a fake target received on stdin, behind the script. */
export const requestOf = (input: string | undefined): ScriptRequest =>
  JSON.parse((input ?? '').split(REQUEST_SEPARATOR)[1]) as ScriptRequest
