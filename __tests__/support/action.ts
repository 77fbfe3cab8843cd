/**
 * Runs the built action exactly as the runner does: `node dist/index.js` with
 * INPUT_* variables (hyphens kept) and GITHUB_OUTPUT / GITHUB_STEP_SUMMARY files.
 */
import {spawn} from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {REPO_ROOT} from './python.js'

export interface ActionRun {
  exitCode: number
  stdout: string
  stderr: string
  outputs: Record<string, string>
  summary: string
  /** Everything the action wrote anywhere a person or a later step can read. */
  everything: string
  /** What the action left in RUNNER_TEMP (paths relative to it, directories end with "/"), besides the runner's own files. */
  leftInRunnerTemp: string[]
  /** The GITHUB_STATE file the action wrote (for the post step). */
  state: string
}

function listTree(root: string, skip: Set<string>, rel = ''): string[] {
  const found: string[] = []
  for (const entry of fs.readdirSync(path.join(root, rel), {withFileTypes: true})) {
    const name = path.join(rel, entry.name)
    if (skip.has(name)) continue
    if (entry.isDirectory()) found.push(`${name}/`, ...listTree(root, skip, name))
    else found.push(name)
  }
  return found
}

/** Parses the `name<<DELIMITER ... DELIMITER` blocks that @actions/core writes to GITHUB_OUTPUT. */
export function parseOutputFile(text: string): Record<string, string> {
  const outputs: Record<string, string> = {}
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const m = /^([^<]+)<<(.+)$/.exec(lines[i])
    if (!m) continue
    const value: string[] = []
    for (i++; i < lines.length && lines[i] !== m[2]; i++) value.push(lines[i])
    outputs[m[1]] = value.join('\n')
  }
  return outputs
}

export async function runAction(
  inputs: Record<string, string>,
  options: {env?: Record<string, string>; entry?: string} = {}
): Promise<ActionRun> {
  const entry = path.join(REPO_ROOT, options.entry ?? 'dist/index.js')
  // Without this, node's "Cannot find module" is the action's stderr and a test only sees no outputs.
  if (!fs.existsSync(entry)) throw new Error(`${path.relative(REPO_ROOT, entry)} is missing: run \`npm run build\` first`)
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'action-run-'))
  const outputFile = path.join(dir, 'output')
  const summaryFile = path.join(dir, 'summary')
  const stateFile = path.join(dir, 'state')
  for (const f of [outputFile, summaryFile, stateFile]) fs.writeFileSync(f, '')
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/root',
    RUNNER_TEMP: dir,
    GITHUB_OUTPUT: outputFile,
    GITHUB_STEP_SUMMARY: summaryFile,
    GITHUB_STATE: stateFile,
    ...options.env
  }
  for (const [name, value] of Object.entries(inputs)) env[`INPUT_${name.toUpperCase()}`] = value
  const child = spawn(process.execPath, [entry], {env, cwd: dir})
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
  const exitCode: number = await new Promise((resolve, reject) => {
    child.on('error', reject)
    child.on('close', code => resolve(code ?? -1))
  })
  const outputText = fs.readFileSync(outputFile, 'utf8')
  const summary = fs.readFileSync(summaryFile, 'utf8')
  const state = fs.readFileSync(stateFile, 'utf8')
  const leftInRunnerTemp = listTree(dir, new Set(['output', 'summary', 'state']))
  fs.rmSync(dir, {recursive: true, force: true})
  return {
    exitCode,
    stdout,
    stderr,
    outputs: parseOutputFile(outputText),
    summary,
    everything: [stdout, stderr, outputText, summary].join('\n'),
    leftInRunnerTemp,
    state
  }
}

export const json = <T = string[]>(text: string | undefined): T => JSON.parse(text ?? 'null') as T
