/** target-version through GitHub deployments, against a local server answering as the REST API does. */
import {afterEach, describe, expect, test} from '@jest/globals'
import net from 'node:net'
import type {DeploymentsTarget} from '../../../src/config.js'
import {DeploymentsError, resolveFromDeployments, type DeploymentsResolution} from '../../../src/target/deployments.js'
import {startGitHubApiServer, type GitHubApiServer, type GitHubApiServerOptions, type TestDeployment} from '../../support/github-api-server.js'

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

/** The DeploymentsError message; every one is checked for the token. */
async function failure(overrides: Partial<DeploymentsTarget> = {}): Promise<string> {
  const t = target(overrides)
  try {
    await resolveFromDeployments(t)
  } catch (error) {
    expect(error).toBeInstanceOf(DeploymentsError)
    const message = (error as Error).message
    messages.push(message)
    expect(message).not.toContain(t.token)
    return message
  }
  throw new Error('expected a DeploymentsError')
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

  test("sends GitHub's headers with a bearer token", async () => {
    await serve()
    await resolve()
    expect(api!.requests.length).toBeGreaterThan(0)
    for (const request of api!.requests) expect(request.authorization).toBe(`Bearer ${api!.token}`)
    expect(api!.requests[0]).toMatchObject({path: '/repos/acme/flagsmith/commits/v2.149.0', status: 200})
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

  test('GitHub Enterprise Server: the API under /api/v3', async () => {
    await serve({prefix: '/api/v3'})
    expect(api!.apiUrl).toMatch(/\/api\/v3$/)
    const result = await resolve({apiUrl: `${api!.apiUrl}/`})
    expect(result.cutoff?.utc).toBe('2024-10-15T10:00:00.000000Z')
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
  test('never deployed to the environment: lists the most recent deployments', async () => {
    const many = Array.from({length: 12}, (_, i) => ({
      ref: `v2.1${String(i).padStart(2, '0')}.0`,
      createdAt: `2024-09-${String(i + 1).padStart(2, '0')}T08:00:00Z`
    }))
    await serve({environments: {production: many}})
    const message = await failure({version: 'v2.150.0'})
    expect(message).toContain('target-version v2.150.0 was never deployed to environment "production" of acme/flagsmith')
    expect(message).toContain(`the tag's commit ${TAGS['v2.150.0']}`)
    expect(message).toContain('v2.111.0')
    expect(message).toContain('2024-09-12T08:00:00Z')
    expect(message).toContain('v2.102.0')
    expect(message).not.toContain('v2.101.0') // only the 10 most recent
    expect(message).toContain('target-datetime')
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

  test('a malformed deployments-repository or GITHUB_API_URL', async () => {
    await serve()
    expect(await failure({repository: 'flagsmith'})).toContain('deployments-repository "flagsmith" is not valid')
    expect(await failure({apiUrl: 'api.github.com'})).toContain('GITHUB_API_URL "api.github.com" is not a URL')
  })

  test('a token pasted into the wrong input is masked', async () => {
    await serve()
    expect(await failure({repository: api!.token})).toContain('deployments-repository "***" is not valid')
  })

  test('the token is in none of the messages', () => {
    expect(messages.length).toBeGreaterThanOrEqual(9)
    for (const message of messages) {
      expect(message).not.toContain('ghs_test_token_0123456789')
      expect(message).not.toContain('ghp_wrong_token_abcdef')
    }
  })
})

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
