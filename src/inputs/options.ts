/** The inputs that shape how the rollback runs: limits, noop-reverse, expected-schema. */
import fs from 'node:fs'
import type {Config, StrategyName} from '../config.js'
import {inputError} from '../errors.js'
import {looksLikePgDump} from '../schema-compare.js'
import {strategyFor} from '../strategies/index.js'
import {type InputReader, workspacePath} from './read.js'

export const DEFAULT_LOCK_TIMEOUT_SECONDS = 10
const NUMBER = /^(\d+(\.\d*)?|\.\d+)$/
const MIGRATION_LABEL = /^[A-Za-z0-9_]+\.[A-Za-z0-9_]+$/

/** command-timeout: minutes (a positive number, fractions allowed), as seconds; empty: no limit. */
export function readCommandTimeout(read: InputReader): number | undefined {
  const text = read('command-timeout').trim()
  if (text === '') return undefined
  const minutes = Number(text)
  if (!NUMBER.test(text) || !Number.isFinite(minutes) || minutes <= 0) {
    throw inputError(
      `command-timeout ${JSON.stringify(text)} is not valid: expected the limit of each command in minutes, a positive number such as 30 or 0.5 (empty: no limit)`
    )
  }
  const seconds = minutes * 60
  if (seconds < 1) throw inputError(`command-timeout ${JSON.stringify(text)} is less than one second: expected minutes, e.g. 30`)
  if (seconds > 7 * 24 * 3600) throw inputError(`command-timeout ${JSON.stringify(text)} is more than a week: expected minutes, e.g. 30`)
  return seconds
}

/** lock-timeout: seconds (fractions allowed), 0 waits forever; default 10. */
export function readLockTimeout(read: InputReader): number {
  const text = read('lock-timeout').trim()
  if (text === '') return DEFAULT_LOCK_TIMEOUT_SECONDS
  const seconds = Number(text)
  if (!NUMBER.test(text) || !Number.isFinite(seconds) || seconds > 24 * 3600) {
    throw inputError(
      `lock-timeout ${JSON.stringify(text)} is not valid: expected the seconds the rollback may wait for a lock, ` +
        'a number such as 10 (0 waits forever, at most 86400)'
    )
  }
  if (seconds > 0 && seconds < 0.1) throw inputError(`lock-timeout ${JSON.stringify(text)} is under 0.1 seconds: expected seconds, e.g. 10`)
  return seconds
}

/** noop-reverse: `app.name`, one per line; blank lines ignored. */
export function readNoopReverse(read: InputReader, strategy: StrategyName): string[] {
  const names: string[] = []
  read('noop-reverse')
    .split(/\r?\n/)
    .forEach((raw, index) => {
      const line = raw.trim()
      if (line === '') return
      if (!MIGRATION_LABEL.test(line)) {
        throw inputError(
          `noop-reverse line ${index + 1} ${JSON.stringify(line)} is not valid: expected app_label.migration_name, ` +
            'one per line (e.g. axes.0007_alter_accessattempt_unique_together)'
        )
      }
      if (!names.includes(line)) names.push(line)
    })
  // Skipping an operation needs the plan run by the rollback script itself, not by plain migrate commands.
  if (names.length > 0 && !strategyFor(strategy).runsInScript) {
    throw inputError(
      `noop-reverse is set but strategy is ${strategy}: only strategy exact can skip operations (the other strategies run plain migrate commands)`
    )
  }
  return names
}

function readFileOrExplain(given: string, file: string): string {
  try {
    return fs.readFileSync(file, 'utf8')
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    const why =
      code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : code === 'EACCES' ? 'permission denied' : String(code)
    throw inputError(
      `expected-schema ${JSON.stringify(given)} cannot be read (${why}): expected the path, relative to the workspace, of ` +
        'pg_dump --schema-only output of the release being restored'
    )
  }
}

/** expected-schema: read now, so that a wrong path or file stops the run before anything changes. */
export function readExpectedSchema(read: InputReader, canDump: boolean): Config['expectedSchema'] {
  const given = read('expected-schema')
  if (given === '') return undefined
  const file = workspacePath(given)
  const text = readFileOrExplain(given, file)
  if (text.startsWith('PGDMP')) {
    throw inputError(
      `expected-schema ${JSON.stringify(given)} is a custom-format dump: expected plain SQL, as pg_dump --schema-only writes it without --format`
    )
  }
  if (!looksLikePgDump(text)) {
    throw inputError(
      `expected-schema ${JSON.stringify(given)} is not pg_dump --schema-only output (no "PostgreSQL database dump" header and no CREATE TABLE): ` +
        'expected the file pg_dump --schema-only --no-owner DATABASE_URL > FILE writes'
    )
  }
  if (!canDump) {
    throw inputError(
      'expected-schema is set but database-url is empty: the schema is dumped with pg_dump on the runner, which needs the database URL ' +
        '(history-source: container alone cannot check the schema)'
    )
  }
  return {path: file, text}
}
