import {parseDatabaseUrl} from '../../src/database.js'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {afterAll, afterEach, beforeAll, describe, expect, it} from '@jest/globals'
import {backupDatabase, defaultBackupPath, findPgDump, majorVersion} from '../../src/backup.js'
import {databaseFromEnvironment} from '../../src/database.js'
import {RollbackError} from '../../src/errors.js'
import {runProcess} from '../../src/executors/process.js'
import {createDatabase, query, testServer} from '../support/postgres.js'

const PG_BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin'

let work: string
let sourceUrl: string
beforeAll(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'backup-test-'))
  sourceUrl = await createDatabase('backup_source')
  await query(
    sourceUrl,
    `CREATE TABLE author (id serial PRIMARY KEY, name text NOT NULL, born date);
     CREATE TABLE book (id bigserial PRIMARY KEY, author_id int REFERENCES author(id), title text, price numeric(8,2),
                        published timestamptz, cover bytea, tags jsonb);
     CREATE TABLE django_migrations (id serial PRIMARY KEY, app varchar(255), name varchar(255), applied timestamptz);
     CREATE INDEX book_title ON book (title);
     INSERT INTO author (name, born) SELECT 'author ' || g, DATE '1950-01-01' + g FROM generate_series(1, 50) g;
     INSERT INTO author (name, born) VALUES ('Zoë Ümlaut, "quoted"', NULL);
     INSERT INTO book (author_id, title, price, published, cover, tags)
       SELECT 1 + g % 50, 'title ' || g || E'\\ttab', g * 1.25, TIMESTAMPTZ '2024-10-24 08:23:45.123456Z' + g * interval '1 hour',
              decode(md5(g::text), 'hex'), jsonb_build_object('n', g)
         FROM generate_series(1, 2000) g;
     INSERT INTO django_migrations (app, name, applied)
       VALUES ('shop', '0001_initial', '2024-10-24 08:23:45.123456+00'), ('shop', '0002_price', '2024-10-25 09:00:00.000001+00');`
  )
})
afterAll(() => fs.rmSync(work, {recursive: true, force: true}))

const savedPath = process.env.PATH
afterEach(() => {
  process.env.PATH = savedPath
})

function filesIn(dir: string): string[] {
  return fs.existsSync(dir) ? fs.readdirSync(dir) : []
}

/** A stand-in pg_dump: records argv and environment, then runs `body` (sh). */
function fakePgDump(dir: string, body: string, version = '15.18'): string {
  fs.mkdirSync(dir, {recursive: true})
  const file = path.join(dir, 'pg_dump')
  fs.writeFileSync(
    file,
    `#!/bin/sh
if [ "$1" = "--version" ]; then echo "pg_dump (PostgreSQL) ${version}"; exit 0; fi
printf '%s\\n' "$@" > "${dir}/argv"
env > "${dir}/env"
for a in "$@"; do case "$a" in --file=*) out="\${a#--file=}";; esac; done
${body}
`,
    {mode: 0o755}
  )
  return file
}

async function tableContents(url: string): Promise<Record<string, unknown[]>> {
  const tables = await query<{table_name: string}>(
    url,
    `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name`
  )
  const contents: Record<string, unknown[]> = {}
  for (const {table_name} of tables) {
    contents[table_name] = await query(url, `SELECT * FROM "${table_name}" ORDER BY id`)
  }
  return contents
}

describe('backupDatabase with the real pg_dump', () => {
  it('dumps a database that pg_restore brings back identical, to a 0600 file in a new directory', async () => {
    const target = path.join(work, 'new', 'nested', 'backup.dump')
    const dumpStarted = Date.now()
    const backup = await backupDatabase(parseDatabaseUrl(sourceUrl), target)
    const dumpMs = Date.now() - dumpStarted

    expect(backup.path).toBe(target)
    expect(backup.bytes).toBe(fs.statSync(target).size)
    expect(backup.bytes).toBeGreaterThan(1000)
    expect(backup.seconds).toBeGreaterThan(0)
    expect(backup.pgDump).toMatch(/\/usr\/lib\/postgresql\/\d+\/bin\/pg_dump \(PostgreSQL\) \d+\.\d+/)
    expect(fs.statSync(target).mode & 0o777).toBe(0o600)
    expect(fs.statSync(path.dirname(target)).mode & 0o777).toBe(0o700)
    expect(filesIn(path.dirname(target))).toEqual(['backup.dump']) // no temporary file left
    expect(fs.readFileSync(target).subarray(0, 5).toString()).toBe('PGDMP') // custom format

    const scratch = await createDatabase('backup_restored')
    const restoreStarted = Date.now()
    const restore = await runProcess([`${PG_BIN}/pg_restore`, '--no-owner', '--exit-on-error', `--dbname=${scratch}`, target])
    const restoreMs = Date.now() - restoreStarted
    expect(restore.stderr).toBe('')
    expect(restore.exitCode).toBe(0)

    const before = await tableContents(sourceUrl)
    const after = await tableContents(scratch)
    expect(Object.keys(after)).toEqual(['author', 'book', 'django_migrations'])
    expect(Object.fromEntries(Object.entries(after).map(([t, rows]) => [t, rows.length]))).toEqual({
      author: 51,
      book: 2000,
      django_migrations: 2
    })
    expect(after).toEqual(before)
    // Exact to the microsecond, as the rollback compares them.
    const applied = await query(
      scratch,
      `SELECT to_char(applied AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') AS t FROM django_migrations ORDER BY id`
    )
    expect(applied.map(r => r.t)).toEqual(['2024-10-24 08:23:45.123456', '2024-10-25 09:00:00.000001'])
    // Sequences and indexes come back too.
    expect((await query(scratch, `SELECT nextval('author_id_seq')::int AS n`))[0].n).toBe(52)
    expect(await query(scratch, `SELECT indexname FROM pg_indexes WHERE indexname = 'book_title'`)).toHaveLength(1)

    console.log(`backup: pg_dump ${dumpMs} ms (${backup.bytes} bytes), pg_restore ${restoreMs} ms`)
  })

  it('replaces an earlier file at the same path atomically and keeps it 0600', async () => {
    const target = path.join(work, 'again.dump')
    fs.writeFileSync(target, 'old', {mode: 0o644})
    const backup = await backupDatabase(parseDatabaseUrl(sourceUrl), target)
    expect(backup.bytes).toBeGreaterThan(1000)
    expect(fs.statSync(target).mode & 0o777).toBe(0o600)
  })

  it('explains a refused connection and leaves no partial file', async () => {
    const dir = path.join(work, 'refused')
    const error = await backupDatabase(parseDatabaseUrl('postgres://postgres:pw@127.0.0.1:1/app'), path.join(dir, 'b.dump')).catch(e => e)
    expect(error).toBeInstanceOf(RollbackError)
    expect(error.code).toBe('connection')
    expect(error.transient).toBe(true) // the one failure a caller may retry
    expect(error.message).toMatch(/^pg_dump could not connect to PostgreSQL at 127\.0\.0\.1:1\/app: check database-url's host and port/)
    expect(error.message).toContain('Nothing was changed')
    expect(error.message).toMatch(/Connection refused/)
    expect(error.message).not.toContain('pw@')
    expect(filesIn(dir)).toEqual([])
  })

  it('explains a database that does not exist', async () => {
    const {port} = testServer()
    const error = await backupDatabase(
      parseDatabaseUrl(`postgres://postgres@127.0.0.1:${port}/no_such_db`),
      path.join(work, 'x', 'b.dump')
    ).catch(e => e)
    expect(error).toBeInstanceOf(RollbackError)
    expect(error.message).toMatch(
      /^the database "no_such_db" does not exist on the PostgreSQL server at 127\.0\.0\.1:\d+\/no_such_db: check the database name/
    )
    expect(filesIn(path.join(work, 'x'))).toEqual([])
  })
})

describe('backupDatabase: how pg_dump is called and its failures explained', () => {
  const noLibDir = () => path.join(work, 'no-lib-dir')

  it('gives the connection through PG* variables: the password is never in argv', async () => {
    const bin = path.join(work, 'fake-ok')
    fakePgDump(bin, `printf 'PGDMP fake' > "$out"; exit 0`)
    process.env.PATH = `${bin}${path.delimiter}${savedPath}`
    process.env.PGSERVICE = 'inherited-must-not-leak'
    process.env.INPUT_DATABASE_URL = 'postgres://x:secret@y/z'
    try {
      const target = path.join(work, 'fake-ok-out', 'b.dump')
      const backup = await backupDatabase(
        parseDatabaseUrl(
          'postgresql://app%20user:s3cr%40t%20pw@db.example.com:6543/flag%20smith?sslmode=require&sslrootcert=/etc/ca.pem&application_name=x'
        ),
        target,
        {libDir: noLibDir()}
      )
      expect(backup.pgDump).toBe(`${bin}/pg_dump (PostgreSQL) 15.18`)
      expect(fs.readFileSync(target, 'utf8')).toBe('PGDMP fake')

      const argv = fs.readFileSync(path.join(bin, 'argv'), 'utf8').trim().split('\n')
      expect(argv).toEqual([
        '--format=custom',
        expect.stringMatching(/^--file=.*\/fake-ok-out\/\.b\.dump\.partial-[0-9a-f]+$/),
        '--no-password'
      ])
      expect(argv.join(' ')).not.toMatch(/s3cr|secret|db\.example\.com/)

      const env = Object.fromEntries(
        fs
          .readFileSync(path.join(bin, 'env'), 'utf8')
          .trim()
          .split('\n')
          .map(l => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)])
      )
      expect(env).toMatchObject({
        PGHOST: 'db.example.com',
        PGPORT: '6543',
        PGUSER: 'app user',
        PGPASSWORD: 's3cr@t pw',
        PGDATABASE: 'flag smith',
        PGSSLMODE: 'require',
        PGSSLROOTCERT: '/etc/ca.pem',
        // The URL's application_name is the application's: pg_dump's session is named as the action's.
        PGAPPNAME: 'django-migration-rollback backup',
        PGCONNECT_TIMEOUT: '15'
      })
      expect(env.PGSERVICE).toBeUndefined()
      expect(env.INPUT_DATABASE_URL).toBeUndefined()
    } finally {
      delete process.env.PGSERVICE
      delete process.env.INPUT_DATABASE_URL
    }
  })

  it('explains a pg_dump older than the server: which major version is needed and how to install it', async () => {
    const bin = path.join(work, 'fake-old')
    // The file is partly written before pg_dump notices, as with a real mismatch found late.
    fakePgDump(
      bin,
      `printf 'PGDMP partial' > "$out"
echo "pg_dump: error: aborting because of server version mismatch" >&2
echo "pg_dump: detail: server version: 16.2; pg_dump version: 15.18" >&2
exit 1`
    )
    process.env.PATH = `${bin}${path.delimiter}${savedPath}`
    const dir = path.join(work, 'fake-old-out')
    const error = await backupDatabase(parseDatabaseUrl('postgres://app:pw@db:5432/app'), path.join(dir, 'b.dump'), {
      libDir: noLibDir()
    }).catch(e => e)
    expect(error).toBeInstanceOf(RollbackError)
    expect(error.message).toContain(`pg_dump 15.18 (${bin}/pg_dump) is older than the PostgreSQL server (16.2) at db:5432/app`)
    expect(error.code).toBe('version-mismatch')
    expect(error.transient).toBe(false)
    expect(error.message).toContain('the backup needs pg_dump 16 or newer')
    expect(error.message).toContain('sudo apt-get install -y postgresql-client-16')
    expect(error.message).toContain('/usr/share/postgresql-common/pgdg/apt.postgresql.org.sh')
    expect(error.message).toContain('pg_dump: detail: server version: 16.2; pg_dump version: 15.18')
    expect(filesIn(dir)).toEqual([])
  })

  it('explains a full disk and removes the partial file', async () => {
    const bin = path.join(work, 'fake-full')
    fakePgDump(
      bin,
      `head -c 100000 /dev/zero > "$out"
echo "pg_dump: error: could not write to output file: No space left on device" >&2
exit 1`
    )
    process.env.PATH = `${bin}${path.delimiter}${savedPath}`
    const dir = path.join(work, 'fake-full-out')
    const error = await backupDatabase(parseDatabaseUrl('postgres://app:pw@db/app'), path.join(dir, 'b.dump'), {libDir: noLibDir()}).catch(
      e => e
    )
    expect(error).toBeInstanceOf(RollbackError)
    expect(error.code).toBe('disk-full')
    expect(error.transient).toBe(false)
    expect(error.message).toMatch(/^the disk holding .*b\.dump filled up during the dump \(\d+ MiB free now\): choose a backup-path/)
    expect(filesIn(dir)).toEqual([])
  })

  it('explains rejected credentials', async () => {
    const bin = path.join(work, 'fake-auth')
    fakePgDump(
      bin,
      `echo 'pg_dump: error: connection to server at "db" (10.0.0.5), port 5432 failed: FATAL:  password authentication failed for user "app"' >&2
exit 1`
    )
    process.env.PATH = `${bin}${path.delimiter}${savedPath}`
    const error = await backupDatabase(parseDatabaseUrl('postgres://app:pw@db/app'), path.join(work, 'auth', 'b.dump'), {
      libDir: noLibDir()
    }).catch(e => e)
    expect(error.code).toBe('authentication')
    expect(error.transient).toBe(false)
    expect(error.message).toMatch(/^pg_dump could not log in to PostgreSQL at db:5432\/app: check the user and password/)
  })

  it('says how to install pg_dump when there is none', async () => {
    process.env.PATH = path.join(work, 'empty-bin')
    const error = await backupDatabase(parseDatabaseUrl('postgres://app:pw@db/app'), path.join(work, 'none', 'b.dump'), {
      libDir: noLibDir()
    }).catch(e => e)
    expect(error).toBeInstanceOf(RollbackError)
    expect(error.code).toBe('not-installed')
    expect(error.transient).toBe(false)
    expect(error.message).toContain('needs pg_dump, and none was found')
    expect(error.message).toContain('sudo apt-get install -y postgresql-client-NN')
    expect(filesIn(path.join(work, 'none'))).toEqual([])
  })

  it('prefers the newest major version in /usr/lib/postgresql/*/bin over PATH', async () => {
    const lib = path.join(work, 'lib-postgresql')
    for (const v of ['9.6', '10', '15', '16']) fakePgDump(path.join(lib, v, 'bin'), 'exit 0', v)
    fs.mkdirSync(path.join(lib, '17', 'bin'), {recursive: true}) // a server-only leftover without pg_dump
    fs.mkdirSync(path.join(lib, 'extension'), {recursive: true})
    expect(await findPgDump(lib)).toBe(path.join(lib, '16', 'bin', 'pg_dump'))
    fs.rmSync(path.join(lib, '16'), {recursive: true})
    fs.rmSync(path.join(lib, '15'), {recursive: true})
    expect(await findPgDump(lib)).toBe(path.join(lib, '10', 'bin', 'pg_dump'))
    const onPath = path.join(work, 'on-path')
    fakePgDump(onPath, 'exit 0')
    const savedPath = process.env.PATH
    process.env.PATH = `${path.join(work, 'empty-bin')}:${onPath}`
    try {
      expect(await findPgDump(path.join(work, 'no-lib-dir'))).toBe(path.join(onPath, 'pg_dump'))
    } finally {
      process.env.PATH = savedPath
    }
  })

  it('reads major versions the way PostgreSQL numbers them', () => {
    expect(majorVersion('16.2 (Ubuntu 16.2-1.pgdg22.04+1)')).toBe('16')
    expect(majorVersion('17beta1')).toBe('17')
    expect(majorVersion('9.6.24')).toBe('9.6')
  })

  it('names the default file after the database and the time, under RUNNER_TEMP', () => {
    const when = new Date('2024-10-24T08:23:45.678Z')
    expect(defaultBackupPath(parseDatabaseUrl('postgres://u:p@h/flagsmith'), when, {RUNNER_TEMP: '/home/runner/work/_temp'})).toBe(
      '/home/runner/work/_temp/django-migration-rollback/flagsmith-20241024T082345Z.dump'
    )
    expect(defaultBackupPath(databaseFromEnvironment({PGDATABASE: 'app'}), when, {RUNNER_TEMP: '/t'})).toBe(
      '/t/django-migration-rollback/app-20241024T082345Z.dump'
    )
  })
})
