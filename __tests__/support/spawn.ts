/**
 * One clear message when a helper's process cannot be started or fails: what
 * ran (program and arguments), the spawn error or the exit status / signal, the
 * tail of its stderr, and, for a program the set-up provides (the venvs'
 * pythons, PostgreSQL's binaries, OpenSSH, kubectl), what to run first.
 *
 * - runSync(program, args, options): spawnSync to the end; throws that message
 *   on a spawn error or a non-zero status, else returns stdout and stderr.
 * - failureMessage(program, args, outcome): the message alone, for the helpers
 *   that start processes asynchronously (undefined when nothing failed).
 */
import {spawnSync, type SpawnSyncOptions} from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import {setupHint, which} from './setup-check.mjs'

export {PG_BIN, RUN_SETUP, setupHint} from './setup-check.mjs'

/** How a process ended, as spawnSync returns it or as a helper collected it from spawn(). */
export interface Outcome {
  error?: Error
  status?: number | null
  signal?: NodeJS.Signals | null
  stdout?: string | null
  stderr?: string | null
}

export interface Described {
  /** What the message starts with, e.g. "flagsmith_project.py v2.229.0"; default: the program's file name. */
  what?: string
  /** The working directory it ran in: named when it is what is missing. */
  cwd?: string
}

const TAIL_LINES = 30
const ARG_CHARS = 120

function quote(arg: string): string {
  const short = arg.length > ARG_CHARS ? `${arg.slice(0, ARG_CHARS)}... (${arg.length} chars)` : arg
  return /^[\w@%+=:,./-]+$/.test(short) ? short : `'${short.replace(/'/g, `'\\''`)}'`
}

/** The last TAIL_LINES lines of a stream, indented, with a header; '' when it is empty. */
function tail(name: string, text: string | null | undefined): string {
  const lines = (text ?? '').trimEnd().split('\n')
  if (!lines.join('').trim()) return ''
  const shownLines = lines.slice(-TAIL_LINES)
  const header = lines.length > TAIL_LINES ? `${name} (last ${TAIL_LINES} of ${lines.length} lines)` : name
  return `\n  ${header}:\n${shownLines.map(l => `    ${l}`).join('\n')}`
}

/** Why it failed, with the set-up hint where one applies. */
function reason(program: string, outcome: Outcome, described: Described): string {
  const hint = setupHint(program)
  if (outcome.error) {
    const code = (outcome.error as NodeJS.ErrnoException).code
    if (code === 'ENOENT' && which(program)) {
      // The program is there: spawn says ENOENT for a missing working directory too.
      const cwd = described.cwd && !fs.existsSync(described.cwd) ? `: the working directory ${described.cwd} does not exist` : ''
      return `${outcome.error.message}${cwd}`
    }
    return `${outcome.error.message}${hint && (code === 'ENOENT' || code === 'EACCES') ? `: ${hint}` : ''}`
  }
  const how = outcome.signal ? `killed by ${outcome.signal}` : `exit status ${outcome.status}`
  // A venv that exists without its packages fails with status 1, not a spawn error.
  const noModule = hint && /No module named '?(django|psycopg2)/.test(outcome.stderr ?? '')
  return noModule ? `${how}: ${hint}` : how
}

/** The message for a process that could not be started or did not exit 0; undefined when it did. */
export function failureMessage(program: string, args: readonly string[], outcome: Outcome, described: Described = {}): string | undefined {
  if (!outcome.error && outcome.status === 0) return undefined
  const what = described.what ?? path.basename(program)
  const command = [program, ...args].map(quote).join(' ')
  // stdout only when stderr says nothing (some programs report errors there).
  const output = tail('stderr', outcome.stderr) || tail('stdout', outcome.stdout)
  return `${what} failed: ${reason(program, outcome, described)}\n  command: ${command}${output}`
}

export type RunOptions = Omit<SpawnSyncOptions, 'encoding'> & Pick<Described, 'what'>

/** Runs program to the end with spawnSync; throws failureMessage's message unless it exited 0. */
export function runSync(program: string, args: readonly string[], options: RunOptions = {}): {stdout: string; stderr: string} {
  const {what, ...spawnOptions} = options
  const result = spawnSync(program, args, {...spawnOptions, encoding: 'utf8'})
  const message = failureMessage(program, args, result, {what, cwd: options.cwd?.toString()})
  if (message) throw new Error(message, {cause: result.error})
  return {stdout: result.stdout, stderr: result.stderr}
}
