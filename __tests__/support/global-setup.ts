import {startPostgres} from './postgres.js'

export default async function globalSetup(): Promise<void> {
  const server = await startPostgres()
  process.env.ROLLBACK_TEST_PG = JSON.stringify(server)
}
