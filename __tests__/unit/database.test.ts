import {databaseError, databaseFromEnvironment, describePostgres, parseDatabaseUrl} from '../../src/database.js'
import {RollbackError} from '../../src/errors.js'

describe('parseDatabaseUrl', () => {
  it('names the server without credentials and gives libpq the rest', () => {
    const db = parseDatabaseUrl('postgres://u:p%40ss@db.internal:6543/app?sslmode=require&application_name=x')
    expect(db.where).toBe('db.internal:6543/app')
    expect(describePostgres(db)).toBe('PostgreSQL at db.internal:6543/app')
    expect(db.name).toBe('app')
    expect(db.libpq).toEqual({
      PGHOST: 'db.internal',
      PGPORT: '6543',
      PGUSER: 'u',
      PGPASSWORD: 'p@ss',
      PGDATABASE: 'app',
      PGSSLMODE: 'require',
      PGAPPNAME: 'x'
    })
  })

  it('takes a Unix socket directory from ?host= and IPv6 literals without brackets', () => {
    expect(parseDatabaseUrl('postgres:///flagsmith?host=/var/run/postgresql&user=app').libpq.PGHOST).toBe('/var/run/postgresql')
    expect(parseDatabaseUrl('postgresql://app@[::1]:5432/x').where).toBe('::1:5432/x')
  })

  it.each([
    ['not a url', 'database-url is not a URL'],
    ['mysql://u:p@h/db', 'database-url has scheme "mysql:"'],
    ['postgres:///db', 'database-url has no host']
  ])('refuses %j naming the input', (value, message) => {
    expect(() => parseDatabaseUrl(value)).toThrow(message)
    expect(() => parseDatabaseUrl(value)).toThrow(RollbackError)
  })

  it('without a URL names what the PG* variables point at, and passes nothing of its own to libpq', () => {
    const db = databaseFromEnvironment({PGHOST: 'db', PGDATABASE: 'app', PGPASSWORD: 'secret'})
    expect(db).toEqual({where: 'db:5432/app (PG* variables)', name: 'app', libpq: {}})
  })
})

describe('databaseError', () => {
  const db = parseDatabaseUrl('postgres://u:secret@db.internal:5432/app')
  it.each([
    ['ECONNREFUSED', 'could not connect to PostgreSQL at db.internal:5432/app: connection refused'],
    ['28P01', 'rejected the credentials: check the user and password in database-url'],
    ['42P01', 'there is no django_migrations table in db.internal:5432/app']
  ])('%s says what to check, without the password', (code, message) => {
    const error = databaseError(Object.assign(new Error('boom'), {code}), db)
    expect(error.kind).toBe('database')
    expect(error.message).toContain(message)
    expect(error.message).not.toContain('secret')
  })
})
