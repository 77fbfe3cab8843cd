/**
 * The hazard fixture itself (__tests__/fixtures/hazard-project), with plain
 * `manage.py migrate` and no action code: each catalog reverse fails on the bad
 * data writeBadData writes after B, on exactly the migration and with exactly the
 * PostgreSQL message HAZARDS says; after fixBadData the rollback to A goes
 * through and gives back A's schema and history. If Django or the fixture drifts,
 * this fails before the tests that rely on it mislead anyone. On Django 5.2 and
 * 3.2: the migrations are written for both.
 */
import {columns, tables} from './django-project.js'
import {
  deployHazardRelease,
  fixBadData,
  HAZARD_KINDS,
  HAZARDS,
  LOST_LABELS,
  LOST_SKU_VALUES,
  manageHazard,
  productRows,
  snapshot,
  writeBadData
} from './hazard-project.js'
import {createDatabase, query} from './postgres.js'
import {djangoPythons, usePython} from './python.js'

const lastUnapplying = (stdout: string): string | undefined => [...stdout.matchAll(/Unapplying (\S+)\.\.\./g)].map(m => m[1]).pop()

describe.each(djangoPythons())('$label', ({bin}) => {
  usePython(bin)

  test('each reverse fails on its bad data with the documented message, and the repaired database rolls back to exactly A', async () => {
    const db = await createDatabase('hazard_fixture')
    await deployHazardRelease(db, 'A')
    const atA = await snapshot(db)
    await deployHazardRelease(db, 'B')
    await writeBadData(db)

    const [counts] = await query<{products: number; skus: number; labels: number; suppliers: number}>(
      db,
      `SELECT (SELECT count(*) FROM catalog_product)::int AS products, (SELECT count(sku) FROM catalog_product)::int AS skus,
              (SELECT count(*) FROM catalog_label)::int AS labels, (SELECT count(*) FROM catalog_supplier)::int AS suppliers`
    )
    expect(counts).toEqual({
      products: productRows(),
      skus: LOST_SKU_VALUES,
      labels: LOST_LABELS,
      suppliers: HAZARDS['not-null-no-default'].rows
    })

    // Newest reverse first: each `migrate catalog TARGET` gets past the reverses already
    // repaired and stops on the next hazard's migration, which stays applied.
    for (const [i, kind] of HAZARD_KINDS.entries()) {
      const hazard = HAZARDS[kind]
      const before = await snapshot(db)
      const result = await manageHazard(db, ['migrate', 'catalog', hazard.target], {check: false})
      expect({kind, exitCode: result.exitCode, failedOn: lastUnapplying(result.stdout)}).toEqual({
        kind,
        exitCode: 1,
        failedOn: hazard.migration
      })
      expect(result.stderr).toContain(hazard.error)
      const after = await snapshot(db)
      expect(after.history).toContain(hazard.migration)
      // The first reverse to run is the one that fails, and it is atomic: nothing changed.
      if (i === 0) expect(after).toEqual(before)
      await fixBadData(db, [kind])
    }

    // ledger.0002_backfill is irreversible for a plain migrate, and refusing changes nothing.
    const beforeLedger = await snapshot(db)
    const ledger = await manageHazard(db, ['migrate', 'ledger', '0001_initial'], {check: false})
    expect(ledger.exitCode).toBe(1)
    expect(ledger.stderr).toMatch(/IrreversibleError: Operation <RunPython .*> in ledger\.0002_backfill is not reversible/)
    expect(await snapshot(db)).toEqual(beforeLedger)

    // Release A's steps, run on this database, migrate it backwards (search.0002's
    // DROP INDEX CONCURRENTLY outside a transaction, ledger's RunPython as a no-op).
    await deployHazardRelease(db, 'A', {env: {LEDGER_BACKFILL_REVERSIBLE: '1'}})
    const back = await snapshot(db)
    expect(back.history).toEqual(atA.history)
    expect(back.schema).toEqual(atA.schema)
    // The losses are real: the labels' table and the sku and memo columns are gone.
    expect(await tables(db)).not.toContain('catalog_label')
    expect(await columns(db, 'catalog_product')).toEqual(['code', 'id', 'name', 'slug'])
    expect(await columns(db, 'ledger_entry')).toEqual(['amount', 'id'])
    expect(await columns(db, 'catalog_supplier')).toEqual(['id', 'legacy_flag', 'name'])
    expect(JSON.parse(back.data.catalog_product)).toHaveLength(productRows())
  })
})
