// ESLint flat config: eslint's and typescript-eslint's recommended rules, no type-aware rules.
import js from '@eslint/js'
import globals from 'globals'
import tseslint from 'typescript-eslint'

export default tseslint.config(
  {ignores: ['dist/', 'node_modules/', '.venv/', 'coverage/', '__tests__/fixtures/']},
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: 'module',
      globals: {...globals.node}
    }
  },
  {
    files: ['__tests__/**', 'bench/**'],
    languageOptions: {globals: {...globals.jest}}
  }
)
