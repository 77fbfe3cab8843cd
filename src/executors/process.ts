import * as exec from '@actions/exec'
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
 */
export async function runProcess(
  argv: string[],
  options: ExecOptions & {env?: Record<string, string>} = {}
): Promise<ExecResult> {
  const [command, ...args] = argv
  const result = await exec.getExecOutput(command, args, {
    silent: true,
    ignoreReturnCode: true,
    input: options.input === undefined ? undefined : Buffer.from(options.input, 'utf8'),
    env: options.env ?? childEnvironment(),
    listeners: options.onStdoutLine ? {stdline: options.onStdoutLine} : undefined
  })
  return {exitCode: result.exitCode, stdout: result.stdout, stderr: result.stderr}
}
