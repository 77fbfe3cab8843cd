// Runs jest and prints one plain closing line ("jest: N passed, N failed") that CI
// can read; exits non-zero when any test failed or none ran. First, one line and
// exit 1 when the set-up is missing (node_modules, PostgreSQL, the venvs...): for
// a whole run everything the suite needs, for `npm test -- FILES` what jest and
// its global setup need (the helpers name anything else they miss).
import {spawnSync} from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {PROFILES, missingSetup} from '../__tests__/support/setup-check.mjs'

const args = process.argv.slice(2)
const missing = missingSetup(PROFILES[args.some(a => !a.startsWith('-')) ? 'test-files' : 'test'])
if (missing.length) {
  console.error(`npm test: ${missing.join('; ')}`)
  process.exit(1)
}

const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'jest-')), 'results.json')
const env = {...process.env, NODE_OPTIONS: '--experimental-vm-modules --no-warnings=ExperimentalWarning'}
const jest = spawnSync('npx', ['jest', '--json', `--outputFile=${out}`, ...args], {stdio: 'inherit', env})
if (jest.error) console.error(`npm test: npx jest could not be started: ${jest.error.message}`)
let passed = 0
let failed
let skipped = 0
try {
  const results = JSON.parse(fs.readFileSync(out, 'utf8'))
  passed = results.numPassedTests
  failed = results.numFailedTests + results.numRuntimeErrorTestSuites
  skipped = results.numPendingTests + results.numTodoTests
} catch {
  failed = 1
}
console.log(`jest: ${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`)
process.exit(jest.status !== 0 || failed > 0 || passed === 0 || skipped > 0 ? 1 : 0)
