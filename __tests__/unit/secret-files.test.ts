/** The private directory for secret files, and the post step that removes it when the main step could not. */
import {afterEach, beforeEach, expect, jest, test} from '@jest/globals'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {removeSavedSecretDirs, SECRET_DIRS_STATE, SecretDir} from '../../src/secret-files.js'

let stateFile: string
let out: string[]
let restore: () => void
const saved = {GITHUB_STATE: process.env.GITHUB_STATE, RUNNER_TEMP: process.env.RUNNER_TEMP}
let runnerTemp: string

beforeEach(() => {
  runnerTemp = fs.mkdtempSync(path.join(os.tmpdir(), 'rollback-runner-temp-'))
  process.env.RUNNER_TEMP = runnerTemp
  stateFile = path.join(runnerTemp, 'state')
  fs.writeFileSync(stateFile, '')
  process.env.GITHUB_STATE = stateFile
  out = []
  const spy = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out.push(String(chunk))
    return true
  })
  restore = () => spy.mockRestore()
})

afterEach(() => {
  restore()
  fs.rmSync(runnerTemp, {recursive: true, force: true})
  for (const [key, value] of Object.entries(saved)) {
    if (value === undefined) delete process.env[key]
    else process.env[key] = value
  }
  delete process.env[`STATE_${SECRET_DIRS_STATE}`]
})

/** The last value saved for the key in the GITHUB_STATE file (name<<DELIM / value / DELIM). */
function savedState(): string[] {
  const text = fs.readFileSync(stateFile, 'utf8')
  const values = [...text.matchAll(/secret-dirs<<(\S+)\n([\s\S]*?)\n\1/g)].map(m => m[2])
  return JSON.parse(values[values.length - 1]) as string[]
}

test('a 0700 directory in RUNNER_TEMP, 0600 files, masked values, removed on close and unregistered', async () => {
  const dir = SecretDir.create()
  expect(path.dirname(dir.path)).toBe(runnerTemp)
  expect(fs.statSync(dir.path).mode & 0o777).toBe(0o700)
  expect(savedState()).toEqual([dir.path])

  const key = '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\nshort\n-----END OPENSSH PRIVATE KEY-----\n'
  const file = dir.write('id_key', key)
  expect(fs.statSync(file).mode & 0o777).toBe(0o600)
  expect(fs.readFileSync(file, 'utf8')).toBe(key)
  const masks = out.filter(line => line.startsWith('::add-mask::'))
  expect(masks).toContain('::add-mask::b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n')
  expect(masks).not.toContain('::add-mask::short\n')
  expect(dir.redact('key line b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ here')).toBe('key line *** here')

  dir.write('known_hosts', 'host ssh-ed25519 AAAApublic\n', {mask: 'none'})
  expect(out.some(line => line.includes('AAAApublic'))).toBe(false)
  dir.write('kubeconfig', 'token: abcdefgh\n', {mask: ['abcdefgh']})
  expect(out).toContain('::add-mask::abcdefgh\n')

  expect(() => dir.write('id_key', 'again')).toThrow() // never writes through an existing file
  expect(() => dir.file('../escape')).toThrow(/plain file name/)

  await dir.close()
  expect(fs.existsSync(dir.path)).toBe(false)
  expect(savedState()).toEqual([])
  await dir.close()
})

test('the post step removes directories the main step left (killed before close), and nothing else', async () => {
  const left = SecretDir.create()
  left.write('id_key', 'secret-key-material-1234567890\n')
  const other = fs.mkdtempSync(path.join(runnerTemp, 'not-ours-'))
  process.env[`STATE_${SECRET_DIRS_STATE}`] = JSON.stringify([left.path, other, '/', 'relative/django-rollback-x'])
  expect(removeSavedSecretDirs()).toEqual([left.path])
  expect(fs.existsSync(left.path)).toBe(false)
  expect(fs.existsSync(other)).toBe(true)
})

test('post.ts, the post: entry, does the same', async () => {
  const left = SecretDir.create()
  left.write('kubeconfig', 'token: t0ps3cr3t-value\n')
  process.env[`STATE_${SECRET_DIRS_STATE}`] = JSON.stringify([left.path])
  await import('../../src/post.js')
  expect(fs.existsSync(left.path)).toBe(false)
  expect(out.join('')).toContain('Removed 1 temporary secret directory left by the main step.')
})
