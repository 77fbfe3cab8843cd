/**
 * Pure: two `pg_dump --schema-only` texts compared object by object, ignoring
 * what does not matter for the application (comments, SET lines, ownership,
 * privileges, psql meta lines, the order of statements and of columns), and
 * naming what differs ("column public.catalog_product.hotfix: only in the database").
 */

export interface SchemaObject {
  /** "table public.catalog_product", "index public.catalog_product_slug_idx", ... */
  id: string
  /** The table the object belongs to (its own name for a table), without schema; null for others. */
  table: string | null
  /** The normalised statement. */
  text: string
}

export interface SchemaDifference {
  /** e.g. "column public.catalog_product.hotfix" */
  object: string
  change: 'only in the database' | 'missing from the database' | 'differs'
  expected: string | null
  actual: string | null
}

export interface SchemaComparison {
  equal: boolean
  differences: SchemaDifference[]
  /** Objects compared. */
  compared: number
  /** Tables left out of the comparison (a dry run: the ones the plan changes). */
  skippedTables: string[]
}

/** Splits SQL into statements at `;` outside quotes, dollar quotes and comments; `--` comments are dropped. */
export function splitStatements(sql: string): string[] {
  const statements: string[] = []
  let current = ''
  let i = 0
  while (i < sql.length) {
    const c = sql[i]
    if (c === '-' && sql[i + 1] === '-') {
      const end = sql.indexOf('\n', i)
      i = end === -1 ? sql.length : end + 1
      current += '\n'
      continue
    }
    if (c === '\\' && (i === 0 || sql[i - 1] === '\n')) {
      // psql meta-command (\restrict, \connect): a line of its own, not SQL.
      const end = sql.indexOf('\n', i)
      i = end === -1 ? sql.length : end + 1
      continue
    }
    if (c === "'" || c === '"') {
      const end = sql.indexOf(c, i + 1)
      const stop = end === -1 ? sql.length : end + 1
      current += sql.slice(i, stop)
      i = stop
      continue
    }
    if (c === '$') {
      const tag = /^\$[A-Za-z_0-9]*\$/.exec(sql.slice(i))
      if (tag) {
        const end = sql.indexOf(tag[0], i + tag[0].length)
        const stop = end === -1 ? sql.length : end + tag[0].length
        current += sql.slice(i, stop)
        i = stop
        continue
      }
    }
    if (c === ';') {
      if (current.trim()) statements.push(current.trim())
      current = ''
      i++
      continue
    }
    current += c
    i++
  }
  if (current.trim()) statements.push(current.trim())
  return statements
}

const normalise = (statement: string): string => statement.replace(/\s+/g, ' ').replace(/\( /g, '(').replace(/ \)/g, ')').trim()

/** Statements that say nothing about the schema an application sees. */
function ignored(statement: string): boolean {
  return (
    /^SET\s/i.test(statement) ||
    /^SELECT pg_catalog\.set_config\(/i.test(statement) ||
    /\sOWNER TO\s/i.test(statement) ||
    /^(GRANT|REVOKE)\s/i.test(statement) ||
    /^ALTER DEFAULT PRIVILEGES\s/i.test(statement)
  )
}

const bare = (name: string): string => name.replace(/^.*\./, '').replace(/"/g, '')

/** Columns of a CREATE TABLE body, split at top-level commas. */
function tableParts(body: string): string[] {
  const parts: string[] = []
  let depth = 0
  let current = ''
  for (const c of body) {
    if (c === '(') depth++
    if (c === ')') depth--
    if (c === ',' && depth === 0) {
      parts.push(current.trim())
      current = ''
    } else current += c
  }
  if (current.trim()) parts.push(current.trim())
  return parts
}

const NAME = String.raw`((?:"[^"]+"|[\w$]+)(?:\.(?:"[^"]+"|[\w$]+))?)`

/** The objects of a dump, by identity; a table also gives one object per column and per inline constraint. */
export function parseSchema(dump: string): Map<string, SchemaObject> {
  const objects = new Map<string, SchemaObject>()
  const add = (id: string, table: string | null, text: string): void => {
    // Two statements on one object (rare: e.g. two ALTERs): keep both, in a stable order.
    const existing = objects.get(id)
    objects.set(id, {id, table, text: existing ? [existing.text, text].sort().join('; ') : text})
  }
  for (const raw of splitStatements(dump)) {
    if (ignored(raw)) continue
    const s = normalise(raw)
    let m: RegExpExecArray | null
    if ((m = new RegExp(String.raw`^CREATE (?:UNLOGGED )?TABLE ${NAME} \((.*)\)(.*)$`, 'is').exec(s))) {
      const [, name, body, rest] = m
      const table = bare(name)
      add(`table ${name}`, table, `CREATE TABLE ${name}${rest ? ` ${rest.trim()}` : ''}`)
      for (const part of tableParts(body)) {
        const constraint = /^CONSTRAINT (\S+) (.*)$/i.exec(part)
        if (constraint) add(`constraint ${name}.${constraint[1]}`, table, constraint[2])
        else add(`column ${name}.${part.split(' ')[0]}`, table, part)
      }
    } else if ((m = new RegExp(String.raw`^ALTER TABLE (?:ONLY )?${NAME} ADD CONSTRAINT (\S+) (.*)$`, 'is').exec(s))) {
      add(`constraint ${m[1]}.${m[2]}`, bare(m[1]), m[3])
    } else if ((m = new RegExp(String.raw`^ALTER TABLE (?:ONLY )?${NAME} ALTER COLUMN (\S+) (.*)$`, 'is').exec(s))) {
      add(`column ${m[1]}.${m[2]} (altered)`, bare(m[1]), m[3])
    } else if ((m = new RegExp(String.raw`^CREATE (?:UNIQUE )?INDEX (\S+) ON (?:ONLY )?${NAME} (.*)$`, 'is').exec(s))) {
      add(`index ${m[1]}`, bare(m[2]), s)
    } else if ((m = new RegExp(String.raw`^CREATE SEQUENCE ${NAME}(.*)$`, 'is').exec(s))) {
      add(`sequence ${m[1]}`, null, s)
    } else if ((m = new RegExp(String.raw`^ALTER SEQUENCE ${NAME} OWNED BY ${NAME}\.(\S+)$`, 'is').exec(s))) {
      add(`sequence ${m[1]} (owned by)`, bare(m[2]), s)
    } else if (
      (m = new RegExp(
        String.raw`^CREATE (?:OR REPLACE )?(VIEW|MATERIALIZED VIEW|FUNCTION|TRIGGER|TYPE|DOMAIN|EXTENSION|SCHEMA) (?:IF NOT EXISTS )?${NAME}`,
        'is'
      ).exec(s))
    ) {
      const on = /\sON (?:ONLY )?((?:"[^"]+"|[\w$]+)(?:\.(?:"[^"]+"|[\w$]+))?)/i.exec(s)
      add(`${m[1].toLowerCase()} ${m[2]}`, m[1].toUpperCase() === 'TRIGGER' && on ? bare(on[1]) : null, s)
    } else {
      add(`statement ${s.slice(0, 80)}`, null, s)
    }
  }
  return objects
}

/** Whether a text looks like `pg_dump --schema-only` output at all. */
export function looksLikePgDump(text: string): boolean {
  return /--\s*PostgreSQL database dump/i.test(text) || /^CREATE (TABLE|SCHEMA|SEQUENCE|EXTENSION)\s/im.test(text)
}

/** Compares the dump expected (of the release being restored) with the database's; tables in `skipTables` are left out. */
export function compareSchemas(expectedDump: string, actualDump: string, skipTables: ReadonlySet<string> = new Set()): SchemaComparison {
  const expected = parseSchema(expectedDump)
  const actual = parseSchema(actualDump)
  const skipped = new Set<string>()
  const keep = (o: SchemaObject): boolean => {
    if (o.table && skipTables.has(o.table)) {
      skipped.add(o.table)
      return false
    }
    return true
  }
  const differences: SchemaDifference[] = []
  let compared = 0
  for (const [id, e] of expected) {
    if (!keep(e)) continue
    compared++
    const a = actual.get(id)
    if (!a) differences.push({object: id, change: 'missing from the database', expected: e.text, actual: null})
    else if (a.text !== e.text) differences.push({object: id, change: 'differs', expected: e.text, actual: a.text})
  }
  for (const [id, a] of actual) {
    if (expected.has(id) || !keep(a)) continue
    compared++
    differences.push({object: id, change: 'only in the database', expected: null, actual: a.text})
  }
  differences.sort((x, y) => x.object.localeCompare(y.object))
  return {equal: differences.length === 0, differences, compared, skippedTables: [...skipped].sort()}
}

/** Every identifier a plan's SQL names (quoted or not): the tables a dry run cannot compare yet. */
export function tablesNamedIn(sql: string[]): Set<string> {
  const names = new Set<string>()
  for (const line of sql) {
    if (line.startsWith('--')) continue
    for (const m of line.matchAll(/"([^"]+)"|\b([A-Za-z_][\w$]*)\b/g)) names.add(m[1] ?? m[2])
  }
  return names
}

/** One line per difference, e.g. "column public.t.hotfix: only in the database". */
export function describeDifference(d: SchemaDifference): string {
  return `${d.object}: ${d.change}`
}

/** The differences as a diff a person can read: - expected, + the database. */
export function differenceText(differences: SchemaDifference[]): string {
  return differences
    .map(d => [`@@ ${d.object}`, ...(d.expected ? [`- ${d.expected}`] : []), ...(d.actual ? [`+ ${d.actual}`] : [])].join('\n'))
    .join('\n')
}
