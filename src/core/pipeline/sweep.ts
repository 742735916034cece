import * as tf from '@tensorflow/tfjs';
import { pruneKernel } from '../criteria/layout';
import { getCriterion } from '../criteria/registry';
import { parseNMPattern } from '../masks';
import { readKernel } from '../model/kernels';
import { checkLabels, sweepMetric, type MetricContext } from '../sweep/metric';
import type { SweepOptions, SweepResult } from '../sweep/engine';
import { prunableUnitLayout } from './apply';
import { calibrationInputs, type SampleData } from './data';
import { predictSamples } from './evaluate';
import type { Prunable } from './prunable';
import { captureStats } from './stats';

/**
 * The sensitivity sweep for any kind on samples (DESIGN §3): each unit pruned alone at each
 * sparsity with the criterion (statistics from the dense model on the calibration batches, once per
 * unit), every other unit dense, the metric measured on every sample with one full forward pass per
 * cell. Kinds whose runtime can resume from cached activations have faster engines of their own.
 */
export async function sweepPrunable(model: Prunable, data: SampleData, options: Omit<SweepOptions, 'captureBudgetBytes' | 'calibrationSamples'>): Promise<SweepResult> {
  const criterion = typeof options.criterion === 'string' ? getCriterion(options.criterion) : options.criterion;
  checkLabels(options.metric, data.labels);
  const pattern = parseNMPattern(options.granularity);
  const sparsities = pattern ? [0, pattern.n / pattern.m] : [...options.sparsities];
  const units = model.units().filter((unit) => options.units === undefined || options.units.includes(unit.name));
  const result: SweepResult = {
    criterion: criterion.key,
    granularity: options.granularity,
    metric: options.metric,
    sparsities,
    layers: units.map((u) => u.name),
    values: units.map(() => sparsities.map(() => NaN)),
    dense: NaN,
    skipped: [],
    cancelled: false,
    cells: 0,
  };
  const dense = await predictSamples(model, data, { batchSize: options.batchSize, shouldStop: options.shouldStop });
  if (dense.cancelled) return { ...result, cancelled: true };
  const context: MetricContext = {
    metric: options.metric,
    labels: data.labels,
    reference: dense.outputs,
    classes: dense.perSample,
    fromLogits: !(model.outputsAreProbabilities?.() ?? false),
  };
  result.dense = sweepMetric(context, dense.outputs);
  const total = units.length * sparsities.length;
  const batches = criterion.needs === 'none' ? [] : calibrationInputs(data);
  try {
    for (const [row, unit] of units.entries()) {
      const layout = prunableUnitLayout(model, unit.name, criterion, options.granularity);
      if (typeof layout === 'string') {
        result.skipped.push({ unit: unit.name, reason: layout });
        result.cells += sparsities.length;
        continue;
      }
      const stats = criterion.needs === 'none' ? undefined : (await captureStats(model, batches, new Set([unit.name]), criterion.needs)).get(unit.name);
      if (criterion.needs !== 'none' && stats === undefined) {
        result.skipped.push({
          unit: unit.name,
          reason: `${criterion.key} needs the unit's calibration inputs, and none reached it (it sits in a branch the calibration data does not take)`,
        });
        result.cells += sparsities.length;
        continue;
      }
      const kernel = await readKernel(model, unit.name);
      for (const [column, sparsity] of sparsities.entries()) {
        if (options.shouldStop?.()) return { ...result, cancelled: true };
        let value = result.dense;
        if (sparsity > 0) {
          const values = pruneKernel(criterion, layout, kernel, { sparsity, granularity: options.granularity, stats, seed: options.seed ?? 0 });
          const pruned = tf.tensor(values, unit.shape, 'float32');
          try {
            const run = await predictSamples(model, data, { batchSize: options.batchSize, forward: { kernels: new Map([[unit.name, pruned]]) }, shouldStop: options.shouldStop });
            if (run.cancelled) return { ...result, cancelled: true };
            value = sweepMetric(context, run.outputs);
          } finally {
            pruned.dispose();
          }
        }
        result.values[row][column] = value;
        result.cells += 1;
        options.onCell?.({ unit: unit.name, sparsity, value, index: row * sparsities.length + column, total });
      }
    }
  } finally {
    tf.dispose(batches);
  }
  return result;
}
