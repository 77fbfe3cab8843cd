/**
 * The Python interpreters scripts/setup-test-env.sh prepares: .venv (Django 5.2
 * and psycopg2 from pip) and .venv-django32 (Debian's Django 3.2 and Debian's
 * packages of third-party apps, through --system-site-packages).
 */
import {execFileSync} from 'node:child_process'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')

export function pythonBin(): string {
  return process.env.ROLLBACK_TEST_PYTHON ?? path.join(REPO_ROOT, '.venv', 'bin', 'python')
}

/** Django 3.2, the oldest version rollback.py supports. */
export function pythonBin32(): string {
  return process.env.ROLLBACK_TEST_PYTHON32 ?? path.join(REPO_ROOT, '.venv-django32', 'bin', 'python')
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
    let version: string
    try {
      version = execFileSync(bin, ['-c', 'import django; print(django.get_version())'], {encoding: 'utf8'}).trim()
    } catch (e) {
      throw new Error(`${bin} cannot import django (run bash scripts/setup-test-env.sh): ${(e as Error).message}`, {cause: e})
    }
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
