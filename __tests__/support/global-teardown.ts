import {stopPostgres} from './postgres.js'

export default async function globalTeardown(): Promise<void> {
  const raw = process.env.ROLLBACK_TEST_PG
  if (raw) stopPostgres(JSON.parse(raw))
}
