/**
 * `target-version` through GitHub deployments: the cutoff is the moment the
 * environment moved past the release, i.e. the creation time of the first
 * deployment after the release's latest deployment there. Everything the
 * database applied from then on came with later releases.
 *
 * Through @actions/github's octokit at GITHUB_API_URL (so GitHub Enterprise
 * Server works), which sends every request through the runner's proxy:
 * HTTPS_PROXY (HTTP_PROXY for an http:// API URL), except for NO_PROXY hosts
 * and loopback addresses. @actions/github decides that once, when it is
 * imported, for the GITHUB_API_URL of that moment; the target's apiUrl is read
 * from the same variable, so the decision is the one for this URL. It is
 * imported only here, when a deployment is to be looked up: at import it also
 * parses GITHUB_API_URL, which inputs.ts has checked by then.
 */
import type * as github from '@actions/github'
import type {Cutoff, DeploymentsTarget} from '../config.js'
import {parseCutoff} from '../cutoff.js'
import {RollbackError} from '../errors.js'

export interface DeploymentRef {
  id: number
  /** As deployed: a tag, `refs/tags/...`, a branch or a sha. */
  ref: string
  sha: string
  /** GitHub's created_at, e.g. `2024-10-24T08:23:45Z`. */
  createdAt: string
  /** Login of whoever (or whichever app) created the deployment. */
  creator: string | null
  /** The deployment's REST API url (GitHub has no web page per deployment). */
  url: string
}

export interface DeploymentsResolution {
  version: string
  environment: string
  repository: string
  /** The latest deployment of the version in the environment. */
  target: DeploymentRef
  /** The first deployment in the environment after the target; null: nothing was deployed since, nothing to roll back. */
  next: DeploymentRef | null
  /** next.createdAt as a cutoff; null when next is null. */
  cutoff: Cutoff | null
  /** The commit the tag points to; null when the tag could not be resolved (then only refs matched). */
  tagSha: string | null
}

type Octokit = ReturnType<typeof github.getOctokit>

/** The fields of GitHub's deployment object this module reads. */
interface ApiDeployment {
  id: number
  ref: string
  sha: string
  environment: string
  created_at: string
  creator: {login: string} | null
  url: string
}

/** What octokit throws (@octokit/request-error's RequestError), duck-typed: that package is not a dependency of ours. */
interface RequestError extends Error {
  status: number
  /** Absent when no answer came: the request never reached the API (network, proxy, timeout). */
  response?: {headers: Record<string, string | undefined>; data: unknown}
}

const PER_PAGE = 100
const RELEASES_SHOWN = 10
const REQUEST_TIMEOUT_MS = 30_000
const API_VERSION = '2022-11-28'
/** The same pattern octokit's paginate follows, so the check below looks at the page it will request. */
const NEXT_LINK = /<([^<>]+)>;\s*rel="next"/

export async function resolveFromDeployments(t: DeploymentsTarget, log: (line: string) => void = () => {}): Promise<DeploymentsResolution> {
  try {
    return await resolve(t, log)
  } catch (error) {
    // Belt and braces: no path is meant to print the token, but nothing that leaves here may carry it.
    const e = error as {message?: unknown} | undefined
    if (typeof e?.message === 'string' && e.message.includes(t.token)) {
      e.message = e.message.split(t.token).join('***')
    }
    throw error
  }
}

async function resolve(t: DeploymentsTarget, log: (line: string) => void): Promise<DeploymentsResolution> {
  const tag = t.version.replace(/^refs\/tags\//, '')
  const [owner, repo] = t.repository.split('/')
  const octokit = await client(t)

  const tagSha = await resolveTagSha(octokit, t, tag, log)
  const isRelease = (d: ApiDeployment): boolean => d.ref === tag || d.ref === `refs/tags/${tag}` || (tagSha !== null && d.sha === tagSha)

  const origin = new URL(t.apiUrl).origin
  const pages = octokit.paginate.iterator(octokit.rest.repos.listDeployments, {owner, repo, environment: t.environment, per_page: PER_PAGE})
  /** Distinct refs, newest first, for the message when the release is not among them. */
  const releases: string[] = []
  const followed = new Set<string>()
  let newer: ApiDeployment | null = null // in the API's newest-first order, the one just before the current
  let count = 0
  let page = 0
  try {
    for await (const response of pages) {
      page++
      followed.add(response.url)
      const deployments = response.data as ApiDeployment[]
      log(`Deployments of ${JSON.stringify(t.environment)} in ${t.repository}, page ${page}: ${deployments.length}`)
      for (const deployment of deployments) {
        if (isRelease(deployment)) {
          // The API lists newest first, so the first match is the latest deployment of the release
          // and the one listed just before it is the first deployment after it: no need to read further.
          const target = toRef(deployment)
          const next = newer ? toRef(newer) : null
          const cutoff = next ? parseCutoff(next.createdAt, `created_at of deployment ${next.id}`) : null
          log(`${tag} was last deployed to ${t.environment} as deployment ${target.id} (${target.ref}) at ${target.createdAt}`)
          log(
            next
              ? `The next deployment, ${next.id} (${next.ref}), was created at ${next.createdAt}: that is the cutoff`
              : `Nothing was deployed to ${t.environment} after it`
          )
          return {version: tag, environment: t.environment, repository: t.repository, target, next, cutoff, tagSha}
        }
        newer = deployment
        count++
        const release = deployment.ref.replace(/^refs\/tags\//, '')
        if (releases.length < RELEASES_SHOWN && !releases.includes(release)) releases.push(release)
      }
      // Checked before paginate requests the next page: it would send the token to any URL the Link header names.
      const next = NEXT_LINK.exec(response.headers.link ?? '')?.[1]
      if (next && new URL(next).origin !== origin) {
        throw new RollbackError(
          'target',
          `The GitHub API's next page is on another host (${new URL(next).origin}, not ${origin}); not sending the token there`
        )
      }
      if (next && followed.has(next)) {
        throw new RollbackError(
          'target',
          `The GitHub API's Link header points back to a page already read (${next}); cannot list the deployments reliably`
        )
      }
    }
  } catch (error) {
    throw isRequestError(error) ? deploymentsListError(error, t) : error
  }

  if (count === 0) throw await noDeploymentsError(octokit, t)
  throw new RollbackError(
    'target',
    `target-version ${tag} was never deployed to environment ${JSON.stringify(t.environment)} of ${t.repository}: ` +
      `none of its ${count} deployments has ref ${tag} or refs/tags/${tag}` +
      (tagSha ? ` or the tag's commit ${tagSha}` : ' (the tag was not found, so commits could not be compared)') +
      `; the releases deployed there most recently are ${releases.join(', ')}. ` +
      'Use one of these releases, or target-datetime with the time to roll back to.'
  )
}

async function client(t: DeploymentsTarget): Promise<Octokit> {
  const {getOctokit} = await import('@actions/github')
  // No `request` option here: it would replace, not extend, @actions/github's, which carries the proxy-aware fetch.
  const octokit = getOctokit(t.token, {baseUrl: t.apiUrl, userAgent: 'django-migration-rollback-action'})
  octokit.hook.before('request', options => {
    // A fresh signal per request (paginate's later pages too); new objects, as octokit shares these between requests.
    options.request = {...options.request, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS)}
    options.headers = {...options.headers, 'x-github-api-version': API_VERSION}
  })
  return octokit
}

/** The tag's commit, so a release deployed by sha or from a branch at that commit still matches. */
async function resolveTagSha(octokit: Octokit, t: DeploymentsTarget, tag: string, log: (line: string) => void): Promise<string | null> {
  const [owner, repo] = t.repository.split('/')
  let status: number
  let message: string
  try {
    // {+ref}: a slash in the tag stays a path separator, as GitHub expects, instead of becoming %2F.
    const response = await octokit.request('GET /repos/{owner}/{repo}/commits/{+ref}', {owner, repo, ref: tag})
    const sha = (response.data as {sha?: unknown}).sha
    if (typeof sha === 'string') {
      log(`Tag ${tag} is commit ${sha}`)
      return sha
    }
    status = response.status
    message = '(no sha in the answer)'
  } catch (error) {
    if (!isRequestError(error)) throw error
    const fatal = commonApiError(error, t)
    if (fatal) throw fatal
    // 404/422: no such tag (or the token cannot read contents). Deployments by ref can still match.
    if (![403, 404, 409, 422].includes(error.status)) throw unexpectedStatus(error, `GET /repos/${t.repository}/commits/${tag}`)
    status = error.status
    message = messageOf(error)
  }
  log(
    `Could not resolve tag ${tag} to a commit (HTTP ${status}: ${message}); matching deployments by ref only (matching by commit needs the tag and \`contents: read\`)`
  )
  return null
}

function deploymentsListError(error: RequestError, t: DeploymentsTarget): RollbackError {
  const fatal = commonApiError(error, t)
  if (fatal) return fatal
  if (error.status === 403 || error.status === 404) {
    return new RollbackError(
      'target',
      `Cannot list the deployments of ${t.repository} (HTTP ${error.status}: ${messageOf(error)}). ` +
        'The token in github-token needs read access to deployments: add `deployments: read` to the permissions: ' +
        'block of the workflow or job (with `contents: read` to resolve the tag), e.g.\n' +
        '  permissions:\n    contents: read\n    deployments: read\n' +
        (error.status === 404 ? `Check also that deployments-repository ${JSON.stringify(t.repository)} is spelled owner/name. ` : '') +
        "The default token (github.token) only reaches the workflow's own repository; for another repository pass a token that can read it."
    )
  }
  return unexpectedStatus(error, `GET /repos/${t.repository}/deployments`)
}

/** No deployment at all in the environment: usually a misspelled (or differently cased) environment name. */
async function noDeploymentsError(octokit: Octokit, t: DeploymentsTarget): Promise<RollbackError> {
  const [owner, repo] = t.repository.split('/')
  let others = ''
  // One extra request, with the permission already proven, to name the environments that do have deployments.
  const response = await octokit.rest.repos.listDeployments({owner, repo, per_page: PER_PAGE}).catch(() => null)
  if (response) {
    const names = [...new Set(response.data.map(d => d.environment))]
    const sameButCase = names.find(name => name.toLowerCase() === t.environment.toLowerCase())
    if (sameButCase) others = ` Did you mean ${JSON.stringify(sameButCase)}?`
    else if (names.length) others = ` Recent deployments went to: ${names.map(n => JSON.stringify(n)).join(', ')}.`
  }
  return new RollbackError(
    'target',
    `Environment ${JSON.stringify(t.environment)} of ${t.repository} has no deployments.${others} ` +
      'Set environment to the exact name the deploy workflow uses in its `environment:` key (names are case-sensitive, ' +
      'as GitHub creates them from that key), or set deployments-repository if the deployments are recorded in another repository.'
  )
}

/** What no caller can handle, whichever the request: no answer, bad credentials, rate limits. */
function commonApiError(error: RequestError, t: DeploymentsTarget): RollbackError | undefined {
  if (!error.response) {
    const host = URL.canParse(t.apiUrl) ? new URL(t.apiUrl).host : JSON.stringify(t.apiUrl)
    return new RollbackError(
      'target',
      `Could not reach the GitHub API at ${host} (${networkReason(error)}). ` +
        `The API URL comes from GITHUB_API_URL (${t.apiUrl}): on github.com it is https://api.github.com, ` +
        'on GitHub Enterprise Server https://HOST/api/v3, and the runner must be able to reach that host ' +
        '(through the proxy in HTTPS_PROXY, HTTP_PROXY for an http:// URL, if the runner has one; NO_PROXY hosts are reached directly).'
    )
  }
  const headers = error.response.headers
  if (error.status === 401) {
    return new RollbackError(
      'target',
      `GitHub rejected github-token (HTTP 401: ${messageOf(error)}): it is invalid or expired. ` +
        'Leave github-token at its default (${{ github.token }}) or pass a valid token from a secret.'
    )
  }
  if (error.status === 403 || error.status === 429) {
    const reset = Number(headers['x-ratelimit-reset'])
    const retryAfter = headers['retry-after']
    if (headers['x-ratelimit-remaining'] === '0') {
      const when = Number.isFinite(reset) && reset > 0 ? new Date(reset * 1000).toISOString() : 'within the hour'
      return new RollbackError(
        'target',
        `The GitHub API rate limit for github-token is used up (HTTP ${error.status}: ${messageOf(error)}); it resets at ${when}. Run again after that.`
      )
    }
    if (retryAfter || /secondary rate limit/i.test(messageOf(error))) {
      return new RollbackError(
        'target',
        `The GitHub API's secondary rate limit stopped the request (HTTP ${error.status}: ${messageOf(error)}); run again after ${retryAfter ?? 'a few'} seconds.`
      )
    }
  }
  return undefined
}

function unexpectedStatus(error: RequestError, request: string): RollbackError {
  return new RollbackError(
    'target',
    `The GitHub API answered ${request} with HTTP ${error.status}: ${messageOf(error)}. ` +
      'Try again; if it persists, check GITHUB_API_URL and the GitHub status page.'
  )
}

/** GitHub's own message from the error body, or the start of a non-JSON body (a proxy's error page). */
function messageOf(error: RequestError): string {
  const body = error.response?.data
  if (body && typeof body === 'object' && typeof (body as {message?: unknown}).message === 'string') {
    return (body as {message: string}).message
  }
  return typeof body === 'string' && body ? body.slice(0, 200) : '(no message)'
}

function isRequestError(error: unknown): error is RequestError {
  const e = error as {name?: unknown; status?: unknown} | null
  return e?.name === 'HttpError' && typeof e.status === 'number'
}

function toRef(d: ApiDeployment): DeploymentRef {
  return {id: d.id, ref: d.ref, sha: d.sha, createdAt: d.created_at, creator: d.creator?.login ?? null, url: d.url}
}

/** The innermost cause says what happened (octokit's and fetch's wrappers say "fetch failed", "Request was cancelled"). */
function networkReason(error: RequestError): string {
  let reason = error.message
  // Duck-typed: fetch's errors can come from another realm, where `instanceof Error` fails (e.g. under jest's VM).
  type Cause = {name?: unknown; code?: unknown; message?: unknown; cause?: unknown}
  for (let cause = error.cause as Cause | undefined, depth = 0; cause && depth < 8; cause = cause.cause as Cause | undefined, depth++) {
    if (cause.name === 'TimeoutError') return `no answer within ${REQUEST_TIMEOUT_MS / 1000} s`
    if (typeof cause.message === 'string' && cause.message) reason = cause.message
    else if (typeof cause.code === 'string') reason = cause.code
  }
  return reason
}
