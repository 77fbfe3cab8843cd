/**
 * The text of the Python shipped with the action, which is sent to the
 * application's `manage.py shell` on stdin: src/django/history.py and
 * self_stop.py as they are, and the modules of src/django/rollback/ assembled
 * into one text behind their loader (rollback/_loader.py).
 */
import fs from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

// `npm run build` copies src/django/*.py and src/django/rollback/*.py beside dist/index.js, so from the bundle as from
// src/ they sit next to this code (ncc would emit a literal new URL('./x.py', import.meta.url) under content-hash names
// that pile up in dist/).
const here = path.dirname(fileURLToPath(import.meta.url))
const texts = new Map<string, string>()

/** The rollback modules' folder, their loader in it, and the prefix that keeps their names apart from a project's. */
const ROLLBACK_DIR = 'rollback'
const ROLLBACK_LOADER = '_loader.py'
const ROLLBACK_MODULE_PREFIX = '_dmr_rollback_'

/** `read` of `name` beside this code, with what to do when the build left it out. */
function beside<T>(name: string, read: (file: string) => T): T {
  try {
    return read(path.join(here, name))
  } catch (error) {
    throw new Error(`cannot read ${name} beside ${fileURLToPath(import.meta.url)}: the build must copy src/django/ there`, {cause: error})
  }
}

function shipped(name: string): string {
  let text = texts.get(name)
  if (text === undefined) {
    text = beside(name, file => fs.readFileSync(file, 'utf8'))
    texts.set(name, text)
  }
  return text
}

/** The modules in `dir` (every .py file but the loader's `_` ones), sorted. */
function shippedModules(dir: string): string[] {
  return beside(dir, folder => fs.readdirSync(folder))
    .filter(name => name.endsWith('.py') && !name.startsWith('_'))
    .sort()
}

/**
 * `text` as a Python str literal in printable ASCII: the same in any stdin encoding. JSON's escapes mean
 * the same in Python; characters beyond the BMP become \U escapes, as Python does not join \ud83d\ude00.
 */
export function pythonString(text: string): string {
  return JSON.stringify(text).replace(/[^\x20-\x7e]/gu, c => {
    const code = c.codePointAt(0) ?? 0
    return code > 0xffff ? `\\U${code.toString(16).padStart(8, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`
  })
}

let rollbackText: string | undefined

/**
 * The rollback script as sent: rollback/_loader.py with its `_DMR_MODULES = ...` line replaced by every module of
 * rollback/ as {"_dmr_rollback_plan": ("rollback/plan.py", source), ...}; exec()d, it runs main.main().
 */
export function rollbackScript(): string {
  if (rollbackText === undefined) {
    const entries = shippedModules(ROLLBACK_DIR).map(file => {
      const name = pythonString(ROLLBACK_MODULE_PREFIX + file.slice(0, -'.py'.length))
      const shippedName = `${ROLLBACK_DIR}/${file}`
      return `    ${name}: (${pythonString(shippedName)}, ${pythonString(shipped(shippedName))}),\n`
    })
    rollbackText = assign(
      shipped(`${ROLLBACK_DIR}/${ROLLBACK_LOADER}`),
      `src/django/${ROLLBACK_DIR}/${ROLLBACK_LOADER}`,
      '_DMR_MODULES',
      `{\n${entries.join('')}}`
    )
  }
  return rollbackText
}

export const historyScript = (): string => shipped('history.py')

/** `source` (the text of `file`) with its one line `NAME = ...` replaced by `NAME = value`. */
function assign(source: string, file: string, name: string, value: string): string {
  const line = new RegExp(`^${name} = .*$`, 'gm')
  const found = source.match(line)?.length ?? 0
  if (found !== 1) throw new Error(`${file} must assign ${name} on exactly one line (found ${found})`)
  return source.replace(line, () => `${name} = ${value}`)
}

/**
 * The Python run before the rollback script when command-timeout is set (src/django/self_stop.py): after `seconds`
 * from the process start it raises CommandTimeout(message) in the script, again every second until the
 * report line is written.
 */
export function selfStopPrelude(seconds: number, message: string): string {
  if (!Number.isFinite(seconds) || seconds <= 0) throw new RangeError(`selfStopPrelude: seconds must be > 0, not ${seconds}`)
  // String(number) of a finite number is a Python number literal.
  const file = 'src/django/self_stop.py'
  const limited = assign(shipped('self_stop.py'), file, '_CT_LIMIT', String(seconds))
  return assign(limited, file, '_CT_MESSAGE', pythonString(message))
}
