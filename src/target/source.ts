/**
 * `target-source`: the target release decided by its source code rather than by
 * a time. scanSource reads which migrations a checkout of the release holds;
 * selectFromSource (pure) splits the django_migrations rows into S (what the
 * release does not have) and the rest.
 */
import {RollbackError} from '../errors.js'
import {promises as fs} from 'node:fs'
import path from 'node:path'
import type {MigrationRow} from '../history.js'
import {newestFirst} from '../plan.js'

/** app label -> migration names present in the release's source */
export type SourceMigrations = Map<string, Set<string>>

/** The source cannot be used; the message says what to fix. */
export const sourceError = (message: string): RollbackError => new RollbackError('target', message)

export interface SourceFolder {
  /** The app's folder (the parent of `migrations`), relative to the root, `/`-separated. */
  dir: string
  app: string
  labelFrom: 'apps.py' | 'folder'
}

/** A squashed migration in the source stands for the migrations it replaces (their rows are the release's). */
export interface SourceReplaced {
  app: string
  name: string
  /** "app.name" of the squashed migration. */
  by: string
}

export interface SourceScan {
  migrations: SourceMigrations
  folders: SourceFolder[]
  replaced: SourceReplaced[]
}

/**
 * Never descended into: VCS data, JavaScript dependencies, bytecode caches and
 * installed Python packages (a virtualenv's site-packages holds other
 * projects' migrations, e.g. Django's own). Every directory whose name starts
 * with a dot is skipped too (no Python package can be named so), and so is any
 * directory holding pyvenv.cfg (a virtualenv, whatever its name).
 */
const SKIP = new Set(['node_modules', '__pycache__', 'site-packages', 'dist-packages'])

/**
 * What Django's MigrationLoader loads from a migrations package: every module
 * (pkgutil.iter_modules: here `*.py`) whose name does not start with `_` or
 * `~`. Not only `NNNN_*.py`: Django's rule decides what the release has
 * (`0001-initial.py`-style or unnumbered names load too), so it is the one used.
 */
function migrationName(file: string): string | undefined {
  if (!file.endsWith('.py')) return undefined
  const name = file.slice(0, -3)
  if (!name || name.startsWith('_') || name.startsWith('~') || name.includes('.')) return undefined
  return name
}

/** `label = "x"` / `label = 'x'` (optionally annotated) as a class attribute (indented) in apps.py. */
const LABEL = /^[ \t]+label\s*(?::\s*[\w.[\]]+\s*)?=\s*(["'])([A-Za-z_][A-Za-z0-9_]*)\1/m
/** `replaces = [("app", "name"), ...]` of a squashed migration. */
const REPLACES = /^[ \t]+replaces\s*(?::[^=\n]+)?=\s*[[(]([\s\S]*?)[\])]\s*$/m
const PAIR = /\(\s*(["'])([\w]+)\1\s*,\s*(["'])([\w]+)\3\s*\)/g

async function readText(file: string): Promise<string | undefined> {
  try {
    return await fs.readFile(file, 'utf8')
  } catch {
    return undefined
  }
}

function fixHint(root: string): string {
  return (
    'target-source must be a checkout of the release to roll back to, e.g. a step ' +
    `\`uses: actions/checkout@v4\` with \`ref: v2.150.0\` and \`path: ${root}\` before this action`
  )
}

/**
 * Finds every Django migrations package under root (a `migrations` directory
 * with an `__init__.py`: Django treats one without it as no migrations), lists
 * its migrations, and maps it to its app label: the AppConfig `label` in the
 * app's apps.py, else the folder name (Django's default label is the last part
 * of the app's module name, which is the folder).
 */
export async function scanSource(root: string): Promise<SourceScan> {
  const abs = path.resolve(root)
  const stat = await fs.stat(abs).catch(() => undefined)
  if (!stat) throw sourceError(`target-source ${root} does not exist. ${fixHint(root)}`)
  if (!stat.isDirectory()) throw sourceError(`target-source ${root} is not a directory. ${fixHint(root)}`)

  const found: {appDir: string; names: string[]}[] = []
  async function walk(dir: string): Promise<void> {
    const entries = await fs.readdir(dir, {withFileTypes: true})
    if (entries.some(e => e.name === 'pyvenv.cfg' && e.isFile())) return
    for (const entry of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      // Dirent.isDirectory() is false for symlinks: links are not followed (no loops, nothing outside root).
      if (!entry.isDirectory() || entry.name.startsWith('.') || SKIP.has(entry.name)) continue
      const full = path.join(dir, entry.name)
      if (entry.name === 'migrations') {
        const files = await fs.readdir(full, {withFileTypes: true})
        if (!files.some(f => f.isFile() && f.name === '__init__.py')) continue
        const names = files
          .filter(f => f.isFile())
          .map(f => migrationName(f.name))
          .filter((n): n is string => n !== undefined)
          .sort()
        found.push({appDir: dir, names})
        continue
      }
      await walk(full)
    }
  }
  await walk(abs)

  const migrations: SourceMigrations = new Map()
  const folders: SourceFolder[] = []
  const replaced: SourceReplaced[] = []
  const where = new Map<string, string>()
  const appOf = new Map<string, string>()
  for (const {appDir, names} of found) {
    const rel = path.relative(abs, appDir).split(path.sep).join('/') || '.'
    const apps = await readText(path.join(appDir, 'apps.py'))
    const label = apps?.match(LABEL)?.[2]
    const app = label ?? path.basename(appDir)
    const labelFrom = label ? 'apps.py' : 'folder'
    const other = where.get(app)
    if (other !== undefined) {
      throw sourceError(
        `target-source ${root}: two migrations folders have the app label "${app}": ${other}/migrations and ` +
          `${rel}/migrations. Django refuses duplicate labels; give one of them a distinct \`label = "..."\` ` +
          "in its apps.py AppConfig (as the release does), or point target-source at the release's own checkout"
      )
    }
    where.set(app, rel)
    appOf.set(appDir, app)
    folders.push({dir: rel, app, labelFrom})
    migrations.set(app, new Set(names))
  }
  if (!folders.some(f => (migrations.get(f.app)?.size ?? 0) > 0)) {
    throw sourceError(`target-source ${root} holds no Django migrations (no */migrations/ with __init__.py). ${fixHint(root)}`)
  }

  // A squashed migration's file replaces the files of the migrations it stands
  // for, which may have been deleted since; their rows (recorded when they were
  // applied, or when the squash was) belong to the release all the same.
  // (Only within apps the source has: Django squashes one app at a time.)
  for (const {appDir, names} of found) {
    const app = appOf.get(appDir)!
    for (const name of names) {
      const text = await readText(path.join(appDir, 'migrations', `${name}.py`))
      const list = text?.match(REPLACES)?.[1]
      if (!list) continue
      for (const m of list.matchAll(PAIR)) {
        const [rApp, rName] = [m[2], m[4]]
        const set = migrations.get(rApp)
        if (set && !set.has(rName)) {
          set.add(rName)
          replaced.push({app: rApp, name: rName, by: `${app}.${name}`})
        }
      }
    }
  }
  return {migrations, folders, replaced}
}

export interface SourceSelection {
  /** S, newest first (applied desc, id desc). */
  after: MigrationRow[]
  /** Everything else, newest first. */
  before: MigrationRow[]
  /** Earliest applied time within S from the source's apps (null when S has none). */
  cutoffUtc: string | null
  /**
   * Every app with rows that the source does not contain (third-party packages,
   * Django's contrib apps, Flagsmith's task_processor from v2.129.0), with how
   * many of its rows were put in S because they were applied at or after cutoffUtc.
   */
  outsideApps: {app: string; rows: number}[]
}

/**
 * S, decided by the release's source:
 * - apps the source contains: exactly their rows whose migration the source
 *   does not contain (whenever they were applied);
 * - apps it does not contain: their rows applied at or after cutoffUtc, the
 *   earliest applied time among the rows selected by the first rule that came
 *   after the newest row the source does contain. A row from before that (a
 *   migration some intermediate release added and a later one deleted) is
 *   still rolled back, but it does not date the deployment that replaced the
 *   release. With no such row there is no time to go by and nothing of theirs is selected.
 */
export function selectFromSource(rows: MigrationRow[], source: SourceMigrations): SourceSelection {
  const inSource = (r: MigrationRow): boolean => source.get(r.app)?.has(r.name) ?? false
  const exact = rows.filter(r => source.has(r.app) && !inSource(r))
  let newestOfRelease = ''
  for (const r of rows) if (inSource(r) && r.applied > newestOfRelease) newestOfRelease = r.applied
  const dating = exact.some(r => r.applied >= newestOfRelease) ? exact.filter(r => r.applied >= newestOfRelease) : exact
  let cutoffUtc: string | null = null
  for (const r of dating) if (cutoffUtc === null || r.applied < cutoffUtc) cutoffUtc = r.applied
  const outside = new Map<string, number>()
  const after: MigrationRow[] = []
  const before: MigrationRow[] = []
  for (const r of rows) {
    if (source.has(r.app)) {
      ;(source.get(r.app)!.has(r.name) ? before : after).push(r)
      continue
    }
    const selected = cutoffUtc !== null && r.applied >= cutoffUtc
    outside.set(r.app, (outside.get(r.app) ?? 0) + (selected ? 1 : 0))
    ;(selected ? after : before).push(r)
  }
  return {
    after: after.sort(newestFirst),
    before: before.sort(newestFirst),
    cutoffUtc,
    outsideApps: [...outside].map(([app, n]) => ({app, rows: n})).sort((a, b) => (a.app < b.app ? -1 : a.app > b.app ? 1 : 0))
  }
}
