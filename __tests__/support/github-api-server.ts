/**
 * A test GitHub REST API answering what the deployments resolver asks, the way
 * github.com does: deployment objects with all their fields, newest first,
 * `per_page`/`page` with a `Link` header (first/prev/next/last), the commits
 * endpoint for tags (422 for an unknown ref), bearer-token checks, GitHub's
 * error bodies (401 Bad credentials, 403 Resource not accessible by
 * integration, 403 rate limit with x-ratelimit-* headers, 404 Not Found) and a
 * request log. Optionally mounted under a path prefix, like GitHub Enterprise
 * Server's /api/v3 (then nothing outside it answers). URLs in answers (Link,
 * url fields) are on the host the request named, as GitHub's are: a client
 * reaching the server by another name, through a proxy, follows them there.
 */
import http from 'node:http'
import type {AddressInfo} from 'node:net'

export interface TestDeployment {
  ref: string
  /** Default: the sha of the tag named by ref, else a sha derived from ref. */
  sha?: string
  /** ISO time `YYYY-MM-DDTHH:MM:SSZ`. */
  createdAt: string
  /** Default "github-actions[bot]". */
  creator?: string
}

export interface GitHubApiServerOptions {
  /** owner/name. Default "acme/flagsmith". */
  repository?: string
  /** Deployments per environment, in any order; the server lists them newest first. */
  environments?: Record<string, TestDeployment[]>
  /** tag -> commit sha. */
  tags?: Record<string, string>
  /** Default "ghs_test_token_0123456789". */
  token?: string
  /** Path prefix, e.g. "/api/v3" for GitHub Enterprise Server. */
  prefix?: string
  /** The token lacks `deployments: read`: the list answers 403 like GITHUB_TOKEN without the permission. */
  denyDeployments?: boolean
  /** Every request answers 403 with the rate-limit headers; the reset time in epoch seconds. */
  rateLimitedUntil?: number
  /** The origin of the Link header's pages, e.g. another server's, for a Link that leads off the API. Default: the request's. */
  linkOrigin?: string
}

export interface LoggedRequest {
  method: string
  /** Path without the prefix. */
  path: string
  query: Record<string, string>
  status: number
  authorization: string | undefined
  /** The Host header: the name the client used for the server. */
  host: string | undefined
  headers: http.IncomingHttpHeaders
}

export interface GitHubApiServer {
  /** What GITHUB_API_URL would be. */
  apiUrl: string
  token: string
  repository: string
  /** Mutable between requests. */
  options: Required<Omit<GitHubApiServerOptions, 'rateLimitedUntil' | 'linkOrigin'>> &
    Pick<GitHubApiServerOptions, 'rateLimitedUntil' | 'linkOrigin'>
  requests: LoggedRequest[]
  /** The `page` of each deployments list request, in order. */
  deploymentPagesRead(): number[]
  close(): Promise<void>
}

const DOCS = 'https://docs.github.com/rest'

/** A stable 40-hex sha per text, so tests can predict it. */
export function fakeSha(text: string): string {
  let hash = 2166136261
  let out = ''
  for (let round = 0; out.length < 40; round++) {
    for (const char of `${round}:${text}`) hash = Math.imul(hash ^ char.charCodeAt(0), 16777619) >>> 0
    out += hash.toString(16).padStart(8, '0')
  }
  return out.slice(0, 40)
}

export async function startGitHubApiServer(options: GitHubApiServerOptions = {}): Promise<GitHubApiServer> {
  const opts = {
    repository: 'acme/flagsmith',
    environments: {},
    tags: {},
    token: 'ghs_test_token_0123456789',
    prefix: '',
    denyDeployments: false,
    ...options
  }
  const requests: LoggedRequest[] = []
  const server = http.createServer((req, res) => {
    const origin = `http://${req.headers.host ?? `127.0.0.1:${(server.address() as AddressInfo).port}`}`
    const url = new URL(req.url ?? '/', origin)
    const underPrefix = url.pathname.startsWith(`${opts.prefix}/`)
    const path = underPrefix ? url.pathname.slice(opts.prefix.length) : url.pathname
    const api = `${origin}${opts.prefix}`
    const send = (status: number, body: unknown, headers: Record<string, string> = {}): void => {
      requests.push({
        method: req.method ?? 'GET',
        path,
        query: Object.fromEntries(url.searchParams),
        status,
        authorization: req.headers.authorization,
        host: req.headers.host,
        headers: req.headers
      })
      res.writeHead(status, {
        'content-type': 'application/json; charset=utf-8',
        'x-github-api-version-selected': '2022-11-28',
        'x-github-media-type': 'github.v3; format=json',
        'x-github-request-id': `0000:${requests.length}`,
        'x-ratelimit-limit': '5000',
        'x-ratelimit-remaining': '4999',
        'x-ratelimit-reset': String(Math.floor(Date.now() / 1000) + 3600),
        'x-ratelimit-used': '1',
        'x-ratelimit-resource': 'core',
        ...headers
      })
      res.end(JSON.stringify(body))
    }
    const error = (status: number, message: string, doc = DOCS, headers: Record<string, string> = {}): void =>
      send(status, {message, documentation_url: doc, status: String(status)}, headers)

    // GitHub Enterprise Server answers the REST API only under /api/v3.
    if (!underPrefix) return error(404, 'Not Found')
    const auth = req.headers.authorization
    if (auth !== undefined && auth !== `Bearer ${opts.token}` && auth !== `token ${opts.token}`) {
      return error(401, 'Bad credentials')
    }
    if (opts.rateLimitedUntil !== undefined) {
      return error(403, 'API rate limit exceeded for installation ID 4242.', `${DOCS}/overview/rate-limits-for-the-rest-api`, {
        'x-ratelimit-remaining': '0',
        'x-ratelimit-used': '5000',
        'x-ratelimit-reset': String(opts.rateLimitedUntil)
      })
    }
    const repoPrefix = `/repos/${opts.repository}/`
    // Anonymous requests and other repositories: a private repository is invisible, hence 404.
    if (auth === undefined || !path.startsWith(repoPrefix)) return error(404, 'Not Found')
    const rest = path.slice(repoPrefix.length)

    if (rest.startsWith('commits/')) {
      const ref = decodeURIComponent(rest.slice('commits/'.length)).replace(/^(refs\/)?tags\//, '')
      const sha = opts.tags[ref] ?? (/^[0-9a-f]{40}$/.test(ref) ? ref : undefined)
      if (!sha) return error(422, `No commit found for SHA: ${ref}`, `${DOCS}/commits/commits#get-a-commit`)
      return send(200, commit(api, sha))
    }
    if (rest === 'deployments') {
      if (opts.denyDeployments) {
        return error(403, 'Resource not accessible by integration', `${DOCS}/deployments/deployments#list-deployments`)
      }
      return listDeployments(api, url, send)
    }
    return error(404, 'Not Found')
  })

  /** All deployments with ids in creation order, as GitHub numbers them. */
  function allDeployments(api: string): Array<Record<string, unknown>> {
    const flat = Object.entries(opts.environments).flatMap(([environment, list]) => list.map(d => ({environment, ...d})))
    flat.sort((a, b) => a.createdAt.localeCompare(b.createdAt))
    return flat.map((d, index) => deployment(api, index + 1, d))
  }

  function deployment(api: string, id: number, d: TestDeployment & {environment: string}): Record<string, unknown> {
    const login = d.creator ?? 'github-actions[bot]'
    const url = `${api}/repos/${opts.repository}/deployments/${id}`
    return {
      url,
      id,
      node_id: `DE_kwDO${Buffer.from(String(id)).toString('base64')}`,
      task: 'deploy',
      original_environment: d.environment,
      environment: d.environment,
      description: null,
      created_at: d.createdAt,
      updated_at: d.createdAt,
      statuses_url: `${url}/statuses`,
      repository_url: `${api}/repos/${opts.repository}`,
      creator: {
        login,
        id: 41898282,
        node_id: 'MDM6Qm90NDE4OTgyODI=',
        avatar_url: 'https://avatars.githubusercontent.com/in/15368?v=4',
        url: `${api}/users/${encodeURIComponent(login)}`,
        type: login.endsWith('[bot]') ? 'Bot' : 'User',
        site_admin: false
      },
      sha: d.sha ?? opts.tags[d.ref.replace(/^refs\/tags\//, '')] ?? fakeSha(d.ref),
      ref: d.ref,
      payload: {},
      transient_environment: false,
      production_environment: d.environment === 'production',
      performed_via_github_app: null
    }
  }

  function listDeployments(api: string, url: URL, send: (status: number, body: unknown, headers?: Record<string, string>) => void): void {
    const perPage = Math.min(Math.max(Number(url.searchParams.get('per_page') ?? 30) || 30, 1), 100)
    const page = Math.max(Number(url.searchParams.get('page') ?? 1) || 1, 1)
    const environment = url.searchParams.get('environment')
    // GitHub filters on the exact environment name and lists newest first.
    const matching = allDeployments(api)
      .filter(d => environment === null || d.environment === environment)
      .reverse()
    const lastPage = Math.max(Math.ceil(matching.length / perPage), 1)
    const pageUrl = (n: number): string => {
      const next = new URL(`${url.pathname}${url.search}`, opts.linkOrigin ?? url.origin)
      next.searchParams.set('per_page', String(perPage))
      next.searchParams.set('page', String(n))
      return next.href
    }
    const links: string[] = []
    if (page > 1) links.push(`<${pageUrl(page - 1)}>; rel="prev"`)
    if (page < lastPage) links.push(`<${pageUrl(page + 1)}>; rel="next"`, `<${pageUrl(lastPage)}>; rel="last"`)
    if (page > 1) links.push(`<${pageUrl(1)}>; rel="first"`)
    send(200, matching.slice((page - 1) * perPage, page * perPage), links.length ? {link: links.join(', ')} : {})
  }

  function commit(api: string, sha: string): Record<string, unknown> {
    return {
      sha,
      node_id: `C_${sha.slice(0, 12)}`,
      commit: {message: 'Release', author: {name: 'Release Bot', email: 'bot@example.com', date: '2024-01-01T00:00:00Z'}},
      url: `${api}/repos/${opts.repository}/commits/${sha}`,
      html_url: `https://github.com/${opts.repository}/commit/${sha}`,
      parents: [],
      files: []
    }
  }

  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  return {
    apiUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}${opts.prefix}`,
    token: opts.token,
    repository: opts.repository,
    options: opts,
    requests,
    deploymentPagesRead: () =>
      requests.filter(r => r.path.endsWith('/deployments') && r.query.environment !== undefined).map(r => Number(r.query.page ?? 1)),
    close: () => new Promise<void>(resolve => server.close(() => resolve()))
  }
}
