import {explain, transientKubeFault} from '../../../src/executors/kubectl-faults.js'

const ctx = {kind: 'deployment' as const, resource: 'deployment/api', namespace: 'prod', during: 'resolve' as const}

describe('kubectl faults', () => {
  it('retries a refused or timed-out API server, never Forbidden or Unauthorized', () => {
    expect(transientKubeFault('Unable to connect to the server: dial tcp 10.0.0.1:6443: connect: connection refused')).toBe('ECONNREFUSED')
    expect(transientKubeFault('dial tcp 10.0.0.1:6443: i/o timeout')).toBe('ETIMEDOUT')
    expect(transientKubeFault('Error from server (Forbidden): pods is forbidden: connection refused')).toBeUndefined()
    expect(transientKubeFault('error: You must be logged in to the server (Unauthorized)')).toBeUndefined()
  })

  it('names the missing RBAC permission and what the Role needs', () => {
    const message = explain(
      'Error from server (Forbidden): deployments.apps "api" is forbidden: User "ci" cannot get resource "deployments" in API group "apps" in the namespace "prod"',
      ctx
    )
    expect(message).toContain('the credentials lack "get" on deployments (API group apps) in namespace prod')
    expect(message).toContain('"list" on pods to resolve deployment/NAME to a pod')
  })

  it('a pod replaced during the run is said as such, and unknown output is left to the caller', () => {
    expect(explain('Error from server (NotFound): pods "api-1" not found', {...ctx, during: 'exec', pod: 'api-1'})).toContain(
      'Pod api-1, chosen for this run, no longer exists'
    )
    expect(explain('Traceback (most recent call last): ...', ctx)).toBeUndefined()
  })
})
