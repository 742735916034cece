import { kernelToMatrix, unitLayout } from '../criteria/layout';
import { magnitudeScores } from '../criteria/magnitude';
import { randomScores } from '../criteria/random';
import { UnsupportedPruningError, type CalibrationStats, type CriterionKey } from '../criteria/types';
import { wandaScores } from '../criteria/wanda';
import { pruneCount, pruneLowest, rowSquaredNorms } from '../masks';
import type { PrunableModel } from '../model/runtime';
import { readKernel } from '../model/kernels';
import { dependencyGroups } from './groups';
import type { ChannelGroup, ChannelProducer } from './types';

/** The part of a PruningPlan that channel selection reads (a PruningPlan is one). */
export interface ChannelPlan {
  /** Planned sparsity per unit in [0, 1]; units not listed count as 0. */
  sparsity: Readonly<Record<string, number>>;
  /**
   * `magnitude` (default): L2 norm of each kernel row; `wanda`: L2 norm of the row's |W_ij|·‖X_j‖;
   * `random`: L2 norm of the row of seeded uniform scores, as the random criterion draws them.
   */
  criterion?: CriterionKey;
  /** For `random` (default 0). */
  seed?: number;
}

export interface KeepOptions {
  /** How a group's sparsity follows from its producers' planned sparsities: the largest (default) or their mean. */
  combine?: 'max' | 'mean';
  /** Wanda: calibration statistics of each producer unit (`collectStats` with needs `norms`). */
  stats?: ReadonlyMap<string, CalibrationStats>;
  /** Kernel values to score instead of the stored ones, by unit. */
  kernels?: ReadonlyMap<string, Float32Array>;
}

async function kernelValues(model: PrunableModel, unit: string, kernels: KeepOptions['kernels']): Promise<Float32Array> {
  return kernels?.get(unit) ?? readKernel(model, unit);
}

/** ‖row j‖₂ of the producer's score matrix, one per output channel. */
async function producerScores(model: PrunableModel, producer: ChannelProducer, plan: ChannelPlan, options: KeepOptions): Promise<Float64Array> {
  const criterion = plan.criterion ?? 'magnitude';
  const info = model.units().find((unit) => unit.name === producer.unit);
  if (info === undefined) throw new Error(`no prunable unit named ${producer.unit}`);
  const layout = unitLayout(producer.className, producer.unit, info.shape);
  if (typeof layout === 'string') throw new UnsupportedPruningError(layout);
  const matrix = kernelToMatrix(layout, await kernelValues(model, producer.unit, options.kernels));
  let scores: Float32Array | Float64Array;
  if (criterion === 'random') {
    scores = randomScores(matrix.values.length, plan.seed ?? 0);
  } else if (criterion === 'wanda') {
    const stats = options.stats?.get(producer.unit);
    if (stats === undefined) throw new UnsupportedPruningError(`wanda needs calibration statistics for ${producer.unit}`);
    scores = wandaScores(layout.kind, matrix, stats);
  } else {
    scores = magnitudeScores(matrix);
  }
  return rowSquaredNorms(scores, matrix.rows, matrix.cols).map(Math.sqrt);
}

function groupSparsity(group: ChannelGroup, plan: ChannelPlan, combine: 'max' | 'mean'): number {
  const planned = group.producers.map((p) => plan.sparsity[p.unit] ?? 0);
  for (const s of planned) if (!(s >= 0 && s <= 1)) throw new RangeError(`planned sparsity must be in [0, 1], got ${s}`);
  return combine === 'max' ? Math.max(...planned) : planned.reduce((a, b) => a + b, 0) / planned.length;
}

/**
 * Which channels each shrinkable group keeps (1 = keep), for `shrinkModel`. A group's sparsity s is
 * the largest of its producers' planned sparsities (or their mean, `combine: 'mean'`); it loses the
 * ⌊s·channels⌋ lowest-scored channels, at most channels − 1. Channel j's score is the sum over the
 * group's producers of the L2 norm of their row j (magnitude, Wanda's |W|·‖X‖, or seeded random); equal scores
 * lose the lower channel first. Groups that cannot shrink are left out.
 */
export async function channelKeepMasks(
  model: PrunableModel,
  plan: ChannelPlan,
  groups: readonly ChannelGroup[] = dependencyGroups(model),
  options: KeepOptions = {},
): Promise<Map<string, Uint8Array>> {
  const criterion = plan.criterion ?? 'magnitude';
  if (criterion !== 'magnitude' && criterion !== 'wanda' && criterion !== 'random') {
    throw new UnsupportedPruningError(`channel groups are scored by magnitude, wanda or random, not ${criterion}`);
  }
  const masks = new Map<string, Uint8Array>();
  for (const group of groups) {
    if (!group.shrinkable) continue;
    const sparsity = groupSparsity(group, plan, options.combine ?? 'max');
    const mask = new Uint8Array(group.channels).fill(1);
    const count = Math.min(group.channels - 1, pruneCount(sparsity, group.channels));
    if (count > 0) {
      const scores = new Float64Array(group.channels);
      for (const producer of group.producers) {
        const rows = await producerScores(model, producer, plan, options);
        for (let j = 0; j < group.channels; j++) scores[j] += rows[j];
      }
      pruneLowest(scores, 0, group.channels, count, mask);
    }
    masks.set(group.id, mask);
  }
  return masks;
}
