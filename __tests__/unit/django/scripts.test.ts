/**
 * src/django/scripts.ts: the Python files' text as shipped (the rollback modules
 * assembled behind their loader), and the self-stop prelude
 * (src/django/self_stop.py) run with the real Python, behind the same bootstrap
 * as the rollback script.
 */
import {spawnSync} from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import {BOOTSTRAP} from '../../../src/django/commands.js'
import {historyScript, pythonString, rollbackScript, selfStopPrelude} from '../../../src/django/scripts.js'
import {REPO_ROOT, pythonBin} from '../../support/python.js'

const source = (name: string): string => fs.readFileSync(path.join(REPO_ROOT, 'src', 'django', name), 'utf8')

/** `python -c BOOTSTRAP` with `script` and an empty request on stdin, as manage.py shell would run it (module `rollback`). */
function runScript(script: string): {status: number | null; stdout: string; stderr: string; ms: number} {
  const started = Date.now()
  const result = spawnSync(pythonBin(), ['-c', BOOTSTRAP], {
    input: `${script}\n#ROLLBACK-REQUEST\n{}`,
    encoding: 'utf8',
    timeout: 20000
  })
  return {status: result.status, stdout: result.stdout, stderr: result.stderr, ms: Date.now() - started}
}

/** Python's value of each Python literal in `literals`, as JSON. */
function pythonValues(literals: string[]): unknown[] {
  const code = 'import ast, json, sys\nprint(json.dumps([ast.literal_eval(x) for x in json.load(sys.stdin)]))'
  const result = spawnSync(pythonBin(), ['-c', code], {input: JSON.stringify(literals), encoding: 'utf8'})
  if (result.status !== 0) throw new Error(result.stderr)
  return JSON.parse(result.stdout) as unknown[]
}

const moduleFiles = (): string[] =>
  fs
    .readdirSync(path.join(REPO_ROOT, 'src', 'django', 'rollback'))
    .filter(f => f.endsWith('.py') && !f.startsWith('_'))
    .sort()

describe('the shipped Python files', () => {
  it('are history.py as it is, and rollback/_loader.py with only its _DMR_MODULES line filled in, read once', () => {
    expect(historyScript()).toBe(source('history.py'))
    const loader = source('rollback/_loader.py').split('\n')
    const script = rollbackScript().split('\n')
    const at = loader.indexOf('_DMR_MODULES = {}')
    expect(at).toBeGreaterThan(0)
    const filled = script.length - loader.length
    expect(script.slice(0, at)).toEqual(loader.slice(0, at))
    expect(script.slice(at + 1 + filled)).toEqual(loader.slice(at + 1))
    expect(script[at]).toBe('_DMR_MODULES = {')
    expect(rollbackScript()).toBe(rollbackScript())
  })

  it('carry every module of src/django/rollback/ exactly, under its _dmr_rollback_ name and rollback/ file name', () => {
    const literal = rollbackScript().match(/^_DMR_MODULES = (\{\n[^]*?\n\})$/m)?.[1]
    expect(literal).toBeDefined()
    const [modules] = pythonValues([literal!]) as [Record<string, [string, string]>]
    const files = moduleFiles()
    expect(files).toEqual(expect.arrayContaining(['main.py', 'report.py', 'plan.py', 'execute.py']))
    expect(modules).toEqual(
      Object.fromEntries(files.map(f => [`_dmr_rollback_${f.slice(0, -3)}`, [`rollback/${f}`, source(`rollback/${f}`)]]))
    )
  })

  it('travel in printable ASCII, whatever the characters (pythonString)', () => {
    const texts = [`'''"""\\ \\" \\\\n \\u00e9 é ü 日本 𝄞 😀 \u2028 \x7f \x00 line\nbreak\ttab end\\`, '', 'plain']
    const literals = texts.map(pythonString)
    for (const literal of literals) expect(literal).toMatch(/^[\x20-\x7e]*$/)
    expect(pythonValues(literals)).toEqual(texts)
  })

  it('run behind the bootstrap: a failure, here outside Django, is a report whose traceback names the module file', () => {
    const result = spawnSync(pythonBin(), ['-c', BOOTSTRAP], {
      input: `${rollbackScript()}\n#ROLLBACK-REQUEST\n{"version": 1}`,
      encoding: 'utf8',
      timeout: 20000
    })
    expect(result.stderr).toBe('')
    expect(result.status).toBe(1)
    const lines = result.stdout.trimEnd().split('\n')
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatch(/^ROLLBACK-REPORT /)
    const report = JSON.parse(lines[0].slice('ROLLBACK-REPORT '.length))
    expect(report.error.exception).toBe('ImproperlyConfigured')
    // The module's frame with its source line, which linecache has from the loader.
    expect(report.error.traceback).toMatch(/File "rollback\/steps\.py", line \d+, in run_steps\n +connection = connections\[/)
    expect(report.error.traceback).toMatch(/File "rollback\/main\.py", line \d+, in main\n/)
  })

  it('run after the self-stop prelude, as with command-timeout: the prelude first, then the loader and modules', () => {
    const result = spawnSync(pythonBin(), ['-c', BOOTSTRAP], {
      input: `${selfStopPrelude(30, 'stop')}${rollbackScript()}\n#ROLLBACK-REQUEST\n{"version": 1}`,
      encoding: 'utf8',
      timeout: 20000
    })
    expect(result.stderr).toBe('')
    expect(result.status).toBe(1)
    expect(JSON.parse(result.stdout.trimEnd().slice('ROLLBACK-REPORT '.length)).error.exception).toBe('ImproperlyConfigured')
  })
})

describe('selfStopPrelude', () => {
  it('is src/django/self_stop.py with only the _CT_LIMIT and _CT_MESSAGE lines filled in', () => {
    const file = source('self_stop.py').split('\n')
    const prelude = selfStopPrelude(90, 'stopped').split('\n')
    expect(prelude).toHaveLength(file.length)
    const changed = prelude.flatMap((line, i) => (line === file[i] ? [] : [line]))
    expect(changed).toEqual(['_CT_LIMIT = 90', '_CT_MESSAGE = "stopped"'])
  })

  it('refuses a limit that is not a positive number', () => {
    for (const seconds of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) expect(() => selfStopPrelude(seconds, 'x')).toThrow(RangeError)
  })

  it('stops the script at the limit with a CommandTimeout traceback carrying the message', () => {
    const message = 'python manage.py shell (script on stdin) was stopped after 0.005 minutes (0.3 s) (command-timeout)'
    const run = runScript(`${selfStopPrelude(0.3, message)}import time\ntime.sleep(5)\n`)
    expect(run.status).not.toBe(0)
    expect(run.ms).toBeGreaterThanOrEqual(250)
    expect(run.ms).toBeLessThan(2000)
    expect(run.stderr).toContain('Traceback (most recent call last)')
    expect(run.stderr.trimEnd().split('\n').at(-1)).toBe(`rollback.CommandTimeout: ${message}`)
  })

  it('carries any message exactly: quotes, backslashes, newlines, non-ASCII', () => {
    const message = `'''"""\\ \\" \\\\n \\u00e9 C:\\dir\\ "quoted" 'single' é ü 日本 𝄞 \u2028 line\nbreak\ttab \x7f end\\`
    const run = runScript(
      `${selfStopPrelude(0.2, message)}import json, time\ntry:\n    time.sleep(5)\nexcept CommandTimeout as e:\n` +
        '    print(json.dumps(e.args[0]))\n'
    )
    expect(run.stderr).toBe('')
    expect(JSON.parse(run.stdout.trim())).toBe(message)
  })

  it('comes again every second while something swallows it, and stops once the report line is written', () => {
    const run = runScript(
      `${selfStopPrelude(0.2, 'stop')}import sys, time\n` +
        'for n in range(2):\n    try:\n        time.sleep(5)\n    except CommandTimeout:\n        print("caught", n)\n' +
        'sys.stdout.write("ROLLBACK-REPORT {}\\n")\ntime.sleep(1.5)\nprint("done")\n'
    )
    expect(run.stderr).toBe('')
    expect(run.stdout).toBe('caught 0\ncaught 1\nROLLBACK-REPORT {}\ndone\n')
    expect(run.status).toBe(0)
    // 0.2 s, then 1 s for the second alarm, then the 1.5 s sleep that no alarm interrupts.
    expect(run.ms).toBeGreaterThanOrEqual(2500)
  })

  it('counts the limit from the process start, not from when the prelude runs', () => {
    // Python sleeps 1 s before the bootstrap, as Django's own start-up would take time.
    const started = Date.now()
    const result = spawnSync(pythonBin(), ['-c', `import time; time.sleep(1); ${BOOTSTRAP}`], {
      input: `${selfStopPrelude(1.3, 'stop')}import time\ntime.sleep(5)\n\n#ROLLBACK-REQUEST\n{}`,
      encoding: 'utf8',
      timeout: 20000
    })
    const ms = Date.now() - started
    expect(result.stderr.trimEnd().split('\n').at(-1)).toBe('rollback.CommandTimeout: stop')
    expect(ms).toBeLessThan(2100)
  })
})
