/**
 * `target-version` through GitHub deployments: the cutoff is the moment the
 * environment moved past the release, i.e. the creation time of the first
 * deployment after the release's latest deployment there. Everything the
 * database applied from then on came with later releases.
 *
 * Plain REST over Node's fetch at GITHUB_API_URL, so GitHub Enterprise Server
 * works and no client library is bundled.
 */
import type {Cutoff, DeploymentsTarget} from '../config.js'
import {parseCutoff} from '../cutoff.js'

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

/** The deployments could not decide a cutoff; the message names the input or permission and what to do. */
export class DeploymentsError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'DeploymentsError'
  }
}

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

interface ApiResponse {
  status: number
  headers: Headers
  /** Parsed JSON, or the raw text when the body is not JSON (a proxy's error page). */
  body: unknown
}

const PER_PAGE = 100
const RECENT_SHOWN = 10
const REQUEST_TIMEOUT_MS = 30_000
const REPOSITORY = /^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/

export async function resolveFromDeployments(t: DeploymentsTarget, log: (line: string) => void = () => {}): Promise<DeploymentsResolution> {
  try {
    return await resolve(t, log)
  } catch (error) {
    // Belt and braces: no path is meant to print the token, but nothing that leaves here may carry it.
    const e = error as {message?: unknown} | undefined
    if (t.token && typeof e?.message === 'string' && e.message.includes(t.token)) {
      e.message = e.message.split(t.token).join('***')
    }
    throw error
  }
}

async function resolve(t: DeploymentsTarget, log: (line: string) => void): Promise<DeploymentsResolution> {
  const tag = t.version.trim().replace(/^refs\/tags\//, '')
  if (!tag) throw new DeploymentsError('target-version is empty: expected a release tag such as v2.150.0')
  if (!t.environment)
    throw new DeploymentsError('environment is empty: name the GitHub environment the releases are deployed to, e.g. production')
  if (!REPOSITORY.test(t.repository)) {
    throw new DeploymentsError(
      `deployments-repository ${JSON.stringify(t.repository)} is not valid: expected owner/name (default: the workflow's repository, GITHUB_REPOSITORY)`
    )
  }
  const api = new GitHubApi(t.apiUrl, t.token)

  const tagSha = await resolveTagSha(api, t.repository, tag, log)
  const isRelease = (d: ApiDeployment): boolean => d.ref === tag || d.ref === `refs/tags/${tag}` || (tagSha !== null && d.sha === tagSha)

  const environmentQuery = `environment=${encodeURIComponent(t.environment)}&per_page=${PER_PAGE}`
  let url: string | null = api.url(`/repos/${t.repository}/deployments?${environmentQuery}`)
  const recent: ApiDeployment[] = []
  const followed = new Set<string>()
  let newer: ApiDeployment | null = null // in the API's newest-first order, the one just before the current
  let count = 0
  for (let page = 1; url; page++) {
    followed.add(url)
    const response = await api.get(url)
    if (response.status !== 200) throw deploymentsListError(response, t)
    const deployments = response.body as ApiDeployment[]
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
      if (recent.length < RECENT_SHOWN) recent.push(deployment)
    }
    url = api.nextPage(response.headers.get('link'))
    if (url && followed.has(url))
      throw new DeploymentsError(
        `The GitHub API's Link header points back to a page already read (${url}); cannot list the deployments reliably`
      )
  }

  if (count === 0) throw await noDeploymentsError(api, t)
  const shown = recent.map(d => `  ${d.ref} (${d.sha.slice(0, 7)}), ${d.created_at}`).join('\n')
  throw new DeploymentsError(
    `target-version ${tag} was never deployed to environment ${JSON.stringify(t.environment)} of ${t.repository}: ` +
      `none of its ${count} deployments has ref ${tag} or refs/tags/${tag}` +
      (tagSha ? ` or the tag's commit ${tagSha}` : ' (the tag was not found, so commits could not be compared)') +
      `. The most recent deployments there:\n${shown}\n` +
      'Use one of these releases, or target-datetime with the time to roll back to.'
  )
}

/** The tag's commit, so a release deployed by sha or from a branch at that commit still matches. */
async function resolveTagSha(api: GitHubApi, repository: string, tag: string, log: (line: string) => void): Promise<string | null> {
  const path = tag.split('/').map(encodeURIComponent).join('/')
  const response = await api.get(api.url(`/repos/${repository}/commits/${path}`))
  if (response.status === 200) {
    const sha = (response.body as {sha?: unknown}).sha
    if (typeof sha === 'string') {
      log(`Tag ${tag} is commit ${sha}`)
      return sha
    }
  }
  // 404/422: no such tag (or the token cannot read contents). Deployments by ref can still match.
  if ([200, 403, 404, 409, 422].includes(response.status)) {
    log(
      `Could not resolve tag ${tag} to a commit (HTTP ${response.status}: ${messageOf(response)}); matching deployments by ref only (matching by commit needs the tag and \`contents: read\`)`
    )
    return null
  }
  throw unexpectedStatus(response, `GET /repos/${repository}/commits/${path}`)
}

function deploymentsListError(response: ApiResponse, t: DeploymentsTarget): DeploymentsError {
  if (response.status === 403 || response.status === 404) {
    return new DeploymentsError(
      `Cannot list the deployments of ${t.repository} (HTTP ${response.status}: ${messageOf(response)}). ` +
        'The token in github-token needs read access to deployments: add `deployments: read` to the permissions: ' +
        'block of the workflow or job (with `contents: read` to resolve the tag), e.g.\n' +
        '  permissions:\n    contents: read\n    deployments: read\n' +
        (response.status === 404 ? `Check also that deployments-repository ${JSON.stringify(t.repository)} is spelled owner/name. ` : '') +
        "The default token (github.token) only reaches the workflow's own repository; for another repository pass a token that can read it."
    )
  }
  return unexpectedStatus(response, `GET /repos/${t.repository}/deployments`)
}

/** No deployment at all in the environment: usually a misspelled (or differently cased) environment name. */
async function noDeploymentsError(api: GitHubApi, t: DeploymentsTarget): Promise<DeploymentsError> {
  let others = ''
  // One extra request, with the permission already proven, to name the environments that do have deployments.
  const response = await api.get(api.url(`/repos/${t.repository}/deployments?per_page=${PER_PAGE}`)).catch(() => null)
  if (response?.status === 200) {
    const names = [...new Set((response.body as ApiDeployment[]).map(d => d.environment))]
    const sameButCase = names.find(name => name.toLowerCase() === t.environment.toLowerCase())
    if (sameButCase) others = ` Did you mean ${JSON.stringify(sameButCase)}?`
    else if (names.length) others = ` Recent deployments went to: ${names.map(n => JSON.stringify(n)).join(', ')}.`
  }
  return new DeploymentsError(
    `Environment ${JSON.stringify(t.environment)} of ${t.repository} has no deployments.${others} ` +
      'Set environment to the exact name the deploy workflow uses in its `environment:` key (names are case-sensitive, ' +
      'as GitHub creates them from that key), or set deployments-repository if the deployments are recorded in another repository.'
  )
}

function unexpectedStatus(response: ApiResponse, request: string): DeploymentsError {
  return new DeploymentsError(
    `The GitHub API answered ${request} with HTTP ${response.status}: ${messageOf(response)}. ` +
      'Try again; if it persists, check GITHUB_API_URL and the GitHub status page.'
  )
}

function messageOf(response: ApiResponse): string {
  const body = response.body
  if (body && typeof body === 'object' && typeof (body as {message?: unknown}).message === 'string') {
    return (body as {message: string}).message
  }
  return typeof body === 'string' && body ? body.slice(0, 200) : '(no message)'
}

function toRef(d: ApiDeployment): DeploymentRef {
  return {id: d.id, ref: d.ref, sha: d.sha, createdAt: d.created_at, creator: d.creator?.login ?? null, url: d.url}
}

/** GET with GitHub's headers. Throws DeploymentsError for what no caller can handle: network, bad credentials, rate limits. */
class GitHubApi {
  private readonly base: URL

  constructor(
    apiUrl: string,
    private readonly token: string
  ) {
    try {
      this.base = new URL(apiUrl.replace(/\/+$/, ''))
    } catch {
      throw new DeploymentsError(
        `GITHUB_API_URL ${JSON.stringify(apiUrl)} is not a URL: expected https://api.github.com or, on GitHub Enterprise Server, https://HOST/api/v3`
      )
    }
  }

  url(path: string): string {
    return `${this.base.href.replace(/\/+$/, '')}${path}`
  }

  /** The `rel="next"` page; only on the API's own origin, since the token goes with it. */
  nextPage(link: string | null): string | null {
    for (const part of (link ?? '').split(',')) {
      const match = /<([^>]+)>\s*;\s*rel="([^"]+)"/.exec(part)
      if (!match || !match[2].split(/\s+/).includes('next')) continue
      if (new URL(match[1]).origin !== this.base.origin) {
        throw new DeploymentsError(
          `The GitHub API's next page is on another host (${new URL(match[1]).origin}, not ${this.base.origin}); not sending the token there`
        )
      }
      return match[1]
    }
    return null
  }

  async get(url: string): Promise<ApiResponse> {
    let response: Response
    try {
      response = await fetch(url, {
        headers: {
          Authorization: `Bearer ${this.token}`,
          Accept: 'application/vnd.github+json',
          'X-GitHub-Api-Version': '2022-11-28',
          'User-Agent': 'django-migration-rollback-action'
        },
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS)
      })
    } catch (error) {
      throw new DeploymentsError(
        `Could not reach the GitHub API at ${this.base.host} (${networkReason(error)}). ` +
          `The API URL comes from GITHUB_API_URL (${this.base.href}): on github.com it is https://api.github.com, ` +
          'on GitHub Enterprise Server https://HOST/api/v3, and the runner must be able to reach that host.'
      )
    }
    const text = await response.text()
    let body: unknown = text
    try {
      body = JSON.parse(text)
    } catch {
      // Not JSON: keep the text for the message.
    }
    const result = {status: response.status, headers: response.headers, body}
    if (response.status === 401) {
      throw new DeploymentsError(
        `GitHub rejected github-token (HTTP 401: ${messageOf(result)}): it is invalid or expired. ` +
          'Leave github-token at its default (${{ github.token }}) or pass a valid token from a secret.'
      )
    }
    if (response.status === 403 || response.status === 429) {
      const remaining = response.headers.get('x-ratelimit-remaining')
      const reset = Number(response.headers.get('x-ratelimit-reset'))
      const retryAfter = response.headers.get('retry-after')
      if (remaining === '0') {
        const when = Number.isFinite(reset) && reset > 0 ? new Date(reset * 1000).toISOString() : 'within the hour'
        throw new DeploymentsError(
          `The GitHub API rate limit for github-token is used up (HTTP ${response.status}: ${messageOf(result)}); it resets at ${when}. Run again after that.`
        )
      }
      if (retryAfter || /secondary rate limit/i.test(messageOf(result))) {
        throw new DeploymentsError(
          `The GitHub API's secondary rate limit stopped the request (HTTP ${response.status}: ${messageOf(result)}); run again after ${retryAfter ?? 'a few'} seconds.`
        )
      }
    }
    return result
  }
}

function networkReason(error: unknown): string {
  // Duck-typed: fetch's errors come from Node's own realm, where `instanceof Error` can fail (e.g. under jest's VM).
  const e = error as {name?: string; message?: string; cause?: {code?: string; message?: string}} | undefined
  if (e?.name === 'TimeoutError') return `no answer within ${REQUEST_TIMEOUT_MS / 1000} s`
  return e?.cause?.message ?? e?.cause?.code ?? e?.message ?? String(error)
}
