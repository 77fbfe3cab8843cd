// Runs jest and prints one plain closing line ("jest: N passed, N failed") that CI
// can read; exits non-zero when any test failed or none ran.
import {spawnSync} from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'jest-')), 'results.json')
const env = {...process.env, NODE_OPTIONS: '--experimental-vm-modules --no-warnings=ExperimentalWarning'}
const jest = spawnSync('npx', ['jest', '--json', `--outputFile=${out}`, ...process.argv.slice(2)], {stdio: 'inherit', env})
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
