import * as tf from '@tensorflow/tfjs';
import { calibrationBatches, captureBefore, CALIBRATION_SAMPLES, readKernel } from '../apply/capture';
import { mulberry32, normalGenerator } from '../data/synthetic';
import type { EvalData } from '../evaluate';
import { argMaxRows } from '../metrics/accuracy';
import { crossEntropy } from '../metrics/cross-entropy';
import { disposeActivations, type CapturedActivations, type PrunableModel } from '../model/runtime';
import type { UnitInfo } from '../types';
import { collectOutputs } from '../sweep/runners';
import { yieldToEventLoop } from '../yield';
import { assemble, budgetOf, solveRamps } from './budget';
import { AllocationInputError, type Allocation } from './types';

/**
 * ECoFLaP: a unit's keep-budget (density) is proportional to its importance per weight,
 * d_l = c · importance_l / size_l, clamped to [1 − cap, 1], with c such that the
 * parameter-weighted sparsity hits the target. All-zero importances give the uniform allocation.
 */
export const ecoflap: Allocation = {
  key: 'ecoflap',
  allocate(input) {
    const budget = budgetOf(input);
    const perWeight = budget.free.map((unit) => {
      const score = input.importance?.get(unit.name);
      if (score === undefined) throw new AllocationInputError(`ecoflap needs an importance score for ${unit.name}`);
      if (!(score >= 0) || !Number.isFinite(score)) {
        throw new AllocationInputError(`ecoflap: the importance of ${unit.name} must be a finite non-negative number, received ${score}`);
      }
      return unit.size === 0 ? 0 : score / unit.size;
    });
    const flat = perWeight.every((r) => r === 0);
    const ramps = budget.free.map((unit, i) => ({
      size: unit.size,
      offset: 0,
      slope: flat ? 1 : perWeight[i],
      low: 1 - budget.cap,
      high: 1,
    }));
    const density = solveRamps(ramps, budget.freeSize - budget.goal);
    return assemble(
      input,
      budget,
      density.map((d) => 1 - d),
    );
  },
};

export const ECOFLAP_EPSILON = 1e-3;
export const ECOFLAP_SAMPLES = 4;

export interface ZerothOrderOptions {
  /** Step ε of the central difference (1e-3). */
  epsilon?: number;
  /** Random directions z per unit (4). */
  samples?: number;
  /** Seed of the directions (0). */
  seed?: number;
  /** Units to score, all of the model's by default. */
  units?: readonly string[];
  /** How many of the first samples to evaluate the loss on (128). */
  calibrationSamples?: number;
  /** Samples per forward pass (64). */
  batchSize?: number;
  /** Checked between units; a stop returns the scores computed so far. */
  shouldStop?(): boolean;
  onUnit?(progress: { unit: string; index: number; total: number }): void;
}

/** A seed of its own for the directions of the unit at `index` in `model.units()`. */
function unitSeed(seed: number, index: number): number {
  return (seed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0;
}

/**
 * Σ|g| over `draws` directions for one unit, from the activations captured before its layer;
 * `undefined` when stopped.
 */
async function unitImportance(
  model: PrunableModel,
  unit: UnitInfo,
  starts: readonly CapturedActivations[],
  loss: (outputs: Float32Array) => number,
  direction: () => number,
  options: { epsilon: number; draws: number; shouldStop?(): boolean },
): Promise<number | undefined> {
  const weights = await readKernel(model, unit.name);
  const lossWith = async (values: Float32Array): Promise<number | undefined> => {
    const kernel = tf.tensor(values, unit.shape, 'float32');
    try {
      const kernels = new Map([[unit.name, kernel]]);
      const outputs = await collectOutputs(starts.length, (i) => model.forwardFrom(unit.layer, starts[i], { kernels }), options.shouldStop);
      return outputs && loss(outputs);
    } finally {
      kernel.dispose();
    }
  };
  const { epsilon } = options;
  let total = 0;
  for (let k = 0; k < options.draws; k++) {
    const z = Float64Array.from({ length: weights.length }, direction);
    const plus = await lossWith(Float32Array.from(weights, (w, j) => w + epsilon * z[j]));
    const minus = await lossWith(Float32Array.from(weights, (w, j) => w - epsilon * z[j]));
    if (plus === undefined || minus === undefined) return undefined;
    total += Math.abs((plus - minus) / (2 * epsilon));
  }
  return total;
}

/**
 * Zeroth-order importance per unit (ECoFLaP, Sung et al. 2023), from forward passes only: for
 * each of `samples` directions z ~ N(0, I) over the unit's kernel, g = (L(θ + εz) − L(θ − εz)) / 2ε
 * with every other unit as stored, and the score is Σ|g|. L is the cross-entropy on the first
 * min(128, N) samples, against the labels when the data has them and otherwise against the dense
 * model's own predictions (arg max): the divergence from the dense outputs is at its minimum at θ,
 * so its central difference would vanish. Directions are seeded per unit (deterministic). A stop
 * returns the units finished so far.
 */
export async function zerothOrderImportance(model: PrunableModel, data: EvalData, options: ZerothOrderOptions = {}): Promise<Map<string, number>> {
  const epsilon = options.epsilon ?? ECOFLAP_EPSILON;
  const draws = options.samples ?? ECOFLAP_SAMPLES;
  if (!(epsilon > 0)) throw new RangeError(`epsilon must be positive, received ${epsilon}`);
  if (!Number.isInteger(draws) || draws < 1) throw new RangeError(`samples must be a positive integer, received ${draws}`);
  const all = model.units();
  const names = options.units ?? all.map((unit) => unit.name);
  const scores = new Map<string, number>();
  const batches = calibrationBatches(data, { samples: options.calibrationSamples ?? CALIBRATION_SAMPLES, batchSize: options.batchSize });
  try {
    const dense = await collectOutputs(batches.length, (i) => model.forward(batches[i]), options.shouldStop);
    if (dense === undefined) return scores;
    const count = batches.reduce((n, x) => n + x.shape[0], 0);
    const classes = model.outputShape[model.outputShape.length - 1] ?? dense.length / count;
    const labels = data.labels ? data.labels.subarray(0, count) : argMaxRows(dense, classes);
    const fromLogits = !model.outputIsProbability();
    const loss = (outputs: Float32Array): number => crossEntropy(outputs, labels, classes, { fromLogits });
    for (let n = 0; n < names.length; n++) {
      const index = all.findIndex((unit) => unit.name === names[n]);
      if (index < 0) throw new Error(`no prunable unit named ${names[n]}`);
      const unit = all[index];
      const starts = captureBefore(model, batches, unit.layer);
      let score: number | undefined;
      try {
        const direction = normalGenerator(mulberry32(unitSeed(options.seed ?? 0, index)));
        score = await unitImportance(model, unit, starts, loss, direction, { epsilon, draws, shouldStop: options.shouldStop });
      } finally {
        disposeActivations(starts);
      }
      if (score === undefined) break;
      scores.set(unit.name, score);
      options.onUnit?.({ unit: unit.name, index: n, total: names.length });
      await yieldToEventLoop();
    }
  } finally {
    tf.dispose(batches);
  }
  return scores;
}
