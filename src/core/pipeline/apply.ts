import * as tf from '@tensorflow/tfjs';
import { achievedSparsity } from '../apply/apply';
import { kernelToMatrix, matrixToKernel } from '../criteria/layout';
import { getCriterion } from '../criteria/registry';
import type { Criterion, Granularity } from '../criteria/types';
import { parseNMPattern } from '../masks';
import { readKernel } from '../model/kernels';
import type { PruningPlan } from '../plan';
import { yieldToEventLoop } from '../yield';
import type { Prunable } from './prunable';
import { captureStats } from './stats';

export interface PlanProgress {
  unit: string;
  /** 0-based position among the units pruned. */
  index: number;
  total: number;
}

export interface PlanApplyOptions {
  onUnit?(progress: PlanProgress): void;
  /** Checked between units; a stop keeps the units already pruned (`cancelled` is then true). */
  shouldStop?(): boolean;
}

export interface PlanKernels {
  /** Unit → pruned kernel in its stored shape, for every unit that was pruned. */
  kernels: Map<string, Float32Array>;
  /** Achieved sparsity of every unit (from its pruned kernel, or the stored one). */
  sparsity: Record<string, number>;
  /** Zeros over the weights of every unit together. */
  overall: number;
  /** Units the plan asked to prune that the criterion cannot prune at this granularity; left as stored. */
  skipped: { unit: string; reason: string }[];
  cancelled: boolean;
}

/** The unit's W view when the criterion can prune it at this granularity, else the reason it cannot. */
export function prunableUnitLayout(model: Prunable, unit: string, criterion: Criterion, granularity: Granularity) {
  const layout = model.layout(unit);
  if (typeof layout === 'string') return layout;
  const supported = criterion.supports(layout.kind, granularity);
  return supported === true ? layout : supported;
}

function checkPlan(model: Prunable, plan: PruningPlan): void {
  const names = new Set(model.units().map((unit) => unit.name));
  for (const [unit, sparsity] of Object.entries(plan.sparsity)) {
    if (!names.has(unit)) throw new Error(`the plan names ${unit}, which is not a prunable unit of ${model.name}`);
    if (!(sparsity >= 0 && sparsity <= 1)) throw new RangeError(`the plan's sparsity of ${unit} must be in [0, 1], received ${sparsity}`);
  }
  const candidates = new Set(model.removalCandidates());
  const unknown = plan.removed.filter((name) => !candidates.has(name));
  if (unknown.length > 0) throw new Error(`the plan removes ${unknown.join(', ')}, which ${model.name} does not have as removal candidates`);
}

/**
 * The plan's criterion on every unit whose planned sparsity is above 0, for every kind, in the
 * units' execution order (an N:M granularity prunes N/M whatever the value). Wanda and SparseGPT
 * read the inputs of a block's units on the calibration batches in one pass, with every earlier
 * block already pruned and `plan.removed` bypassed; magnitude and random need no data. The
 * model is not changed: `setKernel` the result, or pass it to `forward({kernels})`.
 */
export async function applyPlanKernels(model: Prunable, plan: PruningPlan, calibration: readonly tf.Tensor[] | undefined, options: PlanApplyOptions = {}): Promise<PlanKernels> {
  checkPlan(model, plan);
  const criterion = getCriterion(plan.criterion);
  const pattern = parseNMPattern(plan.granularity);
  const all = model.units();
  const units = all.filter((unit) => (plan.sparsity[unit.name] ?? 0) > 0);
  const result: PlanKernels = { kernels: new Map(), sparsity: {}, overall: 0, skipped: [], cancelled: false };
  if (criterion.needs !== 'none' && units.length > 0 && (calibration === undefined || calibration.length === 0)) {
    throw new Error(`${criterion.key} needs calibration data (or data-free synthetic inputs); magnitude and random do not`);
  }
  const bypass = plan.removed.length > 0 ? new Set(plan.removed) : undefined;
  const pruned = new Map<string, tf.Tensor>();
  let index = 0;
  try {
    for (const block of blocksOf(model, units)) {
      if (options.shouldStop?.()) {
        result.cancelled = true;
        break;
      }
      const layouts = new Map<string, Exclude<ReturnType<typeof prunableUnitLayout>, string>>();
      for (const unit of block) {
        const layout = prunableUnitLayout(model, unit.name, criterion, plan.granularity);
        if (typeof layout === 'string') result.skipped.push({ unit: unit.name, reason: layout });
        else layouts.set(unit.name, layout);
      }
      const stats =
        criterion.needs === 'none' || layouts.size === 0
          ? undefined
          : await captureStats(model, calibration ?? [], new Set(layouts.keys()), criterion.needs, { kernels: pruned, bypass });
      const done: { unit: (typeof units)[number]; kernel: Float32Array }[] = [];
      for (const unit of block) {
        const layout = layouts.get(unit.name);
        if (layout === undefined) continue;
        const unitStats = stats?.get(unit.name);
        if (criterion.needs !== 'none' && unitStats === undefined) {
          result.skipped.push({
            unit: unit.name,
            reason: `${criterion.key} needs the unit's calibration inputs, and none reached it (it is bypassed by the plan's removals, or sits in a branch the calibration data does not take)`,
          });
          continue;
        }
        const { values } = criterion.prune({
          kind: layout.kind,
          matrix: kernelToMatrix(layout, await readKernel(model, unit.name)),
          sparsity: pattern ? pattern.n / pattern.m : plan.sparsity[unit.name],
          granularity: plan.granularity,
          stats: unitStats,
          seed: plan.seed,
        });
        done.push({ unit, kernel: matrixToKernel(layout, values) });
      }
      for (const { unit, kernel } of done) {
        result.kernels.set(unit.name, kernel);
        if (criterion.needs !== 'none') pruned.set(unit.name, tf.tensor(kernel, unit.shape, 'float32'));
        options.onUnit?.({ unit: unit.name, index, total: units.length });
        index += 1;
      }
      await yieldToEventLoop();
    }
  } finally {
    tf.dispose([...pruned.values()]);
  }
  const every = new Map<string, Float32Array>();
  for (const unit of all) every.set(unit.name, result.kernels.get(unit.name) ?? (await readKernel(model, unit.name)));
  const achieved = achievedSparsity(every);
  result.sparsity = achieved.sparsity;
  result.overall = achieved.overall;
  return result;
}

/**
 * The units in runs of one block each (`Prunable.blockOf`: a transformer block; every unit its own
 * block where the kind has none), in execution order: the statistics of a block's units come from
 * one pass with every earlier block pruned, as the Wanda and SparseGPT reference code does it.
 */
function blocksOf<T extends { name: string }>(model: Prunable, units: readonly T[]): T[][] {
  const blocks: T[][] = [];
  let current: string | undefined;
  for (const unit of units) {
    const block = model.blockOf?.(unit.name) ?? unit.name;
    if (block !== current || blocks.length === 0) blocks.push([]);
    current = block;
    blocks[blocks.length - 1].push(unit);
  }
  return blocks;
}

/** Runs `work` with kernels as float32 tensors of their units' stored shapes, disposing them after. */
export async function withKernelTensors<T>(model: Prunable, kernels: ReadonlyMap<string, Float32Array>, work: (tensors: Map<string, tf.Tensor>) => Promise<T>): Promise<T> {
  const shapes = new Map(model.units().map((unit) => [unit.name, unit.shape]));
  const tensors = new Map([...kernels].map(([unit, values]) => [unit, tf.tensor(values, shapes.get(unit), 'float32')]));
  try {
    return await work(tensors);
  } finally {
    tf.dispose([...tensors.values()]);
  }
}
