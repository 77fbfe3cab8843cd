import {stopPostgres} from './global-setup.mjs'

export default async function globalTeardown() {
  if (process.env.ROLLBACK_TEST_PG) stopPostgres(JSON.parse(process.env.ROLLBACK_TEST_PG))
}
