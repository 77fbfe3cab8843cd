/**
 * target-version through GitHub deployments, against a local server answering
 * as the REST API does, reached over real HTTP by @actions/github's octokit
 * (directly, or through a real forward proxy).
 */
import {afterEach, describe, expect, jest, test} from '@jest/globals'
import http from 'node:http'
import net from 'node:net'
import type {DeploymentsTarget} from '../../../src/config.js'
import {RollbackError} from '../../../src/errors.js'
import type * as Deployments from '../../../src/target/deployments.js'
import type {DeploymentsResolution} from '../../../src/target/deployments.js'
import {
  startGitHubApiServer,
  type GitHubApiServer,
  type GitHubApiServerOptions,
  type TestDeployment
} from '../../support/github-api-server.js'

const MODULE = '../../../src/target/deployments.js'
/** What @actions/github reads, once, when it is imported, to choose the proxy (or none) for every request. */
const PROXY_ENVIRONMENT = ['GITHUB_API_URL', 'HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy', 'NO_PROXY', 'no_proxy']

/**
 * resolveFromDeployments run under exactly `env` for the proxy variables (the others unset), which are then
 * restored. @actions/github is imported at the first lookup and chooses its proxy then: `isolated` gives that
 * lookup a fresh @actions/github, whose choice is made under env; the rest of the file shares one made with none.
 */
async function importUnder(env: Record<string, string>, isolated: boolean): Promise<Pick<typeof Deployments, 'resolveFromDeployments'>> {
  const resolveFromDeployments: typeof Deployments.resolveFromDeployments = async (...args) => {
    const saved = PROXY_ENVIRONMENT.map(name => [name, process.env[name]] as const)
    for (const name of PROXY_ENVIRONMENT) delete process.env[name]
    Object.assign(process.env, env)
    try {
      if (!isolated) return await ((await import(MODULE)) as typeof Deployments).resolveFromDeployments(...args)
      let result: DeploymentsResolution | undefined
      await jest.isolateModulesAsync(async () => {
        result = await ((await import(MODULE)) as typeof Deployments).resolveFromDeployments(...args)
      })
      return result!
    } finally {
      for (const [name, value] of saved) {
        if (value === undefined) delete process.env[name]
        else process.env[name] = value
      }
    }
  }
  return {resolveFromDeployments}
}

const {resolveFromDeployments} = await importUnder({}, false)

const TAGS = {
  'v2.148.0': 'a48a48a48a48a48a48a48a48a48a48a48a48a48a',
  'v2.149.0': 'a49a49a49a49a49a49a49a49a49a49a49a49a49a',
  'v2.150.0': 'a50a50a50a50a50a50a50a50a50a50a50a50a50a',
  'v2.151.0': 'a51a51a51a51a51a51a51a51a51a51a51a51a51a',
  'v2.152.0': 'a52a52a52a52a52a52a52a52a52a52a52a52a52a'
}

const PRODUCTION: TestDeployment[] = [
  {ref: 'v2.148.0', createdAt: '2024-10-01T10:00:00Z'},
  {ref: 'v2.149.0', createdAt: '2024-10-08T10:00:00Z', creator: 'release-manager'},
  {ref: 'v2.150.0', createdAt: '2024-10-15T10:00:00Z'},
  {ref: 'v2.151.0', createdAt: '2024-10-22T10:00:00Z'}
]

let api: GitHubApiServer | undefined
const messages: string[] = []

afterEach(async () => {
  await api?.close()
  api = undefined
})

async function serve(options: GitHubApiServerOptions = {}): Promise<GitHubApiServer> {
  api = await startGitHubApiServer({tags: TAGS, environments: {production: PRODUCTION}, ...options})
  return api
}

function target(overrides: Partial<DeploymentsTarget> = {}): DeploymentsTarget {
  if (!api) throw new Error('serve() first')
  return {
    kind: 'deployments',
    version: 'v2.149.0',
    environment: 'production',
    token: api.token,
    repository: api.repository,
    apiUrl: api.apiUrl,
    ...overrides
  }
}

async function resolve(overrides: Partial<DeploymentsTarget> = {}): Promise<DeploymentsResolution> {
  const lines: string[] = []
  const t = target(overrides)
  const result = await resolveFromDeployments(t, line => lines.push(line))
  for (const line of lines) expect(line).not.toContain(t.token)
  return result
}

/** The message of the RollbackError (kind target); every one is checked for the token. */
async function failure(overrides: Partial<DeploymentsTarget> = {}, resolveWith = resolveFromDeployments): Promise<string> {
  const t = target(overrides)
  try {
    await resolveWith(t)
  } catch (error) {
    // By name and kind: a module imported in isolation has its own RollbackError class.
    expect(error).toMatchObject({name: 'RollbackError', kind: 'target'})
    if (resolveWith === resolveFromDeployments) expect(error).toBeInstanceOf(RollbackError)
    const message = (error as Error).message
    messages.push(message)
    expect(message).not.toContain(t.token)
    return message
  }
  throw new Error('expected a RollbackError')
}

describe('finding the release', () => {
  test('by ref: the cutoff is the creation time of the NEXT deployment, not of the target', async () => {
    await serve()
    const result = await resolve()
    expect(result).toMatchObject({version: 'v2.149.0', environment: 'production', repository: 'acme/flagsmith', tagSha: TAGS['v2.149.0']})
    expect(result.target).toMatchObject({
      ref: 'v2.149.0',
      sha: TAGS['v2.149.0'],
      createdAt: '2024-10-08T10:00:00Z',
      creator: 'release-manager'
    })
    expect(result.target.url).toBe(`${api!.apiUrl}/repos/acme/flagsmith/deployments/${result.target.id}`)
    expect(result.next).toMatchObject({ref: 'v2.150.0', createdAt: '2024-10-15T10:00:00Z', creator: 'github-actions[bot]'})
    expect(result.cutoff).toEqual({input: '2024-10-15T10:00:00Z', utc: '2024-10-15T10:00:00.000000Z', assumedUtc: false})
  })

  test("sends the token and GitHub's headers with every request", async () => {
    await serve()
    await resolve()
    expect(api!.requests.length).toBe(2) // the tag's commit, then one page of deployments
    for (const request of api!.requests) {
      expect(request.authorization).toBe(`token ${api!.token}`)
      expect(request.headers.accept).toMatch(/^application\/vnd\.github\./)
      expect(request.headers['x-github-api-version']).toBe('2022-11-28')
      expect(request.headers['user-agent']).toContain('django-migration-rollback-action')
    }
    expect(api!.requests[0]).toMatchObject({path: '/repos/acme/flagsmith/commits/v2.149.0', status: 200})
  })

  test('a tag with a slash: the slash stays a path separator', async () => {
    await serve({
      tags: {...TAGS, 'release/2.150': TAGS['v2.150.0']},
      environments: {production: [...PRODUCTION.slice(0, 2), {ref: 'main', sha: TAGS['v2.150.0'], createdAt: '2024-10-15T10:00:00Z'}]}
    })
    const result = await resolve({version: 'release/2.150'})
    expect(result.target).toMatchObject({ref: 'main', sha: TAGS['v2.150.0']})
    expect(api!.requests[0]).toMatchObject({path: '/repos/acme/flagsmith/commits/release/2.150', status: 200})
  })

  test('a deployment whose ref is refs/tags/VERSION', async () => {
    await serve({
      environments: {
        production: [
          ...PRODUCTION.slice(0, 2),
          {ref: 'refs/tags/v2.150.0', sha: 'f'.repeat(40), createdAt: '2024-10-15T10:00:00Z'},
          PRODUCTION[3]
        ]
      }
    })
    const result = await resolve({version: 'v2.150.0'})
    expect(result.target).toMatchObject({ref: 'refs/tags/v2.150.0', createdAt: '2024-10-15T10:00:00Z'})
    expect(result.cutoff?.utc).toBe('2024-10-22T10:00:00.000000Z')
  })

  test('target-version given as refs/tags/VERSION', async () => {
    await serve()
    const result = await resolve({version: 'refs/tags/v2.150.0'})
    expect(result.version).toBe('v2.150.0')
    expect(result.target.ref).toBe('v2.150.0')
  })

  test("by the tag's commit when the deployment's ref is a branch name", async () => {
    await serve({
      environments: {
        production: [
          ...PRODUCTION,
          {ref: 'main', sha: TAGS['v2.152.0'], createdAt: '2024-10-29T10:00:00Z'},
          {ref: 'main', createdAt: '2024-11-05T10:00:00Z'}
        ]
      }
    })
    const result = await resolve({version: 'v2.152.0'})
    expect(result.target).toMatchObject({ref: 'main', sha: TAGS['v2.152.0'], createdAt: '2024-10-29T10:00:00Z'})
    expect(result.next?.createdAt).toBe('2024-11-05T10:00:00Z')
    expect(result.cutoff?.utc).toBe('2024-11-05T10:00:00.000000Z')
  })

  test('a release deployed several times: the latest deployment counts', async () => {
    await serve({
      environments: {
        production: [
          ...PRODUCTION,
          {ref: 'v2.150.0', createdAt: '2024-10-23T09:00:00Z'}, // rolled back to it once already
          {ref: 'v2.152.0', createdAt: '2024-10-29T10:00:00Z'}
        ]
      }
    })
    const result = await resolve({version: 'v2.150.0'})
    expect(result.target.createdAt).toBe('2024-10-23T09:00:00Z')
    expect(result.next).toMatchObject({ref: 'v2.152.0', createdAt: '2024-10-29T10:00:00Z'})
    expect(result.cutoff?.utc).toBe('2024-10-29T10:00:00.000000Z')
  })

  test('other environments do not count', async () => {
    await serve({environments: {production: PRODUCTION, staging: [{ref: 'v2.152.0', createdAt: '2024-10-10T10:00:00Z'}]}})
    const result = await resolve()
    expect(result.next?.ref).toBe('v2.150.0')
  })

  test('nothing deployed after the release: no next, no cutoff', async () => {
    await serve()
    const result = await resolve({version: 'v2.151.0'})
    expect(result.target.ref).toBe('v2.151.0')
    expect(result.next).toBeNull()
    expect(result.cutoff).toBeNull()
  })

  test('a tag the API does not know (422) still matches deployments by ref', async () => {
    await serve({tags: {}})
    const result = await resolve({version: 'v2.150.0'})
    expect(result.tagSha).toBeNull()
    expect(result.target.ref).toBe('v2.150.0')
    expect(api!.requests[0]).toMatchObject({path: '/repos/acme/flagsmith/commits/v2.150.0', status: 422})
  })

  test('GitHub Enterprise Server: the API under /api/v3, pages included', async () => {
    // Nothing answers outside /api/v3, and the Link header's pages are under it too.
    const many = Array.from({length: 150}, (_, i) => ({
      ref: `v3.0.${i}`,
      createdAt: new Date(Date.UTC(2024, 0, 1) + i * 3_600_000).toISOString()
    }))
    await serve({prefix: '/api/v3', environments: {production: many}})
    expect(api!.apiUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/api\/v3$/)
    const result = await resolve({version: 'v3.0.10'})
    expect(result.next?.ref).toBe('v3.0.11')
    expect(result.target.url).toBe(`${api!.apiUrl}/repos/acme/flagsmith/deployments/${result.target.id}`)
    expect(api!.deploymentPagesRead()).toEqual([1, 2])
    expect(api!.requests.map(r => r.status)).toEqual([422, 200, 200]) // the tag (unknown here), then two pages: no 404
  })
})

describe('pagination', () => {
  // 350 hourly deployments: 4 pages of 100, newest first.
  const many: TestDeployment[] = Array.from({length: 350}, (_, i) => ({
    ref: `v3.0.${i}`,
    createdAt: new Date(Date.UTC(2024, 0, 1) + i * 3_600_000).toISOString().replace('.000Z', 'Z')
  }))

  test('the match is the first deployment on page 3 of 4: its next is on page 2, page 4 is never read', async () => {
    await serve({environments: {production: many}})
    // Newest first, page 3 starts at the 201st newest: index 349 - 200 = 149.
    const result = await resolve({version: 'v3.0.149'})
    expect(result.target.ref).toBe('v3.0.149')
    expect(result.next?.ref).toBe('v3.0.150')
    expect(result.cutoff?.utc).toBe(`${many[150].createdAt.replace('Z', '')}.000000Z`)
    expect(api!.deploymentPagesRead()).toEqual([1, 2, 3])
    const lists = api!.requests.filter(r => r.path.endsWith('/deployments'))
    expect(lists.map(r => r.query.per_page)).toEqual(['100', '100', '100'])
    expect(lists.every(r => r.query.environment === 'production')).toBe(true)
  })

  test('the oldest deployment, on the last page: every page is followed', async () => {
    await serve({environments: {production: many}})
    const result = await resolve({version: 'v3.0.0'})
    expect(result.next?.ref).toBe('v3.0.1')
    expect(api!.deploymentPagesRead()).toEqual([1, 2, 3, 4])
  })
})

describe('errors that say what to do', () => {
  test('never deployed to the environment: names the releases deployed there most recently, each once, newest first', async () => {
    await serve({
      environments: {
        production: [
          {ref: 'v2.149.3', createdAt: '2024-10-01T10:00:00Z'},
          {ref: 'v2.151.0', createdAt: '2024-10-08T10:00:00Z'},
          {ref: 'v2.151.0', createdAt: '2024-10-08T11:00:00Z'}, // redeployed
          {ref: 'v2.152.0', createdAt: '2024-10-15T10:00:00Z'},
          {ref: 'refs/tags/v2.152.0', createdAt: '2024-10-16T10:00:00Z'}, // the same release, by its full ref
          {ref: 'v2.152.0', createdAt: '2024-10-17T10:00:00Z'}
        ]
      }
    })
    const message = await failure({version: 'v2.150.0'})
    expect(message).toContain(
      'target-version v2.150.0 was never deployed to environment "production" of acme/flagsmith: none of its 6 deployments has ref v2.150.0 or refs/tags/v2.150.0'
    )
    expect(message).toContain(`the tag's commit ${TAGS['v2.150.0']}`)
    expect(message).toContain('; the releases deployed there most recently are v2.152.0, v2.151.0, v2.149.3. ')
    expect(message).toContain('target-datetime')
  })

  test('never deployed, across pages: the ten most recent releases, however often each was deployed', async () => {
    // 87 releases deployed three times each: 261 deployments, 3 pages, a release split across a page boundary.
    const many = Array.from({length: 261}, (_, i) => ({
      ref: `v2.${Math.floor(i / 3)}.0`,
      createdAt: new Date(Date.UTC(2024, 0, 1) + i * 3_600_000).toISOString()
    }))
    await serve({environments: {production: many}})
    const message = await failure({version: 'v2.150.0'})
    expect(api!.deploymentPagesRead()).toEqual([1, 2, 3])
    expect(message).toContain('none of its 261 deployments')
    const listed = /the releases deployed there most recently are (.*?)\. Use one/.exec(message)?.[1]
    expect(listed?.split(', ')).toEqual(Array.from({length: 10}, (_, i) => `v2.${86 - i}.0`))
  })

  test('the environment has no deployments, differing only by case', async () => {
    await serve()
    const message = await failure({environment: 'Production'})
    expect(message).toContain('Environment "Production" of acme/flagsmith has no deployments')
    expect(message).toContain('Did you mean "production"?')
    expect(message).toMatch(/case-sensitive/)
    expect(message).toContain('environment:')
  })

  test('the environment has no deployments, others do', async () => {
    await serve({environments: {production: PRODUCTION, staging: PRODUCTION}})
    const message = await failure({environment: 'prod'})
    expect(message).toContain('Environment "prod" of acme/flagsmith has no deployments')
    expect(message).toMatch(/Recent deployments went to: "(production|staging)", "(production|staging)"/)
  })

  test('401 bad credentials names github-token', async () => {
    await serve()
    const message = await failure({token: 'ghp_wrong_token_abcdef'})
    expect(message).toContain('github-token')
    expect(message).toContain('HTTP 401: Bad credentials')
  })

  test('403 without deployments: read names the permission', async () => {
    await serve({denyDeployments: true})
    const message = await failure()
    expect(message).toContain('HTTP 403: Resource not accessible by integration')
    expect(message).toContain('deployments: read')
    expect(message).toContain('permissions:')
    expect(message).toContain('github-token')
  })

  test('404 for a repository the token cannot see names deployments-repository', async () => {
    await serve()
    const message = await failure({repository: 'acme/private-infra'})
    expect(message).toContain('Cannot list the deployments of acme/private-infra (HTTP 404: Not Found)')
    expect(message).toContain('deployments: read')
    expect(message).toContain('deployments-repository "acme/private-infra"')
  })

  test('403 rate limited says when it resets', async () => {
    const reset = Math.floor(Date.UTC(2030, 0, 2, 3, 4, 5) / 1000)
    await serve({rateLimitedUntil: reset})
    const message = await failure()
    expect(message).toContain('rate limit')
    expect(message).toContain('resets at 2030-01-02T03:04:05.000Z')
    expect(message).not.toContain('deployments: read')
  })

  test('the API is unreachable: names the host and GITHUB_API_URL', async () => {
    await serve()
    const port = await closedPort()
    const message = await failure({apiUrl: `http://127.0.0.1:${port}/api/v3`})
    expect(message).toContain(`Could not reach the GitHub API at 127.0.0.1:${port}`)
    expect(message).toContain('ECONNREFUSED')
    expect(message).toContain('GITHUB_API_URL')
  })

  test('a Link header leading to another host: refused before the token goes there', async () => {
    const elsewhere = await startGitHubApiServer({tags: TAGS, environments: {production: PRODUCTION}})
    try {
      const many = Array.from({length: 150}, (_, i) => ({
        ref: `v3.0.${i}`,
        createdAt: new Date(Date.UTC(2024, 0, 1) + i * 3_600_000).toISOString()
      }))
      const other = new URL(elsewhere.apiUrl).origin
      await serve({environments: {production: many}, linkOrigin: other})
      const message = await failure({version: 'v3.0.0'})
      expect(message).toContain(`The GitHub API's next page is on another host (${other}, not ${new URL(api!.apiUrl).origin})`)
      expect(message).toContain('not sending the token there')
      expect(elsewhere.requests).toEqual([])
    } finally {
      await elsewhere.close()
    }
  })

  test('a token pasted into the wrong input is masked', async () => {
    await serve()
    expect(await failure({environment: api!.token})).toContain('Environment "***" of acme/flagsmith has no deployments')
  })

  test('the token is in none of the messages', () => {
    expect(messages.length).toBeGreaterThanOrEqual(10)
    for (const message of messages) {
      expect(message).not.toContain('ghs_test_token_0123456789')
      expect(message).not.toContain('ghp_wrong_token_abcdef')
    }
  })
})

describe("the runner's proxy (HTTPS_PROXY, HTTP_PROXY, NO_PROXY)", () => {
  let proxy: ForwardProxy | undefined
  afterEach(async () => {
    await proxy?.close()
    proxy = undefined
  })

  /** The API's URL under a name no resolver knows: only the proxy, which sends everything to the fake API, gets there. */
  const unresolvable = (scheme = 'http'): string => `${scheme}://github-api.invalid:${new URL(api!.apiUrl).port}`

  test('HTTP_PROXY: every request, every page, goes through the proxy', async () => {
    const many = Array.from({length: 250}, (_, i) => ({
      ref: `v3.0.${i}`,
      createdAt: new Date(Date.UTC(2024, 0, 1) + i * 3_600_000).toISOString()
    }))
    await serve({environments: {production: many}})
    proxy = await startForwardProxy(Number(new URL(api!.apiUrl).port))
    const apiUrl = unresolvable()
    const {resolveFromDeployments: viaProxy} = await importUnder({GITHUB_API_URL: apiUrl, HTTP_PROXY: proxy.url}, true)

    const result = await viaProxy(target({apiUrl, version: 'v3.0.10'}))
    expect(result.next?.ref).toBe('v3.0.11')
    expect(result.target.url).toBe(`${apiUrl}/repos/acme/flagsmith/deployments/${result.target.id}`)
    expect(api!.deploymentPagesRead()).toEqual([1, 2, 3])
    // All four requests (the tag, three pages) came through the proxy, addressed to the name only it resolves.
    expect(api!.requests.map(r => r.host)).toEqual(Array(4).fill(`github-api.invalid:${new URL(api!.apiUrl).port}`))
    expect(proxy.seen.length).toBeGreaterThan(0)
    for (const line of proxy.seen) expect(line).toContain(`github-api.invalid:${new URL(api!.apiUrl).port}`)
  })

  test('HTTPS_PROXY for an https:// API; a proxy that refuses: the message says the API could not be reached, and how', async () => {
    await serve()
    proxy = await startForwardProxy(Number(new URL(api!.apiUrl).port), {refuse: true})
    const apiUrl = unresolvable('https')
    // HTTP_PROXY must not be taken for an https:// URL: it points at nothing.
    const {resolveFromDeployments: viaProxy} = await importUnder(
      {GITHUB_API_URL: apiUrl, HTTPS_PROXY: proxy.url, HTTP_PROXY: `http://127.0.0.1:${await closedPort()}`},
      true
    )

    const message = await failure({apiUrl}, viaProxy)
    expect(proxy.seen).toEqual([`CONNECT github-api.invalid:${new URL(api!.apiUrl).port}`])
    expect(message).toContain(`Could not reach the GitHub API at github-api.invalid:${new URL(api!.apiUrl).port} (`)
    expect(message).toContain('(Proxy response (403) !== 200 when HTTP Tunneling)')
    expect(message).toContain('HTTPS_PROXY')
    expect(message).toContain('GITHUB_API_URL')
    expect(api!.requests).toEqual([])
  })

  test('NO_PROXY: a host listed there is reached directly, not through the proxy', async () => {
    await serve()
    proxy = await startForwardProxy(Number(new URL(api!.apiUrl).port))
    const apiUrl = unresolvable()
    const {resolveFromDeployments: direct} = await importUnder(
      {GITHUB_API_URL: apiUrl, HTTP_PROXY: proxy.url, NO_PROXY: 'example.com, github-api.invalid'},
      true
    )

    // Directly, the name does not resolve: proof the proxy was bypassed.
    const message = await failure({apiUrl}, direct)
    expect(message).toContain(`Could not reach the GitHub API at github-api.invalid:${new URL(api!.apiUrl).port}`)
    expect(message).toMatch(/ENOTFOUND|EAI_AGAIN/)
    expect(proxy.seen).toEqual([])
    expect(api!.requests).toEqual([])
  })

  test('a loopback API URL is always reached directly (@actions/http-client bypasses the proxy for it)', async () => {
    await serve()
    proxy = await startForwardProxy(Number(new URL(api!.apiUrl).port))
    const {resolveFromDeployments: direct} = await importUnder({GITHUB_API_URL: api!.apiUrl, HTTP_PROXY: proxy.url}, true)

    const result = await direct(target())
    expect(result.next?.ref).toBe('v2.150.0')
    expect(proxy.seen).toEqual([])
    expect(api!.requests.map(r => r.host)).toEqual(Array(2).fill(new URL(api!.apiUrl).host))
  })
})

interface ForwardProxy {
  /** For HTTPS_PROXY / HTTP_PROXY. */
  url: string
  /** One line per request: `CONNECT host:port`, or `GET http://host:port/path` for a request in absolute form. */
  seen: string[]
  close(): Promise<void>
}

/**
 * An HTTP forward proxy with one upstream: whatever host a request names, it
 * goes to 127.0.0.1:upstreamPort. It tunnels CONNECT (what undici's
 * ProxyAgent, under @actions/http-client, sends for http:// targets too) and
 * forwards requests in absolute form. `refuse`: answers CONNECT with 403.
 */
async function startForwardProxy(upstreamPort: number, options: {refuse?: boolean} = {}): Promise<ForwardProxy> {
  const seen: string[] = []
  const sockets = new Set<net.Socket>()
  const track = (socket: net.Socket): void => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', () => socket.destroy())
  }
  const server = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`)
    if (!/^http:\/\//.test(req.url ?? '')) {
      res.writeHead(400).end('not a proxy request')
      return
    }
    const url = new URL(req.url!)
    const upstream = http.request(
      {host: '127.0.0.1', port: upstreamPort, method: req.method, path: `${url.pathname}${url.search}`, headers: req.headers},
      answer => {
        res.writeHead(answer.statusCode ?? 502, answer.headers)
        answer.pipe(res)
      }
    )
    upstream.on('error', () => res.writeHead(502).end())
    req.pipe(upstream)
  })
  server.on('connection', track)
  server.on('connect', (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    seen.push(`CONNECT ${req.url}`)
    if (options.refuse) {
      client.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n')
      return
    }
    const upstream = net.connect(upstreamPort, '127.0.0.1', () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n')
      upstream.write(head)
      upstream.pipe(client)
      client.pipe(upstream)
    })
    track(upstream)
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    seen,
    close: () =>
      new Promise<void>(resolve => {
        // Tunnels are no longer the server's connections: end them by hand, or close() waits for them.
        for (const socket of sockets) socket.destroy()
        server.close(() => resolve())
      })
  }
}

/** A port nothing listens on: bind one, then close it. */
function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const {port} = server.address() as net.AddressInfo
      server.close(() => resolve(port))
    })
  })
}
