/**
 * The Python interpreters scripts/setup-test-env.sh prepares: .venv (Django 5.2
 * and psycopg2 from pip) and .venv-django32 (Debian's Django 3.2 and Debian's
 * packages of third-party apps, through --system-site-packages).
 *
 * Each function here throws, naming the path and saying to run `npm run setup`,
 * when the interpreter is missing: callers get that instead of a spawn ENOENT
 * (or a test that spawned nothing) further on.
 */
import {isExecutable, REPO_ROOT as ROOT, setupHint, VENV32_PYTHON, VENV_PYTHON} from './setup-check.mjs'
import {runSync} from './spawn.js'

export const REPO_ROOT = ROOT

const checked = new Set<string>()
/** bin, once it is an executable file (a bare command name is left to PATH). */
function present(bin: string, variable: string): string {
  if (checked.has(bin) || !bin.includes('/')) return bin
  if (!isExecutable(bin)) {
    const from = process.env[variable] === bin ? ` (from ${variable})` : ''
    throw new Error(`the test Python ${bin}${from} is missing: ${setupHint(bin)}`)
  }
  checked.add(bin)
  return bin
}

export function pythonBin(): string {
  return present(process.env.ROLLBACK_TEST_PYTHON ?? VENV_PYTHON, 'ROLLBACK_TEST_PYTHON')
}

/** Django 3.2, the oldest version the rollback script supports. */
export function pythonBin32(): string {
  return present(process.env.ROLLBACK_TEST_PYTHON32 ?? VENV32_PYTHON, 'ROLLBACK_TEST_PYTHON32')
}

export interface DjangoPython {
  /** "Django 5.2.17": the version the interpreter really imports, so a wrong venv shows in the test names. */
  label: string
  bin: string
  /** django.get_version(), e.g. "3.2.25". */
  version: string
}

/**
 * Both interpreters, for `describe.each(djangoPythons())('$label', ...)`. Asks
 * each one for its Django version while jest collects the tests: a missing venv
 * fails the file there, loudly, instead of skipping anything.
 */
export function djangoPythons(): DjangoPython[] {
  return [pythonBin(), pythonBin32()].map(bin => {
    const version = runSync(bin, ['-c', 'import django; print(django.get_version())'], {what: `${bin} -c 'import django'`}).stdout.trim()
    return {label: `Django ${version}`, bin, version}
  })
}

/**
 * Inside a describe block: makes pythonBin() (and so manage(), deployRelease(),
 * runRollbackScript()...) use `bin` for that block's hooks and tests, and puts
 * the previous value back after it. Jest runs the blocks of a file one after
 * the other, so each block sees its own interpreter.
 */
export function usePython(bin: string): void {
  present(bin, 'ROLLBACK_TEST_PYTHON')
  let saved: string | undefined
  beforeAll(() => {
    saved = process.env.ROLLBACK_TEST_PYTHON
    process.env.ROLLBACK_TEST_PYTHON = bin
  })
  afterAll(() => {
    if (saved === undefined) delete process.env.ROLLBACK_TEST_PYTHON
    else process.env.ROLLBACK_TEST_PYTHON = saved
  })
}
