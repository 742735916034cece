import * as tf from '@tensorflow/tfjs';
import { gzipSync } from 'fflate';
import { evaluate } from '../../core/evaluate';
import type { PrunableModel } from '../../core/model/runtime';
import type { PruningPlan } from '../../core/plan';
import { applyPlanKernels } from '../../core/pipeline/apply';
import { checkExport } from '../../core/pipeline/verify';
import { calibrationInputs, type PipelineData } from '../../core/pipeline/data';
import { allocatePlan } from '../../core/pipeline/plan';
import { shrinkForPlan, type PlannedShrink } from '../../core/structure/plan-shrink';
import { LayersPrunable } from '../../kinds/layers-model/prunable';
import type { Evaluation } from '../../core/types';
import { decodeFloat16 } from '../../io/dequantize';
import { encodeFloat16, exportZip, weightsOf, writeLayersModel, type WeightValues } from '../../io/export';
import { openModel } from '../../io/open';
import { recipeFromPlan } from '../../io/recipe';
import { dare, dareModel, unitSeed } from '../../core/delta/dare';
import { layerRemovalCandidates } from '../../core/removal/layer-removal';
import { topologyWithout } from '../../core/removal/topology';
import { searchRescale } from '../../core/delta/darex';
import type { ShrinkResult } from '../../core/structure';
import type { Dataset, OpenedModel } from '../../io/types';
import type { ExportRequest, ExportResult, ModelSummary, PlanRequest, PlanResult, PlanSizes, SweepConfig, SweepReport } from '../protocol';
import { sweepCurves, throwIfCancelled, type JobContext } from './session';
import { readKernel } from '../../core/model/kernels';

/** What plan evaluation needs from a LayersSession, and the allocation inputs it caches there. */
export interface PlanContext {
  model: PrunableModel;
  opened: OpenedModel;
  summary: ModelSummary;
  dataset: Dataset;
  denseEvaluation(job: JobContext): Promise<Evaluation>;
  /** Evaluates another model (an export reopened, a shrunk copy) on this session's data. */
  evaluateOpened(opened: OpenedModel, job: JobContext): Promise<Evaluation>;
  cache: Map<string, Map<string, number>>;
  /** The base model of a delta-pruning pair, when one is loaded. */
  base: { model: PrunableModel; sha256: string } | null;
}

export interface AppliedPlan {
  sparsity: Record<string, number>;
  kernels: Map<string, Float32Array>;
  achieved: Record<string, number>;
  overall: number;
  note?: string;
  skipped: { unit: string; reason: string }[];
}

/** The plan's target spread over the units by its allocation, through the pipeline the CLI uses too. */
async function allocated(ctx: PlanContext, request: PlanRequest, batches: readonly tf.Tensor[], job: JobContext): Promise<{ sparsity: Record<string, number>; note?: string }> {
  if (!request.allocate) return { sparsity: request.plan.sparsity };
  const prunable = new LayersPrunable(ctx.model);
  const data: PipelineData = { kind: 'samples', ...ctx.dataset, synthetic: ctx.dataset.source === 'synthetic' };
  return allocatePlan(prunable, request.plan, data, batches, {
    sweep: request.sweep && sweepCurves(request.sweep),
    lambda: request.options?.lambda,
    outlierThreshold: request.options?.outlierThreshold,
    epsilon: request.options?.epsilon,
    shouldStop: () => job.cancelled(),
  });
}

/** Runs `work` with the session data's calibration batches, disposing them after. */
async function withCalibration<T>(ctx: PlanContext, work: (batches: tf.Tensor[]) => Promise<T>): Promise<T> {
  const batches = calibrationInputs({ kind: 'samples', ...ctx.dataset, synthetic: ctx.dataset.source === 'synthetic' });
  try {
    return await work(batches);
  } finally {
    tf.dispose(batches);
  }
}

/** Share of the fine-tuned model's deltas that DARE dropped (kernel back at the base value). */
async function droppedDeltas(ctx: PlanContext, base: PrunableModel, kernels: Map<string, Float32Array>): Promise<{ achieved: Record<string, number>; overall: number }> {
  const achieved: Record<string, number> = {};
  let dropped = 0;
  let deltas = 0;
  for (const [unit, values] of kernels) {
    const fine = await readKernel(ctx.model, unit);
    const original = await readKernel(base, unit);
    let unitDropped = 0;
    let unitDeltas = 0;
    for (let i = 0; i < values.length; i++) {
      if (fine[i] === original[i]) continue;
      unitDeltas += 1;
      if (values[i] === original[i]) unitDropped += 1;
    }
    achieved[unit] = unitDeltas === 0 ? 0 : unitDropped / unitDeltas;
    dropped += unitDropped;
    deltas += unitDeltas;
  }
  return { achieved, overall: deltas === 0 ? 0 : dropped / deltas };
}

/** DARE on every unit: the base kernels plus the fine-tuned deltas, each dropped with probability p, the rest rescaled. */
async function applyDare(ctx: PlanContext, plan: PruningPlan): Promise<AppliedPlan> {
  const dareOptions = plan.dare;
  const base = ctx.base;
  if (!dareOptions || !base) throw new Error('Delta pruning needs a base model: load one first');
  if (dareOptions.base !== base.sha256) throw new Error('The plan was made against another base model than the one loaded');
  const units = ctx.model.units().map((u) => u.name);
  const kernels = await dareModel(ctx.model, base.model, units, { p: dareOptions.p, q: dareOptions.q, seed: plan.seed });
  const { achieved, overall } = await droppedDeltas(ctx, base.model, kernels);
  return {
    sparsity: plan.sparsity,
    kernels,
    achieved,
    overall,
    skipped: [],
    note: `DARE: ${formatShare(overall)} of the deltas dropped, the rest scaled by 1/${dareOptions.q.toFixed(3)}`,
  };
}

const formatShare = (x: number): string => `${(x * 100).toFixed(1)}%`;

/** DAREx-q: q on a grid above 1 − p, scored by the loss on the data (or the divergence without labels). */
export async function searchLayersRescale(
  ctx: PlanContext,
  p: number,
  seed: number,
  job: JobContext,
): Promise<{ q: number; value: number; curve: { q: number; value: number }[] }> {
  const base = ctx.base;
  if (!base) throw new Error('Delta pruning needs a base model: load one first');
  const units = ctx.model.units().map((u) => u.name);
  const result = await searchRescale(
    p,
    async (q) => {
      const kernels = await dareModel(ctx.model, base.model, units, { p, q, seed });
      const evaluation = await withKernels(ctx.model, kernels, (tensors) => evaluate(ctx.model, ctx.dataset, { forward: { kernels: tensors } }));
      return evaluation.loss ?? evaluation.divergence ?? NaN;
    },
    { onProgress: (_point, done, total) => job.progress('Searching q', done, total), shouldStop: () => job.cancelled() },
  );
  throwIfCancelled(job);
  return { q: result.q, value: result.value, curve: result.curve.map((point) => ({ q: point.q, value: point.value })) };
}

/** Allocation (when asked), then the criterion on every unit: new kernels, nothing changed in the model. */
export async function applyLayersPlan(ctx: PlanContext, request: PlanRequest, job: JobContext): Promise<AppliedPlan> {
  if (request.plan.dare) return applyDare(ctx, request.plan);
  return withCalibration(ctx, async (batches) => {
    const { sparsity, note } = await allocated(ctx, request, batches, job);
    throwIfCancelled(job);
    const applied = await applyPlanKernels(new LayersPrunable(ctx.model), { ...request.plan, sparsity }, batches, {
      onUnit: (p) => job.progress('Pruning', p.index + 1, p.total),
      shouldStop: () => job.cancelled(),
    });
    throwIfCancelled(job);
    return { sparsity, kernels: applied.kernels, achieved: applied.sparsity, overall: applied.overall, note, skipped: applied.skipped };
  });
}

/** Runs `work` with the pruned kernels as tensors, disposing them after. */
async function withKernels<T>(model: PrunableModel, kernels: Map<string, Float32Array>, work: (tensors: Map<string, tf.Tensor>) => Promise<T>): Promise<T> {
  const shapes = new Map(model.units().map((u) => [u.name, u.shape]));
  const tensors = new Map([...kernels].map(([unit, values]) => [unit, tf.tensor(values, shapes.get(unit), 'float32')]));
  try {
    return await work(tensors);
  } finally {
    tf.dispose([...tensors.values()]);
  }
}

async function prunedWeights(model: PrunableModel, kernels: Map<string, Float32Array>): Promise<Map<string, WeightValues>> {
  const weights = await weightsOf(model);
  for (const unit of model.units()) {
    const values = kernels.get(unit.name);
    if (values) weights.set(unit.weight, { shape: unit.shape, values });
  }
  return weights;
}

/** Bytes of the float32 weights, and of them gzipped (what unstructured zeros save on the wire). */
export function sizesOf(weights: ReadonlyMap<string, WeightValues>): PlanSizes {
  const parts = [...weights.values()];
  const total = parts.reduce((n, w) => n + w.values.byteLength, 0);
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const w of parts) {
    bytes.set(new Uint8Array(w.values.buffer, w.values.byteOffset, w.values.byteLength), offset);
    offset += w.values.byteLength;
  }
  return { denseBytes: total, gzipBytes: gzipSync(bytes, { level: 6 }).length };
}

/** Channels granularity: whole neurons/filters go with every coupled weight (core/structure/plan-shrink.ts, shared with the CLI). */
function shrinkLayers(ctx: PlanContext, plan: PruningPlan): Promise<PlannedShrink> {
  return withCalibration(ctx, (batches) => shrinkForPlan(ctx.model, new LayersPrunable(ctx.model), plan, batches, ctx.opened.artifacts.modelTopology));
}

async function openShrunk(ctx: PlanContext, shrunk: ShrinkResult): Promise<OpenedModel> {
  const { files } = writeLayersModel(ctx.opened, shrunk.weights, { topology: shrunk.topology });
  return openModel(files.map((f) => ({ path: `${ctx.opened.name}/${f.path}`, size: f.bytes.length, bytes: async () => f.bytes })));
}

async function evaluateChannelPlan(ctx: PlanContext, request: PlanRequest, job: JobContext): Promise<PlanResult> {
  if (request.plan.removed.length > 0) throw new Error('Channel shrinking together with removed layers is not supported yet: set the removal slider to 0');
  const { sparsity, note } = await withCalibration(ctx, (batches) => allocated(ctx, request, batches, job));
  const { shrunk, achieved, overall, skipped } = await shrinkLayers(ctx, { ...request.plan, sparsity });
  throwIfCancelled(job);
  const evaluation = await ctx.evaluateOpened(await openShrunk(ctx, shrunk), job);
  const sizes = sizesOf(shrunk.weights);
  return {
    sparsity,
    achieved,
    overall,
    evaluation,
    params: shrunk.params,
    sizes: { ...sizes, shrunkBytes: sizes.denseBytes, denseBytes: ctx.summary.totalParams * 4 },
    note,
    skipped,
  };
}

export async function evaluateLayersPlan(ctx: PlanContext, request: PlanRequest, job: JobContext): Promise<PlanResult> {
  if (request.plan.granularity === 'channels') return evaluateChannelPlan(ctx, request, job);
  const applied = await applyLayersPlan(ctx, request, job);
  const bypass = request.plan.removed.length > 0 ? new Set(request.plan.removed) : undefined;
  const evaluation = await withKernels(ctx.model, applied.kernels, (kernels) =>
    evaluate(ctx.model, ctx.dataset, { forward: { kernels, bypass }, onProgress: (done, total) => job.progress('Evaluating', done, total), shouldStop: () => job.cancelled() }),
  );
  throwIfCancelled(job);
  const removedParams = ctx.summary.layers.filter((l) => bypass?.has(l.name)).reduce((n, l) => n + l.params, 0);
  const sizes = sizesOf(await prunedWeights(ctx.model, applied.kernels));
  return {
    sparsity: applied.sparsity,
    achieved: applied.achieved,
    overall: applied.overall,
    evaluation,
    params: ctx.summary.totalParams - removedParams,
    sizes,
    note: applied.note,
    skipped: applied.skipped,
  };
}

function roundedToFloat16(weights: Map<string, WeightValues>): Map<string, WeightValues> {
  return new Map([...weights].map(([name, w]) => [name, w.values instanceof Float32Array ? { shape: w.shape, values: decodeFloat16(encodeFloat16(w.values)) } : w]));
}

/**
 * The plan applied and written as a TF.js LayersModel zip with its recipe; before it is handed over,
 * the zip is opened again like a user's drop and evaluated, and must reproduce the in-app evaluation.
 */
export async function exportLayersPlan(
  ctx: PlanContext,
  request: ExportRequest,
  job: JobContext,
  evaluateOpened: (opened: OpenedModel) => Promise<Evaluation>,
): Promise<ExportResult> {
  const channels = request.plan.granularity === 'channels';
  if (channels && request.plan.removed.length > 0) throw new Error('Channel shrinking together with removed layers is not supported yet: set the removal slider to 0');
  let weights: Map<string, WeightValues>;
  let topology: unknown;
  let reference: Evaluation;
  let sparsity = request.plan.sparsity;
  job.progress('Checking the export', 1, 3);
  if (channels) {
    const { shrunk } = await shrinkLayers(ctx, request.plan);
    weights = shrunk.weights;
    topology = shrunk.topology;
    reference = await evaluateOpened(await openWritten(ctx.opened, request.float16 ? roundedToFloat16(weights) : weights, topology));
  } else {
    const applied = await applyLayersPlan(ctx, { plan: request.plan, allocate: false }, job);
    sparsity = applied.sparsity;
    weights = await prunedWeights(ctx.model, applied.kernels);
    const removed = request.plan.removed;
    if (removed.length > 0) {
      const chosen = layerRemovalCandidates(ctx.model).filter((c) => removed.includes(c.name));
      const rewritten = topologyWithout(ctx.opened.artifacts.modelTopology, chosen);
      topology = rewritten.topology;
      for (const name of [...weights.keys()]) if (rewritten.dropped.has(name.split('/')[0])) weights.delete(name);
    }
    const bypass = removed.length > 0 ? new Set(removed) : undefined;
    reference = request.float16
      ? await evaluateOpened(await openWritten(ctx.opened, roundedToFloat16(weights), topology))
      : await withKernels(ctx.model, applied.kernels, (kernels) => evaluate(ctx.model, ctx.dataset, { forward: { kernels, bypass } }));
  }
  const plan: PruningPlan = { ...request.plan, sparsity };
  const recipe = recipeFromPlan(plan, ctx.opened, { dense: await ctx.denseEvaluation(job), pruned: reference });
  const written = writeLayersModel(ctx.opened, weights, { float16: request.float16, recipe, topology });
  const zip = exportZip(written.files, recipe);
  job.progress('Checking the export', 2, 3);
  const reopened = await openModel([{ path: `${ctx.opened.name}-pruned.zip`, size: zip.length, bytes: async () => zip }]);
  const reloaded = await evaluateOpened(reopened);
  return {
    fileName: `${ctx.opened.name}-pruned${request.float16 ? '-f16' : ''}.zip`,
    zip,
    files: [...written.files.map((f) => f.path), 'recipe.json'],
    check: checkExport(reference, reloaded),
  };
}

/** Written and opened again, without a zip: the reference the export is compared with. */
async function openWritten(source: OpenedModel, weights: Map<string, WeightValues>, topology?: unknown): Promise<OpenedModel> {
  const { files } = writeLayersModel(source, weights, { topology });
  return openModel(files.map((f) => ({ path: `${source.name}/${f.path}`, size: f.bytes.length, bytes: async () => f.bytes })));
}

/**
 * Delta sensitivity: for every unit × drop rate p, DARE on that unit's deltas alone (rescaled by
 * 1/(1 − p)), every other unit as fine-tuned, and the metric measured. Streams cells like a sweep.
 */
export async function deltaSweep(ctx: PlanContext, config: SweepConfig, job: JobContext): Promise<SweepReport> {
  const base = ctx.base;
  if (!base) throw new Error('A delta-sensitivity sweep needs a base model: load one first');
  const started = performance.now();
  const units = ctx.model.units().map((u) => u.name);
  const rates = config.sparsities;
  const values: (number | null)[][] = units.map(() => rates.map(() => null));
  const measure = (e: Evaluation): number => (config.metric === 'accuracy' ? (e.accuracy ?? NaN) : config.metric === 'loss' ? (e.loss ?? NaN) : (e.divergence ?? NaN));
  const dense = measure(await ctx.denseEvaluation(job));
  let done = 0;
  let cancelled = false;
  const total = units.length * rates.length;
  for (const [row, unit] of units.entries()) {
    const fine = await readKernel(ctx.model, unit);
    const original = await readKernel(base.model, unit);
    for (const [column, p] of rates.entries()) {
      if (job.cancelled()) {
        cancelled = true;
        break;
      }
      const value =
        p === 0
          ? dense
          : measure(
              await withKernels(ctx.model, new Map([[unit, dare(original, fine, { p, seed: unitSeed(config.seed, unit) })]]), (kernels) =>
                evaluate(ctx.model, ctx.dataset, { forward: { kernels } }),
              ),
            );
      values[row][column] = value;
      done += 1;
      job.progress('Sweeping deltas', done, total, { cell: { unit, sparsity: p, value } });
    }
    if (cancelled) break;
  }
  return {
    criterion: 'random',
    granularity: 'unstructured',
    metric: config.metric,
    sparsities: rates,
    layers: units,
    values,
    dense,
    dataHash: ctx.dataset.hash,
    backend: tf.getBackend(),
    seconds: (performance.now() - started) / 1000,
    cancelled,
    skipped: [],
    delta: true,
  };
}
