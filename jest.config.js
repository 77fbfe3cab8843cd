/** Jest runs the TypeScript as ESM (the Actions toolkit is ESM-only); docs/development.md says why each setting is here. */
export default {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  transform: {'^.+\\.ts$': ['ts-jest', {useESM: true}]},
  moduleNameMapper: {'^(\\.{1,2}/.*)\\.js$': '$1'},
  testMatch: ['**/__tests__/**/*.test.ts'],
  globalSetup: './__tests__/support/global-setup.mjs',
  globalTeardown: './__tests__/support/global-teardown.mjs',
  testTimeout: 120000,
  maxWorkers: 2
}
