import {spawn} from 'node:child_process'
import {constants as osConstants} from 'node:os'
import type {ExecOptions, ExecResult} from './executor.js'

/**
 * The action's own inputs (INPUT_*) carry secrets such as the database URL;
 * a child process has no use for them.
 */
export function childEnvironment(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {}
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && !key.startsWith('INPUT_')) env[key] = value
  }
  return {...env, ...extra}
}

/**
 * Runs argv directly (no shell) and collects its output. Silent because the
 * callers decide what reaches the log: a command line may hold a whole script.
 * Spawned here rather than through @actions/exec, which has no handler for an
 * error on the child's stdin: a process that exits before reading its input
 * (ssh refused at once) would reject the run with EPIPE instead of its exit code.
 */
export async function runProcess(argv: string[], options: ExecOptions & {env?: Record<string, string>} = {}): Promise<ExecResult> {
  const {exitCode, stdout, stderr} = await runProcessWithDeadline(argv, options)
  return {exitCode, stdout, stderr}
}

/**
 * A limit on one process's run time (command-timeout). When termAfterMs has
 * passed the process gets SIGTERM, and SIGKILL killAfterMs later if it is
 * still there. `group`: the process was started as the leader of its own
 * process group and the whole group is signalled, so that a command started
 * through a wrapper (a shell script, `poetry run`) ends with its children.
 */
export interface Deadline {
  termAfterMs: number
  killAfterMs: number
  group?: boolean
}

export interface TimedResult extends ExecResult {
  /** True when the deadline fired and the process was signalled. */
  timedOut: boolean
  /** Wall time of the run. */
  ms: number
}

/**
 * runProcess with a deadline. It spawns the process itself (not through
 * @actions/exec) because ending it needs its pid and, for `group`, its own
 * process group. Output handling is the same: collected, and stdout passed on
 * line by line.
 */
export async function runProcessWithDeadline(
  argv: string[],
  options: ExecOptions & {env?: Record<string, string>; deadline?: Deadline}
): Promise<TimedResult> {
  const [command, ...args] = argv
  const started = Date.now()
  const {deadline} = options
  const child = spawn(command, args, {
    env: options.env ?? childEnvironment(),
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: deadline?.group ?? false
  })
  let stdout = ''
  let stderr = ''
  let partial = ''
  child.stdout.setEncoding('utf8')
  child.stderr.setEncoding('utf8')
  child.stdout.on('data', (chunk: string) => {
    stdout += chunk
    if (!options.onStdoutLine) return
    partial += chunk
    const lines = partial.split(/\r?\n/)
    partial = lines.pop() ?? ''
    for (const line of lines) options.onStdoutLine(line)
  })
  child.stderr.on('data', (chunk: string) => (stderr += chunk))
  // The process may exit without reading its input (or be killed): not our error.
  child.stdin.on('error', () => undefined)
  child.stdin.end(options.input === undefined ? undefined : Buffer.from(options.input, 'utf8'))

  let timedOut = false
  const signal = (name: NodeJS.Signals): void => {
    try {
      if (deadline?.group && child.pid) process.kill(-child.pid, name)
      else child.kill(name)
    } catch {
      // already gone
    }
  }
  let killTimer: NodeJS.Timeout | undefined
  const termTimer = deadline
    ? setTimeout(() => {
        timedOut = true
        signal('SIGTERM')
        killTimer = setTimeout(() => signal('SIGKILL'), deadline.killAfterMs)
      }, deadline.termAfterMs)
    : undefined
  try {
    const exitCode: number = await new Promise((resolve, reject) => {
      child.on('error', reject)
      child.on('close', (code, sig) => resolve(code ?? (sig ? 128 + (osConstants.signals[sig] ?? 0) : -1)))
    })
    if (partial && options.onStdoutLine) options.onStdoutLine(partial)
    return {exitCode, stdout, stderr, timedOut, ms: Date.now() - started}
  } finally {
    clearTimeout(termTimer)
    if (killTimer) clearTimeout(killTimer)
    // A group leader that exited may leave children behind in its group: they go too once the limit has passed.
    if (timedOut && deadline?.group) signal('SIGKILL')
  }
}
