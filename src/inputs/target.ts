/** target-datetime or target-version (with the deployments of an environment, or a checkout of the release). */
import type {Target} from '../config.js'
import {parseCutoff} from '../cutoff.js'
import {inputError} from '../errors.js'
import {type InputReader, required, workspacePath} from './read.js'

const VERSION_TAG = /^[A-Za-z0-9_.][A-Za-z0-9_./+-]*$/
const REPOSITORY = /^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/

export function readTarget(read: InputReader): Target {
  const datetime = read('target-datetime')
  const version = read('target-version')
  const source = read('target-source')
  if (datetime && version) {
    throw inputError('target-datetime and target-version are both set: give exactly one, the time to roll back to or the release tag')
  }
  if (datetime && source) {
    throw inputError(
      'target-source is set with target-datetime: target-source goes with target-version (the tag of the checked-out release)'
    )
  }
  if (datetime) return {kind: 'datetime', cutoff: parseCutoff(datetime)}
  if (!version && source) {
    throw inputError(
      `target-source is set but target-version is empty: give the tag of the release checked out at ${JSON.stringify(source)} ` +
        '(e.g. target-version: v2.150.0), which the summary and the outputs name'
    )
  }
  if (!version) {
    throw inputError(
      'target-datetime and target-version are both empty: give the time the release you are going back to was ' +
        'replaced (e.g. 2024-10-24T08:23:45Z) or its tag (e.g. v2.150.0)'
    )
  }
  if (!VERSION_TAG.test(version) || version.includes('..')) {
    throw inputError(`target-version ${JSON.stringify(version)} is not valid: expected a release tag such as v2.150.0`)
  }
  if (source) return {kind: 'source', version, path: workspacePath(source)}
  const environment = required(
    read,
    'environment',
    'target-version is resolved from the GitHub deployments of an environment: name it (e.g. production), ' +
      'or give target-source, a checkout of the release'
  )
  const token = required(
    read,
    'github-token',
    'reading deployments needs a token with deployments: read (the default is the workflow token, github.token)'
  )
  const repository = read('deployments-repository') || process.env.GITHUB_REPOSITORY || ''
  if (!REPOSITORY.test(repository)) {
    throw inputError(
      `deployments-repository ${JSON.stringify(repository)} is not valid: expected owner/name (default: the workflow's repository)`
    )
  }
  const apiUrl = (process.env.GITHUB_API_URL || 'https://api.github.com').replace(/\/+$/, '')
  if (!/^https?:\/\//.test(apiUrl) || !URL.canParse(apiUrl)) {
    throw inputError(
      `GITHUB_API_URL ${JSON.stringify(apiUrl)} is not a URL: expected the runner's API address, such as https://api.github.com ` +
        'or https://HOST/api/v3 on GitHub Enterprise Server (unset it to use api.github.com)'
    )
  }
  return {kind: 'deployments', version, environment, token, repository, apiUrl}
}
