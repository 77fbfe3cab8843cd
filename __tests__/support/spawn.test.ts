/**
 * What a helper says when a program cannot be started or fails (spawn.ts,
 * python.ts, manage.ts, setup-check.mjs): real processes, no mocks. A missing
 * venv is a path that does not exist (the real .venv is never touched).
 */
import {spawnSync} from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {projectDir} from './django-project.js'
import {manageIn, runToEnd} from './manage.js'
import {djangoPythons, pythonBin, pythonBin32, REPO_ROOT, usePython} from './python.js'
import {missingSetup, requireSetup} from './setup-check.mjs'
import {failureMessage, PG_BIN, runSync} from './spawn.js'

const SETUP = 'run `npm run setup` (scripts/setup-test-env.sh) first'

let tmp: string
/** A venv interpreter path that does not exist, as on a fresh clone. */
let missingPython: string
const saved = {python: process.env.ROLLBACK_TEST_PYTHON, python32: process.env.ROLLBACK_TEST_PYTHON32}

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'spawn-test-'))
  missingPython = path.join(tmp, 'clone', '.venv', 'bin', 'python')
})

afterAll(() => fs.rmSync(tmp, {recursive: true, force: true}))

afterEach(() => {
  for (const [name, value] of [
    ['ROLLBACK_TEST_PYTHON', saved.python],
    ['ROLLBACK_TEST_PYTHON32', saved.python32]
  ] as const) {
    if (value === undefined) delete process.env[name]
    else process.env[name] = value
  }
})

/** The message a call throws (or rejects with). */
async function thrown(fn: () => unknown): Promise<string> {
  try {
    await fn()
  } catch (error) {
    return (error as Error).message
  }
  throw new Error('it did not throw')
}

describe('runSync', () => {
  test('a missing venv python: the spawn error, the path and the set-up to run', async () => {
    const message = await thrown(() => runSync(missingPython, ['manage.py', 'migrate'], {what: 'flagsmith_project.py v2.229.0'}))
    expect(message).toBe(
      `flagsmith_project.py v2.229.0 failed: spawnSync ${missingPython} ENOENT: ${SETUP}\n  command: ${missingPython} manage.py migrate`
    )
    expect(message).not.toMatch(/null/)
  })

  test('a missing PostgreSQL binary gets the set-up hint too', async () => {
    const initdb = path.join(PG_BIN, 'no-such-initdb')
    expect(await thrown(() => runSync(initdb, ['-D', tmp]))).toMatch(
      new RegExp(`^no-such-initdb failed: spawnSync ${initdb} ENOENT: run \`npm run setup\``)
    )
  })

  test('a missing program the set-up does not provide: the spawn error, no hint', async () => {
    const message = await thrown(() => runSync('no-such-program-for-the-tests', ['x']))
    expect(message).toBe(
      'no-such-program-for-the-tests failed: spawnSync no-such-program-for-the-tests ENOENT\n  command: no-such-program-for-the-tests x'
    )
  })

  test('a program that is there but a working directory that is not: says which', async () => {
    const gone = path.join(tmp, 'gone')
    const message = await thrown(() => runSync(process.execPath, ['-e', '0'], {cwd: gone}))
    expect(message).toContain(`ENOENT: the working directory ${gone} does not exist`)
    expect(message).not.toContain('npm run setup')
  })

  test('a failing program: its status, the command and the tail of its stderr', async () => {
    const script = 'echo to-stdout; for i in $(seq 1 50); do echo "err line $i" >&2; done; exit 3'
    const message = await thrown(() => runSync('/bin/sh', ['-c', script]))
    const [first, command, header, ...tail] = message.split('\n')
    expect(first).toBe('sh failed: exit status 3')
    expect(command).toBe(`  command: /bin/sh -c '${script}'`)
    expect(header).toBe('  stderr (last 30 of 50 lines):')
    expect(tail).toEqual(Array.from({length: 30}, (_, i) => `    err line ${i + 21}`))
  })

  test('a program killed by a signal: the signal', async () => {
    expect(await thrown(() => runSync('/bin/sh', ['-c', 'echo dying >&2; kill -TERM $$']))).toBe(
      "sh failed: killed by SIGTERM\n  command: /bin/sh -c 'echo dying >&2; kill -TERM $$'\n  stderr:\n    dying"
    )
  })

  test('a venv without Django: the status, the ModuleNotFoundError and the set-up to run', async () => {
    // A stand-in venv whose python is the system's, run with -I -S so it cannot see any Django.
    const bin = path.join(tmp, 'bare', '.venv', 'bin')
    fs.mkdirSync(bin, {recursive: true})
    fs.writeFileSync(path.join(bin, 'python'), '#!/bin/sh\nexec python3 -I -S "$@"\n', {mode: 0o755})
    const message = await thrown(() => runSync(path.join(bin, 'python'), ['-c', 'import django']))
    expect(message).toMatch(new RegExp(`^python failed: exit status 1: run \`npm run setup\`[^\\n]*\\n  command: .*\\n  stderr:\\n`))
    expect(message).toMatch(/No module named 'django'$/)
  })

  test('a long argument is cut in the command line, the output is not lost', async () => {
    const long = 'x'.repeat(5000)
    const message = await thrown(() => runSync('/bin/sh', ['-c', `echo oops; exit 2 # ${long}`]))
    expect(message).toContain(`... (${5000 + 20} chars)`)
    expect(message.length).toBeLessThan(400)
    expect(message).toMatch(/\n {2}stdout:\n {4}oops$/)
  })

  test('a program that exits 0: its output', () => {
    expect(runSync('/bin/sh', ['-c', 'echo out; echo err >&2'])).toEqual({stdout: 'out\n', stderr: 'err\n'})
    expect(failureMessage('/bin/true', [], {status: 0})).toBeUndefined()
  })
})

describe('python.ts', () => {
  test('pythonBin and pythonBin32 name a missing interpreter and the set-up to run', async () => {
    process.env.ROLLBACK_TEST_PYTHON = missingPython
    expect(await thrown(pythonBin)).toBe(`the test Python ${missingPython} (from ROLLBACK_TEST_PYTHON) is missing: ${SETUP}`)
    process.env.ROLLBACK_TEST_PYTHON32 = missingPython
    expect(await thrown(pythonBin32)).toBe(`the test Python ${missingPython} (from ROLLBACK_TEST_PYTHON32) is missing: ${SETUP}`)
  })

  test('djangoPythons fails on a missing venv instead of skipping it', async () => {
    process.env.ROLLBACK_TEST_PYTHON32 = missingPython
    expect(await thrown(djangoPythons)).toContain(`${missingPython} (from ROLLBACK_TEST_PYTHON32) is missing: ${SETUP}`)
  })

  test('usePython refuses a missing interpreter when the block is declared', async () => {
    expect(await thrown(() => usePython(missingPython))).toBe(`the test Python ${missingPython} is missing: ${SETUP}`)
  })

  test('the real interpreters are there (the default paths, inside the repository)', () => {
    delete process.env.ROLLBACK_TEST_PYTHON
    delete process.env.ROLLBACK_TEST_PYTHON32
    expect(pythonBin()).toBe(path.join(REPO_ROOT, '.venv', 'bin', 'python'))
    expect(pythonBin32()).toBe(path.join(REPO_ROOT, '.venv-django32', 'bin', 'python'))
  })
})

describe('manage.ts (processes started asynchronously)', () => {
  test('runToEnd rejects with the path and the set-up to run when the program is missing', async () => {
    const message = await thrown(() => runToEnd(missingPython, ['manage.py', 'check'], {input: 'x'}))
    expect(message).toBe(`python failed: spawn ${missingPython} ENOENT: ${SETUP}\n  command: ${missingPython} manage.py check`)
  })

  test('manageIn: a project whose interpreter is missing', async () => {
    const message = await thrown(() => manageIn({dir: projectDir, python: () => missingPython}, 'postgres://nowhere/db', ['migrate']))
    expect(message).toMatch(new RegExp(`spawn ${missingPython} ENOENT: run \`npm run setup\``))
  })

  test('manageIn: a failing manage.py gives its status and stderr tail', async () => {
    const message = await thrown(() => manageIn({dir: projectDir, python: pythonBin}, 'postgres://nowhere/db', ['no-such-command']))
    expect(message).toMatch(
      /^manage\.py no-such-command failed: exit status 1\n {2}command: .*manage\.py no-such-command\n {2}stderr:\n.*Unknown command: 'no-such-command'/s
    )
  })
})

describe('setup-check.mjs', () => {
  test('names each missing thing and what to run, on one line', () => {
    process.env.ROLLBACK_TEST_PYTHON = missingPython
    expect(missingSetup(['venv'])).toEqual([`${missingPython} is missing: ${SETUP}`])
    let error: Error | undefined
    try {
      requireSetup('bench/x.bench.ts', ['venv', 'dist'])
    } catch (e) {
      error = e as Error
    }
    expect(error?.message).toBe(`bench/x.bench.ts: ${missingPython} is missing: ${SETUP}`)
    // No stack frames: jest prints the line alone.
    expect(error?.stack).toBe(error?.message)
  })

  test('as a command: exit 1 and one line on stderr', () => {
    const cli = path.join(REPO_ROOT, '__tests__', 'support', 'setup-check.mjs')
    const noPg = path.join(tmp, 'no-postgresql', 'bin')
    const result = spawnSync(process.execPath, [cli, 'test-files', 'npm test'], {encoding: 'utf8', env: {...process.env, PG_BIN: noPg}})
    expect(result.status).toBe(1)
    expect(result.stderr).toBe(
      `npm test: PostgreSQL 15 (${['initdb', 'pg_ctl', 'pg_dump', 'psql'].map(b => path.join(noPg, b)).join(', ')}) is missing: ${SETUP}\n`
    )
    const ok = spawnSync(process.execPath, [cli, 'test-files'], {encoding: 'utf8'})
    expect([ok.status, ok.stderr]).toEqual([0, ''])
  })
})
