/**
 * The action's `post:` step (action.yml: `post: dist/post/index.js`,
 * `post-if: always()`). The main step removes its secret files itself; this
 * removes them when the main step was cancelled or killed before it could.
 */
import * as core from '@actions/core'
import {removeSavedSecretDirs} from './secret-files.js'

try {
  const removed = removeSavedSecretDirs()
  if (removed.length > 0)
    core.info(`Removed ${removed.length} temporary secret director${removed.length === 1 ? 'y' : 'ies'} left by the main step.`)
} catch (error) {
  // Never fail the job in cleanup; say what is left so someone can remove it.
  core.warning(`Could not remove the temporary secret files: ${error instanceof Error ? error.message : String(error)}`)
}
