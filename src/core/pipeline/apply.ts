import * as tf from '@tensorflow/tfjs';
import { pruneKernel } from '../criteria/layout';
import { getCriterion } from '../criteria/registry';
import type { CalibrationStats, Criterion, Granularity } from '../criteria/types';
import { parseNMPattern } from '../masks';
import { kernelTensor, readKernel } from '../model/kernels';
import type { PruningPlan } from '../plan';
import { yieldToEventLoop } from '../yield';
import type { Prunable, PrunableForward, StagedForward } from './prunable';
import { countZeros, type PlanCache } from './plan-cache';
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
  /**
   * Reuse between applications: statistics of a block and pruned kernels of units whose inputs are
   * provably what they were (see `PlanCache`). Needs `cacheKey`.
   */
  cache?: PlanCache;
  /**
   * Names what the plan is applied to: the stored kernels (e.g. DARE's settings when its kernels are
   * stored in the model) and the calibration batches (the data's hash). Two applications with the
   * same key must see the same stored kernels and the same batches.
   */
  cacheKey?: string;
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
 *
 * With a `cache`, a unit's kernel is reused when its key matches: for magnitude and random the
 * key is the unit's own sparsity (with the criterion's settings and `cacheKey`); for Wanda and
 * SparseGPT it also holds the sparsity of every unit pruned in an earlier block, since those masks
 * shape the unit's inputs. A block whose units all hit runs no pass; a block's statistics are
 * reused under the same prefix key. The kernels are those a run without cache gives, bit for bit.
 * Returned kernels may be the cache's: read them, never write.
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
  const cache = options.cacheKey === undefined ? undefined : options.cache;
  const settingOf = (unit: string): number => (pattern ? pattern.n / pattern.m : plan.sparsity[unit]);
  // Everything a unit's kernel depends on besides the earlier units' sparsities and its own.
  const common = JSON.stringify([options.cacheKey, criterion.key, plan.granularity, plan.seed, [...plan.removed].sort()]);
  const bypass = plan.removed.length > 0 ? new Set(plan.removed) : undefined;
  const pruned = new Map<string, tf.Tensor>();
  const earlier: { unit: (typeof units)[number]; kernel: Float32Array }[] = [];
  /** The kernels of every unit pruned so far as tensors, for a pass that must see them (made only when a pass runs). */
  const prunedTensors = (): Map<string, tf.Tensor> => {
    for (const { unit, kernel } of earlier) if (!pruned.has(unit.name)) pruned.set(unit.name, tf.tensor(kernel, unit.shape, 'float32'));
    return pruned;
  };
  const staged = criterion.needs !== 'none' && model.staged !== undefined ? new StagedStates(model.staged) : undefined;
  // The sparsities of the units pruned in earlier blocks: with Wanda and SparseGPT a block's inputs depend on them.
  let prefix = '';
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
      const blockKey = criterion.needs === 'none' ? common : `${common}|${prefix}|${[...layouts.keys()].join(',')}`;
      const keyOf = (unit: string): string => `${blockKey}|${settingOf(unit)}`;
      const cached = new Map<string, Float32Array>();
      if (cache) {
        for (const unit of layouts.keys()) {
          const kernel = cache.kernel(unit, keyOf(unit));
          if (kernel !== undefined) cached.set(unit, kernel);
        }
      }
      let stats: Map<string, CalibrationStats> | undefined;
      if (criterion.needs !== 'none' && cached.size < layouts.size) {
        stats = cache?.blockStats(blockKey);
        if (stats === undefined) {
          const forward = { kernels: prunedTensors(), bypass };
          const wanted = new Set(layouts.keys());
          if (staged !== undefined) {
            const name = model.blockOf?.(block[0].name) ?? block[0].name;
            stats = await captureStats(staged.model.block(name), staged.enter(name, calibration ?? [], forward), wanted, criterion.needs, forward);
          } else stats = await captureStats(model, calibration ?? [], wanted, criterion.needs, forward);
          cache?.storeBlockStats(blockKey, stats);
        }
      }
      const done: { unit: (typeof units)[number]; kernel: Float32Array }[] = [];
      for (const unit of block) {
        const layout = layouts.get(unit.name);
        if (layout === undefined) continue;
        const hit = cached.get(unit.name);
        if (hit !== undefined) {
          done.push({ unit, kernel: hit });
          continue;
        }
        const unitStats = stats?.get(unit.name);
        if (criterion.needs !== 'none' && unitStats === undefined) {
          result.skipped.push({
            unit: unit.name,
            reason: `${criterion.key} needs the unit's calibration inputs, and none reached it (it is bypassed by the plan's removals, or sits in a branch the calibration data does not take)`,
          });
          continue;
        }
        const kernel = pruneKernel(criterion, layout, await readKernel(model, unit.name), {
          sparsity: settingOf(unit.name),
          granularity: plan.granularity,
          stats: unitStats,
          seed: plan.seed,
        });
        cache?.storeKernel(unit.name, keyOf(unit.name), kernel);
        done.push({ unit, kernel });
      }
      for (const { unit, kernel } of done) {
        result.kernels.set(unit.name, kernel);
        if (criterion.needs !== 'none') earlier.push({ unit, kernel });
        options.onUnit?.({ unit: unit.name, index, total: units.length });
        index += 1;
      }
      for (const unit of block) prefix += `${unit.name}=${settingOf(unit.name)};`;
      await yieldToEventLoop();
    }
  } finally {
    tf.dispose([...pruned.values()]);
    staged?.dispose();
  }
  const sparsity: Record<string, number> = {};
  let zeros = 0;
  let weights = 0;
  for (const unit of all) {
    const kernel = result.kernels.get(unit.name);
    const count =
      kernel !== undefined
        ? countZeros(kernel)
        : cache
          ? await cache.storedZeroCount(unit.name, String(options.cacheKey), () => readKernel(model, unit.name))
          : countZeros(await readKernel(model, unit.name));
    sparsity[unit.name] = unit.size === 0 ? 0 : count / unit.size;
    zeros += count;
    weights += unit.size;
  }
  result.sparsity = sparsity;
  result.overall = weights === 0 ? 0 : zeros / weights;
  return result;
}

/**
 * The calibration batches' states entering a block, carried on block by block through the blocks
 * passed (with the kernels pruned so far): each block's statistics then cost one block's pass.
 */
class StagedStates {
  private readonly order: string[];
  private position = 0;
  private states: tf.Tensor[] | undefined;

  constructor(readonly model: StagedForward) {
    this.order = model.blocks();
  }

  /** The states entering `block` (held here; do not dispose). */
  enter(block: string, batches: readonly tf.Tensor[], forward: PrunableForward): tf.Tensor[] {
    const target = this.order.indexOf(block);
    if (target < this.position) throw new Error(`block ${block} comes before the blocks already passed`);
    let states = this.states ?? batches.map((batch) => this.model.enter(batch));
    for (; this.position < target; this.position++) {
      const view = this.model.block(this.order[this.position]);
      const next = states.map((state) => view.forward(state, forward));
      tf.dispose(states);
      states = next;
    }
    this.states = states;
    return states;
  }

  dispose(): void {
    if (this.states) tf.dispose(this.states);
    this.states = undefined;
  }
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
  const tensors = new Map(
    [...kernels].map(([unit, values]) => {
      const shape = shapes.get(unit);
      if (shape === undefined) throw new Error(`${unit} is not a unit of the model`);
      return [unit, kernelTensor(values, shape)];
    }),
  );
  try {
    return await work(tensors);
  } finally {
    tf.dispose([...tensors.values()]);
  }
}
