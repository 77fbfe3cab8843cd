/** quoteArgv against real POSIX shells: the shell must split the line back into exactly argv. */
import {describe, expect, test} from '@jest/globals'
import {spawnSync} from 'node:child_process'
import fs from 'node:fs'
import {quoteArg, quoteArgv} from '../../../src/executors/shell-quote.js'

const PY = '/usr/bin/python3'
const ECHO_ARGV = 'import json, sys; print(json.dumps(sys.argv[1:]))'
const NASTY = [
  'two words',
  "it's",
  'say "hi"',
  '$(touch /tmp/rollback-quote-pwned)',
  '`touch /tmp/rollback-quote-pwned`',
  'a; touch /tmp/rollback-quote-pwned',
  'a | cat',
  'a && b || c',
  'line one\nline two\n',
  '',
  ' ',
  '\t',
  '$HOME ${PATH} $1 $@ * ? [a] ~ ~root ! # & > < \\ end',
  "'",
  '"',
  "''",
  "'\\''",
  '\\',
  '--flag=value',
  'A=b',
  '-e',
  '%s',
  'é ✓ \u00a0'
]

describe('quoteArg', () => {
  test('plain words stay readable; everything else is single-quoted', () => {
    expect(quoteArg('manage.py')).toBe('manage.py')
    expect(quoteArg('features.0035_auto')).toBe('features.0035_auto')
    expect(quoteArg('/app/manage.py')).toBe('/app/manage.py')
    expect(quoteArg('')).toBe("''")
    expect(quoteArg('two words')).toBe("'two words'")
    expect(quoteArg("it's")).toBe("'it'\\''s'")
    expect(quoteArg('A=b')).toBe("'A=b'")
    expect(quoteArg('~')).toBe("'~'")
  })

  test('a NUL byte cannot be passed and is refused', () => {
    expect(() => quoteArg('a\0b')).toThrow(/NUL/)
    expect(() => quoteArgv([])).toThrow()
  })
})

for (const shell of ['/bin/sh', '/bin/bash', '/bin/dash'].filter(s => fs.existsSync(s))) {
  test(`${shell} -c splits quoteArgv(argv) back into argv, running nothing`, () => {
    fs.rmSync('/tmp/rollback-quote-pwned', {force: true})
    const line = quoteArgv([PY, '-c', ECHO_ARGV, ...NASTY])
    const result = spawnSync(shell, ['-c', line], {encoding: 'utf8'})
    expect(result.stderr).toBe('')
    expect(JSON.parse(result.stdout)).toEqual(NASTY)
    expect(fs.existsSync('/tmp/rollback-quote-pwned')).toBe(false)
  })
}
