/** The virtualenv with Django 5.2 and psycopg2 that scripts/setup-test-env.sh creates. */
import path from 'node:path'
import {fileURLToPath} from 'node:url'

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')

export function pythonBin(): string {
  return process.env.ROLLBACK_TEST_PYTHON ?? path.join(REPO_ROOT, '.venv', 'bin', 'python')
}
