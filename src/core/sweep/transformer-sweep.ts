import * as tf from '@tensorflow/tfjs';
import { kernelToMatrix, pruneKernel, unitLayout, type UnitLayout } from '../criteria/layout';
import { getCriterion } from '../criteria/registry';
import type { CalibrationStats, Criterion, WeightMatrix } from '../criteria/types';
import { calibrationWindows, type CalibrationOptions } from '../removal/calibration';
import { windowBatches } from '../removal/windows';
import type { TransformerForwardOptions, TransformerModel } from '../transformer/model';
import { jsFromLogits, klFromLogits } from '../transformer/output-change';
import { nextTokenNll } from '../transformer/perplexity';
import type { UnitInfo } from '../types';
import { yieldToEventLoop } from '../yield';
import { sweepGrid, type SweepOptions, type SweepResult } from './engine';
import { kernelTensor, readKernel } from '../model/kernels';
import { sweepTable } from './table';

export const TRANSFORMER_SWEEP_METRICS = ['loss', 'kl', 'js'] as const;
/**
 * `loss`: mean next-token negative log-likelihood over every scored token of the calibration windows
 * (natural log; with the windows of a text it is the log of their perplexity). `kl`: mean over all
 * positions of KL(softmax(pruned) ‖ softmax(dense)), the direction `runSweep` uses. `js`: mean over
 * all positions of the Jensen–Shannon divergence of the two.
 */
export type TransformerSweepMetric = (typeof TRANSFORMER_SWEEP_METRICS)[number];

export interface TransformerSweepOptions extends Pick<SweepOptions, 'criterion' | 'granularity' | 'sparsities' | 'units' | 'seed' | 'onCell' | 'shouldStop'> {
  metric: TransformerSweepMetric;
  /** Windows cut from the token ids (`calibrationWindows`: at most 10 of min(256, context) tokens by default). */
  calibration?: CalibrationOptions;
  /** Windows per forward pass (by default as many as keep the logits under ~4M values). */
  batchSize?: number;
  /** Calibration statistics held at once stay under this many bytes (256 MiB); beyond, they are captured in more passes. */
  statsBudgetBytes?: number;
  /**
   * Each cell runs the model from the residual stream entering the pruned projection's sublayer, as the
   * dense pass left it (default), or, with `false`, the whole model (the naive sweep; same values).
   */
  cached?: boolean;
}

/** Σx² and XᵀX of one projection's input rows, summed in float64 over the calibration windows. */
interface StatsSum {
  normsSq: Float64Array;
  gram?: Float64Array;
  rows: number;
}

/** A batch's statistics on the device, read back after its forward pass. */
interface PendingStats {
  owner: string;
  norms: tf.Tensor;
  gram?: tf.Tensor;
  rows: number;
}

function disposePending(pending: readonly PendingStats[]): void {
  tf.dispose(pending.flatMap((p) => (p.gram ? [p.norms, p.gram] : [p.norms])));
}

function addInto(total: Float64Array, values: ArrayLike<number>): void {
  for (let i = 0; i < total.length; i++) total[i] += values[i];
}

/** Thrown from the input hook to end a pass once every wanted unit has been seen. */
class PassComplete extends Error {}

/**
 * Collects what enters the projections in `units` during one forward pass through the model's
 * `onUnitInput` hook: q/k/v (and gate/up) read the same normed hidden state, o_proj / GPT-2
 * attn.c_proj the attention output, down_proj SiLU(gate)·up, GPT-2 mlp.c_proj the activated c_fc
 * output. Projections that share an input tensor share one sum (`aliases` maps each to its owner).
 */
class InputStatsCollector {
  /** Ends each pass (by throwing `PassComplete` from the hook) once every unit has been seen, when set. */
  stopWhenComplete = false;
  private readonly seen = new Set<string>();
  private readonly sums = new Map<string, StatsSum>();
  private readonly aliases = new Map<string, string>();
  /** The id of the tensor each unit read in the current pass. */
  private readonly inputIds = new Map<string, number>();
  private pending: PendingStats[] = [];

  constructor(
    private readonly units: ReadonlySet<string>,
    private readonly withGram: boolean,
  ) {}

  /** The hook for `forward`; what it keeps is freed by `flush`. */
  readonly onUnitInput = (unit: string, input: tf.Tensor2D): void => {
    if (!this.units.has(unit)) return;
    const shared = this.pending.find((p) => p.owner !== unit && this.inputIds.get(p.owner) === input.id);
    this.inputIds.set(unit, input.id);
    this.seen.add(unit);
    if (shared !== undefined) this.aliases.set(unit, shared.owner);
    else {
      const norms = tf.keep(tf.tidy(() => input.square().sum(0)));
      const gram = this.withGram ? tf.keep(tf.tidy(() => tf.matMul(input.transpose(), input))) : undefined;
      this.pending.push({ owner: unit, norms, gram, rows: input.shape[0] });
    }
    if (this.stopWhenComplete && this.seen.size === this.units.size) throw new PassComplete();
  };

  /** Reads the statistics of the last pass back and adds them to the float64 sums. */
  async flush(): Promise<void> {
    const pending = this.pending;
    this.pending = [];
    this.inputIds.clear();
    this.seen.clear();
    try {
      for (const { owner, norms, gram, rows } of pending) {
        const cols = norms.size;
        let sum = this.sums.get(owner);
        if (sum === undefined) {
          sum = { normsSq: new Float64Array(cols), rows: 0, ...(gram && { gram: new Float64Array(cols * cols) }) };
          this.sums.set(owner, sum);
        }
        addInto(sum.normsSq, await norms.data());
        if (sum.gram && gram) addInto(sum.gram, await gram.data());
        sum.rows += rows;
      }
    } finally {
      disposePending(pending);
    }
  }

  /** Frees what a stopped pass left on the device. */
  discard(): void {
    disposePending(this.pending);
    this.pending = [];
    this.inputIds.clear();
    this.seen.clear();
  }

  /** Each unit's statistics (shared objects for shared inputs); units whose input was never seen are absent. */
  stats(): Map<string, CalibrationStats> {
    const out = new Map<string, CalibrationStats>();
    const built = new Map<string, CalibrationStats>();
    for (const [owner, sum] of this.sums) {
      const stats: CalibrationStats = { samples: sum.rows, inputNormsSq: sum.normsSq };
      if (sum.gram) stats.gram = sum.gram;
      built.set(owner, stats);
    }
    for (const unit of this.units) {
      const stats = built.get(this.aliases.get(unit) ?? unit);
      if (stats !== undefined) out.set(unit, stats);
    }
    return out;
  }
}

/**
 * The calibration statistics (`CalibrationStats`: Σx² per input column, and XᵀX when `needs` is
 * `gram`) of each projection in `units`, from the dense model's forward passes over `batches`
 * (int32 token ids `[windows, length]`). Rows of X are every token position of every window.
 * `undefined` when `shouldStop` ends it between batches.
 */
export async function captureInputStats(
  model: TransformerModel,
  batches: readonly tf.Tensor2D[],
  units: readonly string[],
  needs: 'norms' | 'gram',
  shouldStop?: () => boolean,
): Promise<Map<string, CalibrationStats> | undefined> {
  const collector = new InputStatsCollector(new Set(units), needs === 'gram');
  // Nothing of the pass after the last unit is read: it ends there (the forward runs inside tf.tidy).
  collector.stopWhenComplete = true;
  for (const ids of batches) {
    if (shouldStop?.()) return undefined;
    await passCapturing(
      (forward) => model.forward(ids, forward),
      collector,
      (logits) => logits.dispose(),
    );
  }
  return collector.stats();
}

/** One dense pass (`run` with the given options) that feeds the collector; `use` receives the logits and owns them. */
async function passCapturing(run: (options: TransformerForwardOptions) => tf.Tensor3D, collector: InputStatsCollector, use: (logits: tf.Tensor3D) => void): Promise<void> {
  try {
    use(run({ onUnitInput: collector.onUnitInput }));
  } catch (error) {
    if (!(error instanceof PassComplete)) {
      collector.discard();
      throw error;
    }
  }
  await collector.flush();
}

/** Bytes of float64 statistics a unit needs. */
function statsBytes(unit: UnitInfo, withGram: boolean): number {
  const cols = unit.shape[0];
  return 8 * (cols + (withGram ? cols * cols : 0));
}

/** Consecutive units grouped so that each group's statistics fit the budget (a unit alone may exceed it). */
function statsGroups(units: readonly UnitInfo[], withGram: boolean, budget: number): UnitInfo[][] {
  const groups: UnitInfo[][] = [];
  let bytes = Infinity;
  for (const unit of units) {
    const size = statsBytes(unit, withGram);
    if (bytes + size > budget) {
      groups.push([]);
      bytes = 0;
    }
    groups[groups.length - 1].push(unit);
    bytes += size;
  }
  return groups;
}

/** A running mean of a metric over calibration batches, summed in float64. */
interface MetricSum {
  total: number;
  count: number;
}

/** The metric's contribution of one batch: `[sum, count]` on the device. */
function batchMetric(metric: TransformerSweepMetric, logits: tf.Tensor3D, ids: tf.Tensor2D, dense: tf.Tensor3D | undefined): tf.Tensor {
  return tf.tidy(() => {
    if (metric === 'loss') return nextTokenNll(logits, ids);
    const reference = dense as tf.Tensor3D;
    const rows = logits.shape[0] * logits.shape[1];
    const mean = metric === 'kl' ? klFromLogits(logits, reference) : jsFromLogits(reference, logits);
    return mean.mul(rows).reshape([1]);
  });
}

async function addMetric(sum: MetricSum, metric: TransformerSweepMetric, values: tf.Tensor, ids: tf.Tensor2D): Promise<void> {
  try {
    const data = await values.data();
    for (const value of data) sum.total += value;
    sum.count += metric === 'loss' ? data.length : ids.shape[0] * ids.shape[1];
  } finally {
    values.dispose();
  }
}

function selectUnits(model: TransformerModel, names: readonly string[] | undefined): UnitInfo[] {
  const all = model.units();
  if (names === undefined) return all;
  return names.map((name) => {
    const unit = all.find((u) => u.name === name);
    if (unit === undefined) throw new Error(`no prunable unit named ${name}; the model has ${all.map((u) => u.name).join(', ')}`);
    return unit;
  });
}

/** The projection's kernel `[in, out]` as a Dense W (out × in), or the reason the criterion cannot prune it. */
function prunableProjection(unit: UnitInfo, criterion: Criterion, granularity: SweepOptions['granularity']): UnitLayout | string {
  const layout = unitLayout('Dense', unit.name, unit.shape);
  if (typeof layout === 'string') return layout;
  const supported = criterion.supports(layout.kind, granularity);
  return supported === true ? layout : supported;
}

/** A unit's stored kernel and W made from it, read once for its row of the sweep. */
async function unitWeights(model: TransformerModel, unit: string, layout: UnitLayout): Promise<{ kernel: Float32Array; matrix: WeightMatrix }> {
  const kernel = await readKernel(model, unit);
  return { kernel, matrix: kernelToMatrix(layout, kernel) };
}

/**
 * Sensitivity sweep of a transformer's projections (DESIGN §3): for every unit × sparsity, prune only
 * that projection (its kernel `[in, out]` seen as a Dense W) with the criterion and granularity, run
 * the model on the calibration windows cut from `ids` with every other projection dense, and record
 * the metric. The dense pass runs once: it gives the dense loss or the dense logits the divergences
 * compare with, and captures the projection inputs whose statistics (Σx², XᵀX) Wanda and SparseGPT
 * reuse across a unit's cells. Sparsity 0 is the dense value. The result has `runSweep`'s schema.
 */
export async function runTransformerSweep(model: TransformerModel, ids: ArrayLike<number>, options: TransformerSweepOptions): Promise<SweepResult> {
  const criterion = typeof options.criterion === 'string' ? getCriterion(options.criterion) : options.criterion;
  const { granularity, metric, shouldStop } = options;
  if (!TRANSFORMER_SWEEP_METRICS.includes(metric)) {
    throw new Error(`a transformer sweep's metric is one of ${TRANSFORMER_SWEEP_METRICS.join(', ')}, received ${String(metric)}`);
  }
  const grid = sweepGrid(granularity, options.sparsities);
  const units = selectUnits(model, options.units);
  const vocab = model.config.vocabSize;
  const windows = calibrationWindows(ids, model.contextLength, options.calibration);
  if (windows.length === 0) throw new Error('no calibration window fits the token ids');
  if (metric === 'loss' && windows[0].length < 2) throw new Error('the loss metric needs calibration windows of at least 2 tokens');
  const plan = windowBatches(windows, vocab, options.batchSize);
  for (const { ids: values } of plan) {
    const bad = values.findIndex((id) => id < 0 || id >= vocab);
    if (bad >= 0) throw new Error(`token id ${values[bad]} is outside the vocabulary (0…${vocab - 1})`);
  }
  const targets = units.map((unit) => prunableProjection(unit, criterion, granularity));
  const { result, fill } = sweepTable({ criterion: criterion.key, granularity, metric, grid, units, targets, onCell: options.onCell });
  const stopped = (): SweepResult => ({ ...result, cancelled: true });

  const needs = criterion.needs;
  const swept = units.filter((_, row) => typeof targets[row] !== 'string' && grid.some((s) => s > 0));
  const groups = needs === 'none' ? [] : statsGroups(swept, needs === 'gram', options.statsBudgetBytes ?? 256 * 2 ** 20);
  const groupOf = new Map(groups.flatMap((group, g) => group.map((unit) => [unit.name, g] as const)));
  const batches = plan.map(({ ids: values, shape }) => tf.tensor2d(values, shape, 'int32'));
  const dense: tf.Tensor3D[] = [];
  const cache = new ResidualCache(model, options.cached === false ? [] : swept.map((unit) => unit.name));
  let stats = new Map<string, CalibrationStats>();
  let loadedGroup = -1;

  /** The metric with `kernels` in place for a cell of `unit`; `undefined` when stopped between batches. */
  const evaluate = async (kernels: ReadonlyMap<string, tf.Tensor>, unit: string): Promise<number | undefined> => {
    const sum: MetricSum = { total: 0, count: 0 };
    for (const [b, ids] of batches.entries()) {
      if (shouldStop?.()) return undefined;
      const values = tf.tidy(() => batchMetric(metric, cache.run(model, b, ids, unit, { kernels }), ids, dense[b]));
      await addMetric(sum, metric, values, ids);
      if (b + 1 < batches.length) await yieldToEventLoop();
    }
    return sum.total / sum.count;
  };

  /**
   * Runs the dense model once per batch, capturing the statistics of group `g` (from the cached residual
   * stream before its first unit, after the first run); the first run also gives the dense metric and fills the cache.
   */
  const denseRun = async (g: number, first: boolean): Promise<boolean> => {
    const units = groups[g] ?? [];
    const collector = new InputStatsCollector(new Set(units.map((u) => u.name)), needs === 'gram');
    const from = first ? 0 : Math.min(...units.map((u) => model.residualStep(u.name)));
    const sum: MetricSum = { total: 0, count: 0 };
    for (const [b, ids] of batches.entries()) {
      if (shouldStop?.()) return false;
      let values: tf.Tensor | undefined;
      const run = (forward: TransformerForwardOptions): tf.Tensor3D => (first ? cache.capture(model, b, ids, forward) : cache.runFrom(model, b, ids, from, forward));
      await passCapturing(run, collector, (logits) => {
        if (first && metric === 'loss') values = tf.tidy(() => batchMetric(metric, logits, ids, undefined));
        if (first && metric !== 'loss') dense.push(logits);
        else logits.dispose();
      });
      if (values !== undefined) await addMetric(sum, metric, values, ids);
      await yieldToEventLoop();
    }
    if (first) result.dense = metric === 'loss' ? sum.total / sum.count : 0;
    stats = collector.stats();
    loadedGroup = g;
    return true;
  };

  try {
    if (!(await denseRun(0, true))) return stopped();
    for (const [row, unit] of units.entries()) {
      const target = targets[row];
      let weights: { kernel: Float32Array; matrix: WeightMatrix } | undefined;
      for (const [column, sparsity] of grid.entries()) {
        if (shouldStop?.()) return stopped();
        if (typeof target === 'string' || sparsity === 0) {
          fill(row, column, typeof target === 'string' ? NaN : result.dense);
          continue;
        }
        const group = groupOf.get(unit.name);
        if (group !== undefined && group !== loadedGroup) {
          stats = new Map();
          if (!(await denseRun(group, false))) return stopped();
        }
        const unitStats = stats.get(unit.name);
        if (needs !== 'none' && unitStats === undefined) {
          result.skipped.push({ unit: unit.name, reason: `${criterion.key} needs the inputs of ${unit.name}, which the forward pass did not expose` });
          for (let c = column; c < grid.length; c++) fill(row, c, NaN);
          break;
        }
        weights ??= await unitWeights(model, unit.name, target);
        const values = pruneKernel(criterion, target, weights.kernel, { sparsity, granularity, seed: options.seed ?? 0, stats: unitStats }, weights.matrix);
        const kernel = kernelTensor(values, [unit.shape[0], unit.shape[1]]);
        let value: number | undefined;
        try {
          value = await evaluate(new Map([[unit.name, kernel]]), unit.name);
        } finally {
          kernel.dispose();
        }
        if (value === undefined) return stopped();
        fill(row, column, value);
        await yieldToEventLoop();
      }
    }
    return result;
  } finally {
    tf.dispose([...batches, ...dense]);
    cache.dispose();
  }
}

/**
 * The dense residual stream of each calibration batch at the steps where swept sublayers start
 * (`TransformerModel.onResidual`), and the inputs of the swept output projections, captured during the
 * first dense pass, so that a cell runs only from its pruned projection's sublayer on (from the
 * projection itself for an output projection). With no units it holds nothing and every run is a whole
 * forward pass.
 */
class ResidualCache {
  private readonly steps = new Set<number>();
  private readonly outputs = new Set<string>();
  private readonly states: Map<number, tf.Tensor3D>[] = [];
  private readonly inputs: Map<string, tf.Tensor2D>[] = [];

  constructor(model: TransformerModel, units: readonly string[]) {
    for (const unit of units) {
      const step = model.residualStep(unit);
      if (model.isOutputProjection(unit)) {
        this.outputs.add(unit);
        this.steps.add(step);
      } else if (step > 0) this.steps.add(step);
    }
  }

  /** A dense pass over batch `b` that keeps its residual stream at the cached steps and the cached units' inputs. */
  capture(model: TransformerModel, b: number, ids: tf.Tensor2D, options: TransformerForwardOptions): tf.Tensor3D {
    const kept = new Map<number, tf.Tensor3D>();
    const inputs = new Map<string, tf.Tensor2D>();
    try {
      const onResidual = (step: number, hidden: tf.Tensor3D): void => {
        if (this.steps.has(step)) kept.set(step, tf.keep(hidden.clone()));
      };
      const onUnitInput = (unit: string, input: tf.Tensor2D): void => {
        options.onUnitInput?.(unit, input);
        if (this.outputs.has(unit)) inputs.set(unit, tf.keep(input.clone()));
      };
      const logits = model.forward(ids, this.steps.size > 0 ? { ...options, onResidual, onUnitInput } : options);
      this.states[b] = kept;
      this.inputs[b] = inputs;
      return logits;
    } catch (error) {
      tf.dispose([...kept.values(), ...inputs.values()]);
      throw error;
    }
  }

  /** Logits of batch `b` with `options` for a cell of `unit`, from what is cached (the same values as a whole pass). */
  run(model: TransformerModel, b: number, ids: tf.Tensor2D, unit: string, options: TransformerForwardOptions): tf.Tensor3D {
    const step = model.residualStep(unit);
    const state = this.states[b]?.get(step);
    const input = this.inputs[b]?.get(unit);
    if (state !== undefined && input !== undefined) return model.forwardFromUnit(unit, state, input, options);
    return this.runFrom(model, b, ids, step, options);
  }

  /** Logits of batch `b` with `options`, from residual step `step` when it is cached. */
  runFrom(model: TransformerModel, b: number, ids: tf.Tensor2D, step: number, options: TransformerForwardOptions): tf.Tensor3D {
    const state = this.states[b]?.get(step);
    return state === undefined ? model.forward(ids, options) : model.forwardFrom(step, state, options);
  }

  dispose(): void {
    for (const states of this.states) tf.dispose([...(states?.values() ?? [])]);
    for (const inputs of this.inputs) tf.dispose([...(inputs?.values() ?? [])]);
    this.states.length = 0;
    this.inputs.length = 0;
  }
}
