// What the tests, the benchmarks and the demo need from the set-up, checked
// before they start, so that a fresh clone gets one line saying what is missing
// and what to run instead of an error from deep inside a run. Plain Node with
// nothing outside node:, so it works before `npm ci` (types: setup-check.d.mts).
//
//   node __tests__/support/setup-check.mjs PROFILE [WHAT]
//
// exits 1 with that line (starting with WHAT, default `npm run PROFILE`) when
// something PROFILE needs is missing. PROFILE: see PROFILES below.
import {spawnSync} from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import {fileURLToPath, pathToFileURL} from 'node:url'

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
export const PG_BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin'
export const SSHD_BIN = process.env.SSHD_BIN ?? '/usr/sbin/sshd'

export const RUN_SETUP = 'run `npm run setup` (scripts/setup-test-env.sh) first'
export const RUN_NPM_CI = 'run `npm ci` first'
const KUBECTL = 'put kubectl on PATH (scripts/setup-test-env.sh expects it there, it does not install it)'
const CHROMIUM = 'install chromium (apt-get install chromium)'

/** The default interpreters, as python.ts resolves them (ROLLBACK_TEST_PYTHON / ROLLBACK_TEST_PYTHON32 override). */
export const VENV_PYTHON = path.join(REPO_ROOT, '.venv', 'bin', 'python')
export const VENV32_PYTHON = path.join(REPO_ROOT, '.venv-django32', 'bin', 'python')

/** A path as a person reads it: relative to the repository when inside it. */
export function shown(file) {
  const rel = path.relative(REPO_ROOT, file)
  return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : file
}

export function isExecutable(file) {
  try {
    fs.accessSync(file, fs.constants.X_OK)
    return fs.statSync(file).isFile()
  } catch {
    return false
  }
}

/** `name` as the shell would find it: a path as it is, a bare name on PATH; undefined when there is none. */
export function which(name) {
  if (name.includes('/')) return isExecutable(name) ? name : undefined
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir && isExecutable(path.join(dir, name))) return path.join(dir, name)
  }
  return undefined
}

/**
 * What to do when `program` cannot be started, for the programs the set-up
 * provides (the venvs' pythons, PostgreSQL's binaries, OpenSSH, kubectl);
 * undefined for any other program.
 */
export function setupHint(program) {
  const base = path.basename(program)
  if (/(^|\/)\.venv[^/]*\/bin\//.test(program)) return RUN_SETUP
  if ([process.env.ROLLBACK_TEST_PYTHON, process.env.ROLLBACK_TEST_PYTHON32].includes(program)) {
    return `set ROLLBACK_TEST_PYTHON / ROLLBACK_TEST_PYTHON32 to an interpreter with Django, or unset them and ${RUN_SETUP}`
  }
  if (program.startsWith(`${PG_BIN}/`)) return RUN_SETUP
  if (program === SSHD_BIN || ['sshd', 'ssh', 'ssh-keygen'].includes(base)) return RUN_SETUP
  if (base === 'kubectl') return KUBECTL
  if (base === 'chromium') return CHROMIUM
  return undefined
}

/** [what is missing, what to run] for an interpreter that is not there or has no Django. */
function python(bin) {
  if (!isExecutable(bin)) return [shown(bin), setupHint(bin) ?? RUN_SETUP]
  const probe = spawnSync(bin, ['-c', 'import django, psycopg2'], {encoding: 'utf8'})
  return probe.status === 0 ? undefined : [`Django or psycopg2 in ${shown(bin)}`, setupHint(bin) ?? RUN_SETUP]
}

/** Each need: undefined when it is there, else [what is missing, what to run]. */
const CHECKS = {
  node_modules: () => (isExecutable(path.join(REPO_ROOT, 'node_modules', '.bin', 'jest')) ? undefined : ['node_modules', RUN_NPM_CI]),
  venv: () => python(process.env.ROLLBACK_TEST_PYTHON ?? VENV_PYTHON),
  venv32: () => python(process.env.ROLLBACK_TEST_PYTHON32 ?? VENV32_PYTHON),
  postgres: () => {
    const missing = ['initdb', 'pg_ctl', 'pg_dump', 'psql'].map(b => path.join(PG_BIN, b)).filter(b => !isExecutable(b))
    return missing.length ? [`PostgreSQL 15 (${missing.join(', ')})`, RUN_SETUP] : undefined
  },
  dist: () => {
    if (fs.existsSync(path.join(REPO_ROOT, 'dist', 'index.js'))) return undefined
    const haveModules = fs.existsSync(path.join(REPO_ROOT, 'node_modules'))
    return ['dist/index.js', haveModules ? 'run `npm run build` first' : 'run `npm ci` and `npm run build` first']
  },
  ssh: () => {
    const missing = [SSHD_BIN, 'ssh', 'ssh-keygen'].filter(p => !which(p))
    return missing.length ? [`OpenSSH (${missing.join(', ')})`, RUN_SETUP] : undefined
  },
  kubectl: () => (which('kubectl') ? undefined : ['kubectl (on PATH)', KUBECTL]),
  chromium: () => (which('chromium') ? undefined : ['chromium (on PATH)', CHROMIUM])
}

const benchExecutors = (process.env.BENCH_EXECUTORS ?? 'local,ssh,kubectl').split(',')

/** What each entry point needs, node_modules first (without it jest cannot start). */
export const PROFILES = {
  /** strategies.bench.ts starts sshd whatever BENCH_EXECUTORS says; kubectl only when it is one of them. */
  bench: ['node_modules', 'postgres', 'venv', 'dist', 'ssh', ...(benchExecutors.includes('kubectl') ? ['kubectl'] : [])],
  'summary-pictures': ['node_modules', 'postgres', 'venv', 'dist', 'ssh', 'chromium'],
  demo: ['venv', 'postgres', 'dist'],
  test: ['node_modules', 'postgres', 'venv', 'venv32', 'dist', 'ssh', 'kubectl'],
  /** `npm test -- FILES`: only what jest and its global setup need (the helpers name anything else they miss). */
  'test-files': ['node_modules', 'postgres']
}

/**
 * One sentence per thing to run, "A, B are missing: run ...", in the order of
 * needs (empty when everything is there).
 */
export function missingSetup(needs) {
  const byFix = new Map()
  for (const need of needs) {
    const check = CHECKS[need]
    if (!check) throw new Error(`setup-check: unknown need ${JSON.stringify(need)} (known: ${Object.keys(CHECKS).join(', ')})`)
    const found = check()
    if (found) byFix.set(found[1], [...(byFix.get(found[1]) ?? []), found[0]])
  }
  return [...byFix].map(([fix, what]) => `${what.join(', ')} ${what.length > 1 ? 'are' : 'is'} missing: ${fix}`)
}

/**
 * Throws one line, `WHAT: A is missing: run ...; B, C are missing: run ...`,
 * when a need is missing. No stack frames: jest prints just that line.
 */
export function requireSetup(what, needs) {
  const missing = missingSetup(needs)
  if (!missing.length) return
  const error = new Error(`${what}: ${missing.join('; ')}`)
  error.stack = error.message
  throw error
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const [profile, what = `npm run ${profile}`] = process.argv.slice(2)
  if (!Object.hasOwn(PROFILES, profile ?? '')) {
    console.error(`usage: node __tests__/support/setup-check.mjs ${Object.keys(PROFILES).join('|')} [WHAT]`)
    process.exit(2)
  }
  const missing = missingSetup(PROFILES[profile])
  if (missing.length) {
    console.error(`${what}: ${missing.join('; ')}`)
    process.exit(1)
  }
}
