/**
 * Quoting for the POSIX shell that runs an SSH command on the remote host.
 *
 * ssh joins its arguments into one string and the remote login shell parses it
 * again, so every argv word must reach that shell as exactly one word with no
 * expansion. A single-quoted string is taken literally by every POSIX shell
 * (sh, dash, bash, ksh, zsh), newlines included; the only character it cannot
 * hold is the single quote itself, written as '\'' (end quote, escaped quote,
 * reopen quote).
 */

/** Words made only of these characters mean the same quoted or not (no `=`: a first word `A=b` would be an assignment; no `~`). */
const SAFE_WORD = /^[A-Za-z0-9_\-./:@%+,]+$/

/** One argv word as POSIX shell text. */
export function quoteArg(arg: string): string {
  if (typeof arg !== 'string') throw new TypeError(`argv words must be strings, got ${typeof arg}`)
  if (arg.includes('\0')) throw new Error('an argument contains a NUL byte, which no command line can carry')
  if (SAFE_WORD.test(arg)) return arg
  return `'${arg.replace(/'/g, `'\\''`)}'`
}

/** argv as one POSIX shell command line that the remote shell splits back into exactly argv. */
export function quoteArgv(argv: readonly string[]): string {
  if (argv.length === 0) throw new Error('quoteArgv needs at least one word')
  return argv.map(quoteArg).join(' ')
}
