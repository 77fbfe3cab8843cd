/** Reading one input as the runner passes it, and the checks every input reader shares. */
import * as core from '@actions/core'
import path from 'node:path'
import {inputError} from '../errors.js'

/** Reads one input as the runner passes it (INPUT_NAME, hyphens kept). */
export type InputReader = (name: string) => string

export const fromActionInputs: InputReader = name => core.getInput(name)

export function oneOf<T extends string>(name: string, value: string, allowed: readonly T[]): T {
  if ((allowed as readonly string[]).includes(value)) return value as T
  throw inputError(`${name} ${JSON.stringify(value)} is not valid: expected one of ${allowed.join(', ')}`)
}

export function booleanInput(read: InputReader, name: string, fallback: boolean): boolean {
  const value = read(name)
  if (value === '') return fallback
  if (/^(true|True|TRUE)$/.test(value)) return true
  if (/^(false|False|FALSE)$/.test(value)) return false
  throw inputError(`${name} ${JSON.stringify(value)} is not valid: expected true or false`)
}

export function required(read: InputReader, name: string, why: string): string {
  const value = read(name)
  if (value === '') throw inputError(`${name} is empty: ${why}`)
  return value
}

/** A path input, relative to the workspace as every path in a workflow is. */
export const workspacePath = (given: string): string => path.resolve(process.env.GITHUB_WORKSPACE ?? process.cwd(), given)

/** True when the runner's PG* variables name a database (then database-url may be empty). */
export const pgVariablesSet = (names = /^PG(HOST|DATABASE|SERVICE)$/): boolean => Object.keys(process.env).some(key => names.test(key))

/**
 * Splits a command such as `python "/srv/my app/manage.py"` into argv words,
 * with shell-style quotes. The words are run without a shell, so shell operators
 * would be passed on literally: refuse them rather than surprise.
 */
export function splitWords(name: string, value: string): string[] {
  const words: string[] = []
  let word = ''
  let inWord = false
  let quote: '"' | "'" | null = null
  for (let i = 0; i < value.length; i++) {
    const c = value[i]
    if (quote) {
      if (c === quote) quote = null
      else if (c === '\\' && quote === '"' && i + 1 < value.length && '"\\$`'.includes(value[i + 1])) word += value[++i]
      else word += c
    } else if (c === '"' || c === "'") {
      quote = c
      inWord = true
    } else if (c === '\\' && i + 1 < value.length) {
      word += value[++i]
      inWord = true
    } else if (/\s/.test(c)) {
      if (inWord) words.push(word)
      word = ''
      inWord = false
    } else if (';|&<>`$()'.includes(c) || (c === '#' && !inWord)) {
      throw inputError(
        `${name} ${JSON.stringify(value)} contains ${JSON.stringify(c)}: it is split into words and run without a shell, ` +
          `so shell syntax is not supported; quote the character if it is part of a word, or give the full path to manage.py`
      )
    } else {
      word += c
      inWord = true
    }
  }
  if (quote) throw inputError(`${name} ${JSON.stringify(value)} has an unclosed ${quote} quote`)
  if (inWord) words.push(word)
  return words
}
