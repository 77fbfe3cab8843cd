/**
 * Helpers around __tests__/fixtures/thirdparty-project: Debian's Django 3.2 with
 * Debian's packages of third-party apps and their real migrations (see the
 * fixture's README.md). Every call is a real `manage.py` process or pg_dump
 * against a real PostgreSQL database, always with pythonBin32().
 */
import fs from 'node:fs'
import path from 'node:path'
import {manageIn, migrateSteps, type ManageOptions, type ManageResult} from './manage.js'
import {REPO_ROOT, pythonBin32} from './python.js'

export {schemaDump} from './manage.js'

export const thirdpartyProjectDir = path.join(REPO_ROOT, '__tests__', 'fixtures', 'thirdparty-project')

/** `[app, target]` pairs, each run as `migrate APP TARGET`. */
export type Steps = Array<[string, string]>
export type ThirdpartyRelease = 'A-squash' | 'A-spread' | 'A-axes' | 'B'
export const thirdpartyReleases = JSON.parse(fs.readFileSync(path.join(thirdpartyProjectDir, 'releases.json'), 'utf8')) as Record<
  ThirdpartyRelease,
  Steps | 'latest'
>

const project = {dir: thirdpartyProjectDir, python: pythonBin32}

/** `python manage.py ARGS` in the third-party project, on Django 3.2. */
export function manage32(dbUrl: string, args: string[], opts: ManageOptions = {}): Promise<ManageResult> {
  return manageIn(project, dbUrl, args, opts)
}

/**
 * Runs `migrate APP TARGET` for each step, in order, in one Django process (a
 * process costs about a second here: celery and friends import slowly); no
 * steps is a plain `migrate`, i.e. release B.
 */
export function migrateTo(dbUrl: string, steps: Steps): Promise<void> {
  return migrateSteps(project, dbUrl, steps)
}

/** Puts a fresh database into a release of releases.json. */
export async function deployThirdparty(dbUrl: string, release: ThirdpartyRelease): Promise<void> {
  const steps = thirdpartyReleases[release]
  if (steps === undefined) throw new Error(`no release ${release} in releases.json`)
  await migrateTo(dbUrl, steps === 'latest' ? [] : steps)
}
