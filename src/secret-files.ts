/**
 * Secrets that a tool can only read from a file (an SSH private key, a
 * kubeconfig) go to a private temporary directory: created with mkdtemp and
 * mode 0700, files written with mode 0600, values masked in the log with
 * core.setSecret, and the directory removed by close(). Its path is saved
 * with core.saveState so that the action's `post:` step (post.ts, run with
 * `post-if: always()`) removes it even when the main step was killed.
 */
import * as core from '@actions/core'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

/** core.saveState key holding a JSON array of the directories still to remove. */
export const SECRET_DIRS_STATE = 'secret-dirs'
/** Every directory this module creates has a basename starting with this. */
export const SECRET_DIR_PREFIX = 'django-rollback-'

const live = new Set<string>()

function saveLive(): void {
  core.saveState(SECRET_DIRS_STATE, JSON.stringify([...live]))
}

/** Where the private directories go: the job's RUNNER_TEMP (emptied by the runner after the job), else the OS temp dir. */
export function secretBaseDir(): string {
  const runnerTemp = process.env.RUNNER_TEMP
  return runnerTemp && path.isAbsolute(runnerTemp) && fs.existsSync(runnerTemp) ? runnerTemp : os.tmpdir()
}

export interface WriteOptions {
  /**
   * What to mask in the log. `whole` (default): the content, and each of its
   * lines that is long enough to be secret by itself (the runner masks a
   * multi-line value reliably only line by line). `none`: nothing (e.g. a
   * known_hosts file). A list: the content as `whole` does, plus these values.
   */
  mask?: 'whole' | 'none' | string[]
}

/** Lines shorter than this are structure ("-----END ...-----" is longer, that is fine), not secret material. */
const MIN_MASKED_LINE = 16

export class SecretDir {
  private closed = false
  private readonly secrets = new Set<string>()

  private constructor(readonly path: string) {}

  /** Creates the directory (mode 0700) and registers it for the post step. */
  static create(options: {base?: string} = {}): SecretDir {
    const base = options.base ?? secretBaseDir()
    const dir = fs.mkdtempSync(path.join(base, SECRET_DIR_PREFIX))
    fs.chmodSync(dir, 0o700)
    live.add(dir)
    saveLive()
    return new SecretDir(dir)
  }

  /** Path of a file inside the directory (the name must be a plain file name). */
  file(name: string): string {
    if (!/^[A-Za-z0-9_.-]+$/.test(name) || name === '.' || name === '..') {
      throw new Error(`not a plain file name: ${JSON.stringify(name)}`)
    }
    return path.join(this.path, name)
  }

  /** Writes content to a new file with mode 0600 (never through an existing file or link) and returns its path. */
  write(name: string, content: string, options: WriteOptions = {}): string {
    if (this.closed) throw new Error('the secret directory is already closed')
    const mask = options.mask ?? 'whole'
    if (mask !== 'none') {
      this.addSecret(content)
      for (const line of content.split(/\r?\n/)) {
        if (line.trim().length >= MIN_MASKED_LINE) this.addSecret(line.trim())
      }
      if (Array.isArray(mask)) for (const value of mask) this.addSecret(value)
    }
    const file = this.file(name)
    const fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600)
    try {
      fs.writeSync(fd, content)
      fs.fchmodSync(fd, 0o600)
    } finally {
      fs.closeSync(fd)
    }
    return file
  }

  /** Masks a value in the log and remembers it for redact(). */
  addSecret(value: string): void {
    if (!value || value.trim() === '') return
    this.secrets.add(value)
    core.setSecret(value)
  }

  /** The text with every secret value this directory knows replaced by ***. For messages built from tool output. */
  redact(text: string): string {
    let out = text
    // Longest first, so a line of the key is not half replaced by a shorter secret.
    for (const secret of [...this.secrets].sort((a, b) => b.length - a.length)) {
      if (out.includes(secret)) out = out.split(secret).join('***')
    }
    return out
  }

  get isClosed(): boolean {
    return this.closed
  }

  /** Removes the directory and everything in it; safe to call twice. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    removeSecretDir(this.path)
    live.delete(this.path)
    saveLive()
  }
}

/** Removes one directory this module made; refuses any other path. */
export function removeSecretDir(dir: string): boolean {
  if (!path.isAbsolute(dir) || !path.basename(dir).startsWith(SECRET_DIR_PREFIX)) return false
  fs.rmSync(dir, {recursive: true, force: true})
  return true
}

/** For the post step: removes every directory the main step registered and did not remove itself. Returns those removed. */
export function removeSavedSecretDirs(): string[] {
  const raw = core.getState(SECRET_DIRS_STATE)
  if (!raw) return []
  let dirs: unknown
  try {
    dirs = JSON.parse(raw)
  } catch {
    return []
  }
  if (!Array.isArray(dirs)) return []
  const removed: string[] = []
  for (const dir of dirs) {
    if (typeof dir === 'string' && fs.existsSync(dir) && removeSecretDir(dir)) removed.push(dir)
  }
  return removed
}
