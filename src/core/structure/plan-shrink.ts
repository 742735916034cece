import type * as tf from '@tensorflow/tfjs';
import type { PrunableModel } from '../model/runtime';
import { captureStats } from '../pipeline/stats';
import type { PruningPlan } from '../plan';
import { liveLayers } from '../removal/topology';
import { layerRemovalCandidates } from '../removal/layer-removal';
import type { Prunable } from '../pipeline/prunable';
import { dependencyGroups } from './groups';
import { channelKeepMasks } from './keep';
import { shrinkModel, type ShrinkResult } from './shrink';

export interface PlannedShrink {
  shrunk: ShrinkResult;
  /** Groups the plan asked to shrink that cannot (or pass through a removed layer), by group id. */
  skipped: { unit: string; reason: string }[];
  /** Share of each producer unit's channels removed. */
  achieved: Record<string, number>;
  /** Removed channels' share over the producers' weights. */
  overall: number;
}

/** Channel groups are scored by these criteria (keep.ts); the page offers no other with channels. */
export const CHANNEL_CRITERIA = ['magnitude', 'wanda', 'random'] as const;

/**
 * A channels plan on a LayersModel, the same in the page and the CLI: each dependency group loses
 * its lowest-scored channels (magnitude, random, or Wanda with input norms from the calibration
 * batches, `plan.removed` bypassed) in every weight that holds them. Groups that pass through a
 * removed layer's kernel stay whole.
 */
export async function shrinkForPlan(model: PrunableModel, prunable: Prunable, plan: PruningPlan, batches: readonly tf.Tensor[], topology: unknown): Promise<PlannedShrink> {
  if (!(CHANNEL_CRITERIA as readonly string[]).includes(plan.criterion)) {
    throw new Error(`channels are scored by ${CHANNEL_CRITERIA.join(', ')}, not ${plan.criterion}`);
  }
  const groups = dependencyGroups(model);
  const live = plan.removed.length > 0 ? liveLayers(model, new Set(plan.removed), layerRemovalCandidates(model)) : undefined;
  const usable = groups.filter((group) => live === undefined || group.slices.every((slice) => slice.role === 'channel' || live.has(slice.layer)));
  const planned = (group: (typeof groups)[number]): boolean => group.producers.some((p) => (plan.sparsity[p.unit] ?? 0) > 0);
  const skipped = groups
    .filter((group) => planned(group) && (!group.shrinkable || !usable.includes(group)))
    .map((group) => ({ unit: group.id, reason: group.shrinkable ? 'its channels pass through a removed layer' : (group.reason ?? 'the group cannot shrink') }));
  const producers = new Set(usable.flatMap((group) => group.producers.map((p) => p.unit)));
  const bypass = plan.removed.length > 0 ? new Set(plan.removed) : undefined;
  const stats = plan.criterion === 'wanda' ? await captureStats(prunable, batches, producers, 'norms', { bypass }) : undefined;
  const keep = await channelKeepMasks(model, plan, usable, { ...(stats && { stats }) });
  const shrunk = await shrinkModel(model, keep, { groups, topology: topology as Record<string, unknown> });
  const achieved: Record<string, number> = Object.fromEntries(model.units().map((u) => [u.name, 0]));
  for (const group of groups) {
    const removed = shrunk.removed[group.id] ?? 0;
    for (const producer of group.producers) achieved[producer.unit] = removed / group.channels;
  }
  const units = model.units();
  const size = units.reduce((n, u) => n + u.size, 0);
  const overall = size === 0 ? 0 : units.reduce((n, u) => n + (achieved[u.name] ?? 0) * u.size, 0) / size;
  return { shrunk, skipped, achieved, overall };
}
