/**
 * Benchmark, not a test (`npm run bench`): cold start of the built action,
 * `node dist/index.js` to its first byte on stdout, and the bundle sizes.
 * The action is spawned as the runner does, with an empty target-datetime and
 * executor local, so it fails fast after its first log line. Uses dist/ as it
 * is (run `npm run build` first). BENCH_COLD_REPEAT (default 10) runs, one
 * warm-up first. Target: under 300 ms.
 */
import {spawn} from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {REPO_ROOT} from '../__tests__/support/python.js'
import {requireSetup} from '../__tests__/support/setup-check.mjs'
import {fmt, now, print, stats, table} from './stats.js'

requireSetup('bench/cold-start.bench.ts', ['dist'])

const RUNS = Math.max(1, Number(process.env.BENCH_COLD_REPEAT ?? 10))
const TARGET_MS = 300

function firstByte(entry: string): Promise<{firstByte: number; exit: number; line: string}> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-cold-'))
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: dir,
    RUNNER_TEMP: dir,
    GITHUB_OUTPUT: path.join(dir, 'output'),
    GITHUB_STEP_SUMMARY: path.join(dir, 'summary'),
    GITHUB_STATE: path.join(dir, 'state'),
    'INPUT_TARGET-DATETIME': '',
    INPUT_EXECUTOR: 'local'
  }
  for (const f of ['output', 'summary', 'state']) fs.writeFileSync(path.join(dir, f), '')
  return new Promise((resolve, reject) => {
    const started = now()
    let first = 0
    let out = ''
    const child = spawn(process.execPath, [entry], {env, cwd: dir, stdio: ['ignore', 'pipe', 'pipe']})
    child.stdout.on('data', (d: Buffer) => {
      if (!first) first = now() - started
      out += d.toString()
    })
    child.on('error', reject)
    child.on('close', () => {
      fs.rmSync(dir, {recursive: true, force: true})
      if (!first) return reject(new Error(`${entry} wrote nothing to stdout`))
      resolve({firstByte: first, exit: now() - started, line: out.split('\n')[0]})
    })
  })
}

it('prints the cold start figures', async () => {
  const entry = path.join(REPO_ROOT, 'dist', 'index.js')
  const first: number[] = []
  const exit: number[] = []
  let line = ''
  for (let i = 0; i <= RUNS; i++) {
    const r = await firstByte(entry)
    if (i === 0) continue
    first.push(r.firstByte)
    exit.push(r.exit)
    line = r.line
  }
  // Node alone, for reference: the part of the cold start the bundle cannot change.
  const bare: number[] = []
  for (let i = 0; i <= RUNS; i++) {
    const started = now()
    await new Promise<void>((resolve, reject) => {
      const child = spawn(process.execPath, ['-e', 'process.stdout.write("x")'], {
        stdio: ['ignore', 'pipe', 'ignore'],
        env: {PATH: process.env.PATH ?? ''}
      })
      child.stdout.once('data', () => {
        if (i > 0) bare.push(now() - started)
      })
      child.on('error', reject)
      child.on('close', () => resolve())
    })
  }
  const f = stats(first)
  const size = (p: string): string => `${(fs.statSync(path.join(REPO_ROOT, p)).size / 1024).toFixed(0)} KiB`
  print(
    `cold start: ${RUNS} runs after a warm-up (first stdout line: ${line.slice(0, 80)})`,
    table([
      ['what', 'min / median', `target < ${TARGET_MS} ms`],
      [
        'node dist/index.js to first stdout byte',
        fmt(f),
        f.median < TARGET_MS ? 'met' : `MISSED (median ${(f.median / TARGET_MS).toFixed(2)}x)`
      ],
      ['node dist/index.js to exit (fails fast)', fmt(stats(exit)), ''],
      ['node -e (bare Node, for reference)', fmt(stats(bare)), ''],
      ['dist/index.js size', size('dist/index.js'), ''],
      ['dist/post/index.js size', size('dist/post/index.js'), '']
    ])
  )
}, 600000)
