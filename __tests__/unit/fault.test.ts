import type {DjangoReport, Hazard} from '../../src/django/commands.js'
import {describeFault, faultKind, hazardFix, hazardRows} from '../../src/fault.js'

const hazard = (overrides: Partial<Hazard> = {}): Hazard => ({
  migration: 'catalog.0002_product_name_nullable',
  operation: 'Alter field name on product',
  kind: 'not-null',
  table: 'catalog_product',
  columns: ['name'],
  detail: 'NOT NULL is put back on catalog_product.name',
  rows: 1,
  counted: true,
  ...overrides
})

const report = (error: DjangoReport['error'], hazards: Hazard[] = []): DjangoReport =>
  ({hazards, rolledBack: ['ledger.0002_backfill'], stoppedBefore: null, error}) as unknown as DjangoReport

describe('faultKind', () => {
  it.each([
    ['55P03', undefined, 'lock-timeout'],
    ['23502', undefined, 'data'],
    ['23505', undefined, 'data'],
    ['22001', undefined, 'data'],
    ['42P01', undefined, 'error'],
    [null, 'IrreversibleError', 'irreversible'],
    [null, '_StoppedBeforeIrreversible', 'irreversible'],
    [null, 'CommandTimeout', 'timeout'],
    [null, 'ValueError', 'error']
  ])('%s / %s is %s', (sqlstate, exception, kind) => {
    expect(faultKind(sqlstate, exception)).toBe(kind)
  })
})

describe('hazardRows and hazardFix', () => {
  it('say which rows and what to do, per kind', () => {
    expect(hazardRows(hazard())).toBe('1 row of catalog_product has name NULL')
    expect(hazardRows(hazard({rows: 3}))).toBe('3 rows of catalog_product have name NULL')
    expect(hazardRows(hazard({kind: 'max-length', columns: ['code'], maxLength: 20}))).toBe(
      '1 row of catalog_product has code longer than 20 characters'
    )
    expect(hazardRows(hazard({kind: 'unique', columns: ['slug'], rows: 2}))).toBe(
      '2 rows of catalog_product share a value of (slug) with another row'
    )
    expect(hazardRows(hazard({kind: 'not-null-no-default', table: 'catalog_supplier', columns: ['legacy_flag'], rows: 2}))).toMatch(
      /^catalog_supplier has 2 rows, and legacy_flag comes back NOT NULL/
    )
    expect(hazardFix(hazard())).toMatch(/UPDATE catalog_product SET name = \.\.\. WHERE name IS NULL/)
    expect(hazardFix(hazard({kind: 'max-length', columns: ['code'], maxLength: 20}))).toMatch(/left\(code, 20\)/)
  })
})

describe('describeFault', () => {
  it('matches the failing migration to its counted hazard', () => {
    const failure = describeFault(
      report(
        {
          message: 'IntegrityError: column "name" of relation "catalog_product" contains null values',
          pgMessage: 'column "name" of relation "catalog_product" contains null values',
          sqlstate: '23502',
          migration: 'catalog.0002_product_name_nullable',
          operation: 'Alter field name on product'
        },
        [hazard({migration: 'catalog.0005_x', kind: 'max-length'}), hazard()]
      ),
      10
    )
    expect(failure).toEqual(
      expect.objectContaining({
        kind: 'data',
        migration: 'catalog.0002_product_name_nullable',
        message: 'column "name" of relation "catalog_product" contains null values',
        rolledBack: ['ledger.0002_backfill']
      })
    )
    expect(failure?.hazard?.migration).toBe('catalog.0002_product_name_nullable')
    expect(failure?.fix).toMatch(/WHERE name IS NULL/)
  })

  it('a lock timeout points at the blocking session and lock-timeout', () => {
    const failure = describeFault(
      report({message: 'OperationalError: canceling statement due to lock timeout', sqlstate: '55P03', migration: 'a.b'}),
      2
    )
    expect(failure?.kind).toBe('lock-timeout')
    expect(failure?.hazard).toBeNull()
    expect(failure?.fix).toMatch(/lock-timeout \(2 s\)/)
    expect(failure?.fix).toMatch(/pg_terminate_backend/)
  })

  it('a data fault with no matching hazard still says what to do; no error, no failure', () => {
    const failure = describeFault(report({message: 'DataError: x', sqlstate: '22P02', migration: 'a.b'}), 10)
    expect(failure?.kind).toBe('data')
    expect(failure?.hazard).toBeNull()
    expect(failure?.fix).toMatch(/does not fit the earlier schema/)
    expect(describeFault(report(null), 10)).toBeNull()
  })
})
