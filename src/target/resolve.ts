/**
 * Turns the target input (a datetime, or a release tag through GitHub
 * deployments or through the release's source) into the plan's S, keeping the
 * evidence the summary shows for why the cutoff is where it is.
 */
import * as core from '@actions/core'
import type {Cutoff, Target} from '../config.js'
import type {History} from '../history.js'
import {type Plan, planFromSelection, planRollback} from '../plan.js'
import {type DeploymentsResolution, resolveFromDeployments} from './deployments.js'
import {scanSource, selectFromSource, type SourceMigrations} from './source.js'

export type TargetEvidence =
  | {kind: 'datetime'}
  | {kind: 'deployments'; resolution: DeploymentsResolution}
  | {
      kind: 'source'
      version: string
      path: string
      apps: number
      migrations: number
      /** Apps the source does not contain, whose rows from the cutoff on were rolled back too. */
      outsideApps: {app: string; rows: number}[]
    }

export interface ResolvedTarget {
  /** Null for a source target (S comes from the rows), or when nothing was deployed after the release. */
  cutoff: Cutoff | null
  source?: SourceMigrations
  evidence: TargetEvidence
}

export async function resolveTarget(target: Target): Promise<ResolvedTarget> {
  switch (target.kind) {
    case 'datetime':
      return {cutoff: target.cutoff, evidence: {kind: 'datetime'}}
    case 'deployments': {
      core.info(`Resolving ${target.version} through the deployments of ${target.repository} to ${target.environment}`)
      const resolution = await resolveFromDeployments(target, line => core.info(line))
      return {cutoff: resolution.cutoff, evidence: {kind: 'deployments', resolution}}
    }
    case 'source': {
      const {migrations} = await scanSource(target.path)
      let count = 0
      for (const names of migrations.values()) count += names.size
      core.info(`Source of ${target.version} at ${target.path}: ${migrations.size} apps, ${count} migrations`)
      return {
        cutoff: null,
        source: migrations,
        evidence: {kind: 'source', version: target.version, path: target.path, apps: migrations.size, migrations: count, outsideApps: []}
      }
    }
  }
}

/** The plan for a resolved target; a source target's S comes from comparing the rows with the source. */
export function planForTarget(resolved: ResolvedTarget, history: History): Plan {
  if (resolved.source && resolved.evidence.kind === 'source') {
    const selection = selectFromSource(history.rows, resolved.source)
    resolved.evidence.outsideApps = selection.outsideApps
    return planFromSelection(history.rows, selection, `the source of ${resolved.evidence.version}`, history.now)
  }
  return planRollback(history.rows, resolved.cutoff as Cutoff, history.now)
}
