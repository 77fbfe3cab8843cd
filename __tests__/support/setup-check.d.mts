/** Types of setup-check.mjs (plain JavaScript so that it runs before `npm ci`). */
export type Need = 'node_modules' | 'venv' | 'venv32' | 'postgres' | 'dist' | 'ssh' | 'kubectl' | 'chromium'
export const REPO_ROOT: string
export const PG_BIN: string
export const SSHD_BIN: string
export const RUN_SETUP: string
export const RUN_NPM_CI: string
export const VENV_PYTHON: string
export const VENV32_PYTHON: string
export const PROFILES: Record<'bench' | 'summary-pictures' | 'demo' | 'test' | 'test-files', Need[]>
export function shown(file: string): string
export function isExecutable(file: string): boolean
export function which(name: string): string | undefined
export function setupHint(program: string): string | undefined
export function missingSetup(needs: readonly Need[]): string[]
export function requireSetup(what: string, needs: readonly Need[]): void
