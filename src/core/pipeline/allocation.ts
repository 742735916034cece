import * as tf from '@tensorflow/tfjs';
import { ECOFLAP_EPSILON, ECOFLAP_SAMPLES } from '../allocate/ecoflap';
import { OWL_OUTLIER_THRESHOLD, outlierRatio } from '../allocate/owl';
import type { AllocationInput, SensitivityCurves } from '../allocate/types';
import { kernelToMatrix } from '../criteria/layout';
import { wandaScores } from '../criteria/wanda';
import { mulberry32, normalGenerator } from '../data/synthetic';
import { unitSeed } from '../delta/dare';
import { readKernel, readKernels } from '../model/kernels';
import { nextTokenNll } from '../transformer/perplexity';
import type { PruningPlan } from '../plan';
import type { PipelineData } from './data';
import type { Prunable } from './prunable';
import { captureStats } from './stats';

/** The most allocation inputs a memo keeps; the oldest goes first. */
const ALLOCATION_MEMO_ENTRIES = 32;

export interface AllocationOptions {
  /** sensitivity: the sweep to allocate from (the host runs one when there is none). */
  sweep?: SensitivityCurves;
  /** owl: M (5). */
  outlierThreshold?: number;
  /** ecoflap: ε (1e-3). */
  epsilon?: number;
  shouldStop?(): boolean;
  /**
   * Outlier ratios and zeroth-order importance kept across slider moves, under `memoKey` (which
   * must name the data, the stored kernels and the backend): the key adds the allocation, the
   * units, the removals, the seed and the options they read. A stopped computation is not kept.
   */
  memo?: Map<string, Partial<AllocationInput>>;
  memoKey?: string;
}

/**
 * OWL's outlier ratio per block: the share of the block's Wanda scores |W_ij|·‖X_:,j‖₂ above
 * M·mean, X from the dense model (with `removed` bypassed) on the calibration batches, all units in
 * one pass per batch. Units without a W view are left out.
 */
export async function outlierRatios(
  model: Prunable,
  batches: readonly tf.Tensor[],
  units: readonly string[],
  options: { removed?: readonly string[]; threshold?: number } = {},
): Promise<Map<string, number>> {
  const measurable = units.filter((unit) => typeof model.layout(unit) !== 'string');
  const bypass = options.removed && options.removed.length > 0 ? new Set(options.removed) : undefined;
  const stats = await captureStats(model, batches, new Set(measurable), 'norms', { bypass });
  const blockOf = (unit: string): string => model.blockOf?.(unit) ?? unit;
  const blocks = new Map<string, { units: string[]; scores: Float64Array[] }>();
  for (const unit of measurable) {
    const unitStats = stats.get(unit);
    const layout = model.layout(unit);
    if (unitStats === undefined || typeof layout === 'string') continue;
    const entry = blocks.get(blockOf(unit)) ?? { units: [], scores: [] };
    entry.units.push(unit);
    entry.scores.push(wandaScores(layout.kind, kernelToMatrix(layout, await readKernel(model, unit)), unitStats));
    blocks.set(blockOf(unit), entry);
  }
  const ratios = new Map<string, number>();
  for (const entry of blocks.values()) {
    const joined = new Float64Array(entry.scores.reduce((n, s) => n + s.length, 0));
    entry.scores.reduce((offset, s) => (joined.set(s, offset), offset + s.length), 0);
    const ratio = outlierRatio(joined, options.threshold ?? OWL_OUTLIER_THRESHOLD);
    for (const unit of entry.units) ratios.set(unit, ratio);
  }
  return ratios;
}

/**
 * The calibration loss L of ECoFLaP for one batch's outputs: mean cross-entropy against the labels
 * (or, unlabelled, the dense model's own predictions); for token data the mean next-token NLL
 * against the text (or the dense model's next-token predictions data-free).
 */
async function lossFunction(
  model: Prunable,
  data: PipelineData,
  batches: readonly tf.Tensor[],
  bypass: ReadonlySet<string> | undefined,
): Promise<{ loss(outputs: tf.Tensor, batch: number): tf.Scalar; dispose(): void }> {
  const targets: tf.Tensor[] = [];
  let offset = 0;
  for (const batch of batches) {
    const count = batch.shape[0] ?? 0;
    if (data.kind === 'samples' && data.labels) targets.push(tf.tensor1d(data.labels.subarray(offset, offset + count), 'int32'));
    else if (data.kind === 'tokens' && !data.synthetic) targets.push(batch.clone());
    else {
      targets.push(
        tf.tidy(() => {
          const dense = model.forward(batch, { bypass });
          if (data.kind === 'samples') return dense.reshape([count, -1]).argMax(-1).toInt();
          const length = batch.shape[1] ?? 1;
          return dense
            .argMax(-1)
            .toInt()
            .pad([
              [0, 0],
              [1, 0],
            ])
            .slice([0, 0], [count, length]);
        }),
      );
    }
    offset += count;
  }
  const probabilities = model.outputsAreProbabilities?.() ?? false;
  const loss = (outputs: tf.Tensor, batch: number): tf.Scalar =>
    tf.tidy(() => {
      const target = targets[batch];
      if (data.kind === 'tokens') return nextTokenNll(outputs as tf.Tensor3D, target as tf.Tensor2D).mean() as tf.Scalar;
      const rows = outputs.shape[0] ?? 1;
      const flat = outputs.reshape([rows, -1]);
      const logP = probabilities ? flat.maximum(1e-7).log() : tf.logSoftmax(flat);
      const picked = tf.gather(
        logP.reshape([-1]),
        tf
          .range(0, rows, 1, 'int32')
          .mul(tf.scalar(flat.shape[1] ?? 1, 'int32'))
          .add(target),
      );
      return picked.neg().mean() as tf.Scalar;
    });
  return { loss, dispose: () => tf.dispose(targets) };
}

/**
 * ECoFLaP's zeroth-order importance per unit from forward passes only: Σ|g| over seeded directions
 * z ~ N(0, I) (`unitSeed(seed, unit)`), g = (L(θ + εz) − L(θ − εz)) / 2ε, every other unit as stored
 * and `removed` bypassed; L averaged over the calibration batches.
 */
export async function zerothOrderImportance(
  model: Prunable,
  data: PipelineData,
  batches: readonly tf.Tensor[],
  units: readonly string[],
  options: { seed: number; removed?: readonly string[]; epsilon?: number; draws?: number; shouldStop?(): boolean },
): Promise<Map<string, number>> {
  const epsilon = options.epsilon ?? ECOFLAP_EPSILON;
  const draws = options.draws ?? ECOFLAP_SAMPLES;
  if (!(epsilon > 0)) throw new RangeError(`epsilon must be positive, received ${epsilon}`);
  const bypass = options.removed && options.removed.length > 0 ? new Set(options.removed) : undefined;
  const shapes = new Map(model.units().map((unit) => [unit.name, unit.shape]));
  const objective = await lossFunction(model, data, batches, bypass);
  const lossWith = async (unit: string, values: Float32Array): Promise<number> => {
    const kernel = tf.tensor(values, shapes.get(unit), 'float32');
    try {
      let total = 0;
      for (const [b, batch] of batches.entries()) {
        const value = tf.tidy(() => objective.loss(model.forward(batch, { kernels: new Map([[unit, kernel]]), bypass }), b));
        total += (await value.data())[0];
        value.dispose();
      }
      return total / batches.length;
    } finally {
      kernel.dispose();
    }
  };
  const scores = new Map<string, number>();
  try {
    for (const unit of units) {
      if (options.shouldStop?.()) break;
      const weights = await readKernel(model, unit);
      const direction = normalGenerator(mulberry32(unitSeed(options.seed, unit)));
      let score = 0;
      for (let draw = 0; draw < draws; draw++) {
        const z = Float64Array.from(weights, () => direction());
        const plus = await lossWith(
          unit,
          Float32Array.from(weights, (w, j) => w + epsilon * z[j]),
        );
        const minus = await lossWith(
          unit,
          Float32Array.from(weights, (w, j) => w - epsilon * z[j]),
        );
        score += Math.abs((plus - minus) / (2 * epsilon));
      }
      scores.set(unit, score);
    }
  } finally {
    objective.dispose();
  }
  return scores;
}

/**
 * What the plan's allocation reads beyond units and target, for every kind: the kernels (global),
 * the sweep (sensitivity), outlier ratios (owl), zeroth-order importance (ecoflap).
 */
export async function allocationExtras(
  model: Prunable,
  plan: PruningPlan,
  data: PipelineData,
  batches: readonly tf.Tensor[],
  units: readonly string[],
  options: AllocationOptions = {},
): Promise<Partial<AllocationInput>> {
  if ((plan.allocation !== 'owl' && plan.allocation !== 'ecoflap') || options.memo === undefined || options.memoKey === undefined) {
    return computeExtras(model, plan, data, batches, units, options);
  }
  const key = JSON.stringify([
    options.memoKey,
    plan.allocation,
    units,
    [...plan.removed].sort(),
    plan.allocation === 'ecoflap' ? [plan.seed, options.epsilon ?? null] : [options.outlierThreshold ?? null],
  ]);
  const known = options.memo.get(key);
  if (known !== undefined) return known;
  const extras = await computeExtras(model, plan, data, batches, units, options);
  if (!options.shouldStop?.()) {
    if (options.memo.size >= ALLOCATION_MEMO_ENTRIES) options.memo.delete(options.memo.keys().next().value as string);
    options.memo.set(key, extras);
  }
  return extras;
}

async function computeExtras(
  model: Prunable,
  plan: PruningPlan,
  data: PipelineData,
  batches: readonly tf.Tensor[],
  units: readonly string[],
  options: AllocationOptions,
): Promise<Partial<AllocationInput>> {
  switch (plan.allocation) {
    case 'global':
      return { kernels: await readKernels(model, units) };
    case 'sensitivity':
      if (options.sweep === undefined) throw new Error('The sensitivity allocation needs a sweep: run one first (or pick another allocation)');
      return { sweep: options.sweep };
    case 'owl':
      return { outlierRatios: await outlierRatios(model, batches, units, { removed: plan.removed, threshold: options.outlierThreshold }) };
    case 'ecoflap':
      return {
        importance: await zerothOrderImportance(model, data, batches, units, { seed: plan.seed, removed: plan.removed, epsilon: options.epsilon, shouldStop: options.shouldStop }),
      };
    default:
      return {};
  }
}
