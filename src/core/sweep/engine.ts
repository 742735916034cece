import * as tf from '@tensorflow/tfjs';
import { kernelToMatrix, pruneKernel, type UnitLayout } from '../criteria/layout';
import { getCriterion } from '../criteria/registry';
import type { CalibrationStats, Criterion, CriterionKey, Granularity, PruneRequest, WeightMatrix } from '../criteria/types';
import type { EvalData } from '../evaluate';
import { parseNMPattern } from '../masks';
import type { PrunableModel } from '../model/runtime';
import type { UnitInfo } from '../types';
import { yieldToEventLoop } from '../yield';
import { collectStats, prunableLayout } from './calibration';
import { checkLabels, checkOutputRows, needsLabels, sweepMetric, type MetricContext, type SweepMetric } from './metric';
import { cachedEvaluator, inputBatches, naiveEvaluator, type EvaluatorFactory, type LayerRunner } from './runners';
import { readKernel } from '../model/kernels';
import { sweepTable } from './table';

export { SWEEP_METRICS, type SweepMetric } from './metric';

/** The default grid of DESIGN §6: 0, 0.1 … 0.9, 0.95. */
export const DEFAULT_SPARSITIES: readonly number[] = [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95];

/** One filled cell, reported as soon as it is known. `value` is NaN for a unit the criterion skips. */
export interface SweepCell {
  unit: string;
  sparsity: number;
  value: number;
  /** 0-based position in unit-major order. */
  index: number;
  total: number;
}

export interface SweepOptions {
  /** A registered criterion, or a criterion object (its `key` names it in the result). */
  criterion: CriterionKey | Criterion;
  granularity: Granularity;
  /** Ignored for N:M granularities, whose grid is [0, N/M]. */
  sparsities: readonly number[];
  metric: SweepMetric;
  /** Units to sweep, in this order; all of the model's by default. */
  units?: readonly string[];
  /** For the random criterion (0). */
  seed?: number;
  /** Samples per forward pass (64). Values are bit-identical between runs with the same batch size. */
  batchSize?: number;
  /** Samples whose layer inputs give the calibration statistics: the first min(128, N) (a shared layer: its first call). */
  calibrationSamples?: number;
  /** Captured activations held at once stay under this many bytes (256 MiB); the cached engine captures in more passes beyond. */
  captureBudgetBytes?: number;
  onCell?(cell: SweepCell): void;
  /** Checked between cells and between batches; a stop keeps the cells already done. */
  shouldStop?(): boolean;
}

/** `lopper sweep`'s JSON (DESIGN §6) without dataHash, backend and seconds. */
export interface SweepResult {
  criterion: CriterionKey;
  granularity: Granularity;
  metric: SweepMetric;
  sparsities: number[];
  /** Unit names, one row of `values` each. */
  layers: string[];
  /** units × sparsities, absolute metric values; NaN where not computed or skipped. */
  values: number[][];
  /** The dense model's metric (0 for kl and js). */
  dense: number;
  /** Units the criterion cannot prune at this granularity, with the reason. */
  skipped: { unit: string; reason: string }[];
  cancelled: boolean;
  /** Cells filled (skipped units' cells included). */
  cells: number;
}

/** The file `lopper sweep` writes (DESIGN §6): NaN values become null, `skipped` only when non-empty. */
export interface SweepFile extends Omit<SweepResult, 'values' | 'skipped' | 'cancelled' | 'cells'> {
  values: (number | null)[][];
  /** Hex SHA-256 of the dataset file, or `synthetic:<seed>:<samples>`. */
  dataHash: string;
  backend: string;
  seconds: number;
  skipped?: SweepResult['skipped'];
}

/** The sparsity columns of a sweep: the given grid, or [0, N/M] for an N:M granularity. */
export function sweepGrid(granularity: Granularity, sparsities: readonly number[]): number[] {
  const pattern = parseNMPattern(granularity);
  if (pattern) return [0, pattern.n / pattern.m];
  if (sparsities.length === 0) throw new Error('the sparsity grid is empty');
  for (const s of sparsities) {
    if (!Number.isFinite(s) || s < 0 || s > 1) throw new Error(`sparsities must lie in [0, 1], received ${s}`);
  }
  return [...sparsities];
}

function selectUnits(model: PrunableModel, names: readonly string[] | undefined): UnitInfo[] {
  const all = model.units();
  if (names === undefined) return all;
  return names.map((name) => {
    const unit = all.find((u) => u.name === name);
    if (unit === undefined) throw new Error(`no prunable unit named ${name}; the model has ${all.map((u) => u.name).join(', ')}`);
    return unit;
  });
}

/** What one row of the sweep reuses across its cells: the stored kernel and W made from it. */
interface PreparedUnit {
  kernel: Float32Array;
  matrix: WeightMatrix;
  stats?: CalibrationStats;
}

async function prepareUnit(model: PrunableModel, unit: string, layout: UnitLayout, criterion: Criterion, runner: LayerRunner, calibrationSamples: number): Promise<PreparedUnit> {
  const kernel = await readKernel(model, unit);
  const matrix: WeightMatrix = kernelToMatrix(layout, kernel);
  if (criterion.needs === 'none') return { kernel, matrix };
  const input = runner.layerInput(calibrationSamples);
  try {
    return { kernel, matrix, stats: await collectStats(model, unit, input, criterion.needs) };
  } finally {
    input.dispose();
  }
}

/** One cell: the unit pruned at `sparsity`, the model run with that kernel, the metric of its outputs. */
async function evaluateCell(
  unit: UnitInfo,
  layout: UnitLayout,
  prepared: PreparedUnit,
  request: Pick<PruneRequest, 'sparsity' | 'granularity' | 'seed'>,
  criterion: Criterion,
  runner: LayerRunner,
  shouldStop: (() => boolean) | undefined,
): Promise<Float32Array | undefined> {
  const { matrix, stats } = prepared;
  const kernel = tf.tensor(pruneKernel(criterion, layout, prepared.kernel, { ...request, stats }, matrix), unit.shape, 'float32');
  try {
    return await runner.outputs(new Map([[unit.name, kernel]]), shouldStop);
  } finally {
    kernel.dispose();
  }
}

function metricContext(model: PrunableModel, data: EvalData, metric: SweepMetric, reference: Float32Array): MetricContext {
  const samples = data.shape[0];
  const lastDim = model.outputShape[model.outputShape.length - 1];
  const context: MetricContext = {
    metric,
    labels: data.labels,
    reference,
    classes: typeof lastDim === 'number' ? lastDim : reference.length / samples,
    fromLogits: !model.outputIsProbability(),
  };
  checkOutputRows(context, samples);
  return context;
}

async function sweepWith(model: PrunableModel, data: EvalData, options: SweepOptions, makeEvaluator: EvaluatorFactory): Promise<SweepResult> {
  const criterion = typeof options.criterion === 'string' ? getCriterion(options.criterion) : options.criterion;
  const { granularity, metric, shouldStop } = options;
  const grid = sweepGrid(granularity, options.sparsities);
  const units = selectUnits(model, options.units);
  checkLabels(metric, data.labels);
  const calibrationSamples = Math.max(1, Math.min(options.calibrationSamples ?? 128, data.shape[0]));
  const cellRequest = { granularity, seed: options.seed ?? 0 };
  const targets = units.map((unit) => prunableLayout(model, unit.name, criterion, granularity));
  const { result, fill } = sweepTable({ criterion: criterion.key, granularity, metric, grid, units, targets, onCell: options.onCell });
  const stopped = (): SweepResult => ({ ...result, cancelled: true });

  const swept = units.filter((_, row) => typeof targets[row] !== 'string' && grid.some((s) => s > 0)).map((unit) => unit.layer);
  const batches = inputBatches(data, options.batchSize ?? 64);
  const evaluator = makeEvaluator(
    model,
    batches,
    swept.filter((layer, i) => layer !== swept[i - 1]),
    options.captureBudgetBytes ?? 256 * 2 ** 20,
  );
  try {
    const reference = await evaluator.dense(shouldStop);
    if (reference === undefined) return stopped();
    const context = metricContext(model, data, metric, reference);
    result.dense = needsLabels(metric) ? sweepMetric(context, reference) : 0;
    let runner: LayerRunner | undefined;
    for (const [row, unit] of units.entries()) {
      const target = targets[row];
      let prepared: PreparedUnit | undefined;
      for (const [column, sparsity] of grid.entries()) {
        if (shouldStop?.()) return stopped();
        if (typeof target === 'string' || sparsity === 0) {
          fill(row, column, typeof target === 'string' ? NaN : result.dense);
          continue;
        }
        if (runner?.layer !== unit.layer) runner = await evaluator.runner(unit.layer, shouldStop);
        if (runner === undefined) return stopped();
        prepared ??= await prepareUnit(model, unit.name, target, criterion, runner, calibrationSamples);
        const outputs = await evaluateCell(unit, target, prepared, { ...cellRequest, sparsity }, criterion, runner, shouldStop);
        if (outputs === undefined) return stopped();
        fill(row, column, sweepMetric(context, outputs));
        await yieldToEventLoop();
      }
    }
    return result;
  } finally {
    evaluator.dispose();
    tf.dispose(batches);
  }
}

/**
 * Sensitivity sweep (DESIGN §3): for every unit × sparsity, prune only that unit with the criterion
 * and record the metric with every other unit dense. The activations entering each unit's layer are
 * captured once, and each cell runs the model from that layer on; calibration statistics and the
 * unit's weight matrix are computed once per unit. Sparsity 0 is the dense value.
 */
export function runSweep(model: PrunableModel, data: EvalData, options: SweepOptions): Promise<SweepResult> {
  return sweepWith(model, data, options, cachedEvaluator);
}

/** The same sweep with one full forward pass per cell: the baseline for benchmarks and tests. */
export function runNaiveSweep(model: PrunableModel, data: EvalData, options: SweepOptions): Promise<SweepResult> {
  return sweepWith(model, data, options, naiveEvaluator);
}
