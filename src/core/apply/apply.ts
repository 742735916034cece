import * as tf from '@tensorflow/tfjs';
import { pruneKernel } from '../criteria/layout';
import { getCriterion } from '../criteria/registry';
import type { CalibrationStats } from '../criteria/types';
import { parseNMPattern } from '../masks';
import type { PrunableModel } from '../model/runtime';
import type { PruningPlan } from '../plan';
import { collectStats, prunableLayout } from '../sweep/calibration';
import { yieldToEventLoop } from '../yield';
import { calibrationBatches, layerInput, readKernel, type CalibrationData, type CaptureOptions } from './capture';

export interface ApplyProgress {
  unit: string;
  /** 0-based position among the units pruned. */
  index: number;
  total: number;
  /** The unit's achieved sparsity. */
  sparsity: number;
}

export interface ApplyOptions extends CaptureOptions {
  /** Called after each unit is pruned. */
  onUnit?(progress: ApplyProgress): void;
  /** Checked between units; a stop keeps the units already pruned. */
  shouldStop?(): boolean;
}

export interface ApplyResult {
  /** Unit → pruned kernel values in the Keras layout, for every unit that was pruned. */
  kernels: Map<string, Float32Array>;
  /** Achieved sparsity of every unit of the model (from its pruned kernel, or the stored one). */
  sparsity: Record<string, number>;
  /** Units the plan asked to prune that the criterion cannot prune at this granularity; left as stored. */
  skipped: { unit: string; reason: string }[];
  /** True when `shouldStop` ended the job: units after the last one reported are as stored. */
  cancelled: boolean;
}

/** Share of exact zeros per kernel, and over all of them together. */
export function achievedSparsity(kernels: ReadonlyMap<string, ArrayLike<number>>): { sparsity: Record<string, number>; overall: number } {
  const sparsity: Record<string, number> = {};
  let zeros = 0;
  let weights = 0;
  for (const [unit, values] of kernels) {
    let count = 0;
    for (let i = 0; i < values.length; i++) if (values[i] === 0) count++;
    sparsity[unit] = values.length === 0 ? 0 : count / values.length;
    zeros += count;
    weights += values.length;
  }
  return { sparsity, overall: weights === 0 ? 0 : zeros / weights };
}

/**
 * The model as `collectStats` sees it, with `getKernel` answering the pruned kernels: the pointwise
 * half of a SeparableConv2D then sees the output of its pruned depthwise half. Nothing is stored.
 */
function withPrunedKernels(model: PrunableModel, pruned: ReadonlyMap<string, tf.Tensor>): PrunableModel {
  if (pruned.size === 0) return model;
  const view = Object.create(model) as PrunableModel;
  view.getKernel = (unit: string) => pruned.get(unit)?.clone() ?? model.getKernel(unit);
  return view;
}

function checkPlan(model: PrunableModel, plan: PruningPlan): void {
  const names = new Set(model.units().map((unit) => unit.name));
  for (const [unit, sparsity] of Object.entries(plan.sparsity)) {
    if (!names.has(unit)) throw new Error(`the plan names ${unit}, which is not a prunable unit of ${model.layersModel.name}`);
    if (!(sparsity >= 0 && sparsity <= 1)) throw new RangeError(`the plan's sparsity of ${unit} must be in [0, 1], received ${sparsity}`);
  }
}

/**
 * Prunes every unit whose planned sparsity is above 0 with the plan's criterion and granularity
 * (an N:M granularity prunes N/M whatever the value) and returns the new kernels; the model is not
 * changed (`setKernel` them, or pass them to `forward({kernels})`). Units go in execution order.
 * Criteria that read calibration statistics (Wanda, SparseGPT) take them from the first
 * min(128, N) calibration samples as they enter each unit in the model with the units before it
 * already pruned and `plan.removed` bypassed; magnitude and random need no data.
 */
export async function applyPlan(model: PrunableModel, plan: PruningPlan, calibration: CalibrationData | undefined, options: ApplyOptions = {}): Promise<ApplyResult> {
  checkPlan(model, plan);
  const criterion = getCriterion(plan.criterion);
  const pattern = parseNMPattern(plan.granularity);
  const units = model.units().filter((unit) => (plan.sparsity[unit.name] ?? 0) > 0);
  const result: ApplyResult = { kernels: new Map(), sparsity: {}, skipped: [], cancelled: false };
  if (criterion.needs !== 'none' && units.length > 0 && calibration === undefined) {
    throw new Error(`${criterion.key} needs calibration data (or data-free synthetic inputs); magnitude and random do not`);
  }
  const bypass = plan.removed.length > 0 ? new Set(plan.removed) : undefined;
  const batches = criterion.needs !== 'none' && calibration ? calibrationBatches(calibration, options) : [];
  const pruned = new Map<string, tf.Tensor>();
  try {
    for (let index = 0; index < units.length; index++) {
      if (options.shouldStop?.()) {
        result.cancelled = true;
        break;
      }
      const unit = units[index];
      const layout = prunableLayout(model, unit.name, criterion, plan.granularity);
      if (typeof layout === 'string') {
        result.skipped.push({ unit: unit.name, reason: layout });
        continue;
      }
      let stats: CalibrationStats | undefined;
      if (criterion.needs !== 'none') {
        const input = layerInput(model, batches, unit.layer, { kernels: pruned, bypass });
        try {
          stats = await collectStats(withPrunedKernels(model, pruned), unit.name, input, criterion.needs);
        } finally {
          input.dispose();
        }
      }
      const kernel = pruneKernel(criterion, layout, await readKernel(model, unit.name), {
        sparsity: pattern ? pattern.n / pattern.m : plan.sparsity[unit.name],
        granularity: plan.granularity,
        stats,
        seed: plan.seed,
      });
      result.kernels.set(unit.name, kernel);
      if (criterion.needs !== 'none') pruned.set(unit.name, tf.tensor(kernel, unit.shape, 'float32'));
      const sparsity = achievedSparsity(new Map([[unit.name, kernel]])).overall;
      options.onUnit?.({ unit: unit.name, index, total: units.length, sparsity });
      await yieldToEventLoop();
    }
  } finally {
    tf.dispose([...pruned.values()]);
    tf.dispose(batches);
  }
  for (const unit of model.units()) {
    const kernel = result.kernels.get(unit.name) ?? (await readKernel(model, unit.name));
    result.sparsity[unit.name] = achievedSparsity(new Map([[unit.name, kernel]])).overall;
  }
  return result;
}
