import * as tf from '@tensorflow/tfjs';
import { gzipSync } from 'fflate';
import { allocate } from '../../core/allocate/registry';
import type { AllocationInput } from '../../core/allocate/types';
import { kernelToMatrix, matrixToKernel, type UnitLayout } from '../../core/criteria/layout';
import { getCriterion } from '../../core/criteria/registry';
import type { CalibrationStats } from '../../core/criteria/types';
import { lockedSparsities, type PruningPlan } from '../../core/plan';
import { calibrationWindows } from '../../core/removal';
import { captureInputStats } from '../../core/sweep/transformer-sweep';
import type { TransformerModel } from '../../core/transformer/model';
import { perplexity } from '../../core/transformer/perplexity';
import type { Evaluation } from '../../core/types';
import { decodeFloat16 } from '../../io/dequantize';
import { encodeFloat16, exportZip, writeHfTransformer } from '../../io/export';
import { openModel } from '../../io/open';
import { recipeFromPlan } from '../../io/recipe';
import type { OpenedModel } from '../../io/types';
import type { ExportRequest, ExportResult, PlanRequest, PlanResult, SweepReport } from '../protocol';
import { throwIfCancelled, type JobContext, type TokenData } from './session';
import { readKernel, readKernels } from '../../core/model/kernels';

export interface TransformerPlanContext {
  model: TransformerModel;
  opened: OpenedModel;
  tokens: TokenData;
  totalParams: number;
  denseEvaluation(job: JobContext): Promise<Evaluation>;
  /** Wanda/SparseGPT statistics of the dense model, by `needs|data hash`: they do not change while the plan does. */
  statsCache: Map<string, Map<string, CalibrationStats>>;
  /** Evaluates another model (the export reopened) on the same tokens. */
  evaluateOpened(opened: OpenedModel, job: JobContext): Promise<Evaluation>;
}

interface Applied {
  sparsity: Record<string, number>;
  kernels: Map<string, Float32Array>;
  achieved: Record<string, number>;
  overall: number;
  note?: string;
}

const layoutOf = (shape: number[]): UnitLayout => ({ kind: 'dense', rows: shape[1], cols: shape[0] });


function curvesOf(sweep: SweepReport) {
  return { layers: sweep.layers, sparsities: sweep.sparsities, values: sweep.values.map((row) => row.map((v) => (v === null ? NaN : v))), dense: sweep.dense, metric: sweep.metric };
}

async function allocated(ctx: TransformerPlanContext, request: PlanRequest): Promise<{ sparsity: Record<string, number>; note?: string }> {
  const { plan } = request;
  if (!request.allocate) return { sparsity: plan.sparsity };
  if (plan.allocation === 'owl' || plan.allocation === 'ecoflap') {
    throw new Error(`The ${plan.allocation} allocation is available for TF.js models; for transformers use uniform, global or sensitivity`);
  }
  const units = ctx.model.units();
  const input: AllocationInput = { units: units.map((u) => ({ name: u.name, size: u.size })), target: plan.target, locked: lockedSparsities(plan) };
  if (plan.allocation === 'global') input.kernels = await readKernels(ctx.model, units.map((u) => u.name));
  if (plan.allocation === 'sensitivity') {
    if (!request.sweep) throw new Error('The sensitivity allocation needs a sweep: run one first (or pick another allocation)');
    input.sweep = curvesOf(request.sweep);
  }
  const result = allocate(plan.allocation, input);
  return { sparsity: result.sparsity, note: result.note };
}

/** Wanda/SparseGPT statistics of every projection, from the dense model on calibration windows of the tokens (cached). */
async function calibrationStats(ctx: TransformerPlanContext, needs: 'norms' | 'gram', job: JobContext): Promise<Map<string, CalibrationStats>> {
  const key = `${needs}|${ctx.tokens.hash}`;
  const hit = ctx.statsCache.get(key);
  if (hit) return hit;
  const units = ctx.model.units().map((u) => u.name);
  const windows = calibrationWindows(ctx.tokens.ids, ctx.model.contextLength);
  const batches = windows.map((w) => tf.tensor2d(Int32Array.from(w), [1, w.length], 'int32'));
  try {
    const stats = await captureInputStats(ctx.model, batches, units, needs, () => job.cancelled());
    throwIfCancelled(job);
    if (!stats) throw new Error('Calibration stopped');
    ctx.statsCache.set(key, stats);
    return stats;
  } finally {
    tf.dispose(batches);
  }
}

/** The plan's criterion on every projection with sparsity > 0, each a Dense W (out × in). The model is not changed. */
async function applyTransformerPlan(ctx: TransformerPlanContext, request: PlanRequest, job: JobContext): Promise<Applied> {
  const { plan } = request;
  if (plan.granularity === 'channels') throw new Error('Channel shrinking of transformers is not available yet: use unstructured or N:M');
  const { sparsity, note } = await allocated(ctx, request);
  const criterion = getCriterion(plan.criterion);
  const units = ctx.model.units().filter((u) => (sparsity[u.name] ?? 0) > 0);
  const stats = criterion.needs === 'none' || units.length === 0 ? null : await calibrationStats(ctx, criterion.needs, job);
  const kernels = new Map<string, Float32Array>();
  const achieved: Record<string, number> = Object.fromEntries(ctx.model.units().map((u) => [u.name, 0]));
  for (const [index, unit] of units.entries()) {
    throwIfCancelled(job);
    const layout = layoutOf(unit.shape);
    const result = criterion.prune({ kind: 'dense', matrix: kernelToMatrix(layout, await readKernel(ctx.model, unit.name)), sparsity: sparsity[unit.name], granularity: plan.granularity, stats: stats?.get(unit.name), seed: plan.seed });
    const values = matrixToKernel(layout, result.values);
    kernels.set(unit.name, values);
    achieved[unit.name] = values.reduce((n, v) => n + (v === 0 ? 1 : 0), 0) / values.length;
    job.progress('Pruning', index + 1, units.length);
  }
  const all = ctx.model.units();
  const size = all.reduce((n, u) => n + u.size, 0);
  const overall = all.reduce((n, u) => n + achieved[u.name] * u.size, 0) / size;
  return { sparsity, kernels, achieved, overall, note };
}

async function withKernels<T>(model: TransformerModel, kernels: Map<string, Float32Array>, work: (tensors: Map<string, tf.Tensor>) => Promise<T>): Promise<T> {
  const shapes = new Map(model.units().map((u) => [u.name, u.shape as [number, number]]));
  const tensors = new Map([...kernels].map(([unit, values]) => [unit, tf.tensor2d(values, shapes.get(unit), 'float32') as tf.Tensor]));
  try {
    return await work(tensors);
  } finally {
    tf.dispose([...tensors.values()]);
  }
}

async function evaluateWith(ctx: TransformerPlanContext, kernels: Map<string, Float32Array>, removed: string[], job: JobContext): Promise<Evaluation> {
  if (ctx.tokens.synthetic) throw new Error('Plans of language models are measured on text: drop a .txt first');
  const bypass = removed.length > 0 ? new Set(removed) : undefined;
  const result = await withKernels(ctx.model, kernels, (tensors) =>
    perplexity(ctx.model, ctx.tokens.ids, { forward: { kernels: tensors, bypass }, onProgress: (done, total) => job.progress('Perplexity', done, total), shouldStop: () => job.cancelled() }),
  );
  throwIfCancelled(job);
  return { perplexity: result.perplexity, loss: result.nll, samples: result.tokens };
}

export async function evaluateTransformerPlan(ctx: TransformerPlanContext, request: PlanRequest, job: JobContext): Promise<PlanResult> {
  const applied = await applyTransformerPlan(ctx, request, job);
  const evaluation = await evaluateWith(ctx, applied.kernels, request.plan.removed, job);
  const removedParams = ctx.model.units().filter((u) => request.plan.removed.some((c) => u.name.startsWith(`${c}.`))).reduce((n, u) => n + u.size, 0);
  const kernelBytes = [...applied.kernels.values()].reduce((n, k) => n + k.byteLength, 0);
  const gzipped = [...applied.kernels.values()].reduce((n, k) => n + gzipSync(new Uint8Array(k.buffer, k.byteOffset, k.byteLength), { level: 6 }).length, 0);
  const denseBytes = ctx.totalParams * 4;
  return {
    sparsity: applied.sparsity,
    achieved: applied.achieved,
    overall: applied.overall,
    evaluation,
    params: ctx.totalParams - removedParams,
    sizes: { denseBytes, gzipBytes: denseBytes - kernelBytes + gzipped },
    note: applied.note,
    skipped: [],
  };
}

/** Writes config.json + model.safetensors + recipe.json; the zip is reopened and must reproduce the in-app perplexity. */
export async function exportTransformerPlan(ctx: TransformerPlanContext, request: ExportRequest, job: JobContext): Promise<ExportResult> {
  const applied = await applyTransformerPlan(ctx, { plan: request.plan, allocate: false }, job);
  const inApp = await evaluateWith(ctx, applied.kernels, request.plan.removed, job);
  const originals = new Map<string, Float32Array>();
  let files;
  try {
    for (const [unit, values] of applied.kernels) {
      originals.set(unit, await readKernel(ctx.model, unit));
      ctx.model.setKernel(unit, values);
    }
    const plan: PruningPlan = { ...request.plan, sparsity: applied.sparsity };
    const recipe = recipeFromPlan(plan, ctx.opened, { dense: await ctx.denseEvaluation(job), pruned: inApp });
    files = (await writeHfTransformer(ctx.opened, ctx.model, { removed: request.plan.removed, recipe, float16: request.float16 })).files;
    const zip = exportZip(files, recipe);
    job.progress('Checking the export', 2, 3);
    const reopened = await openModel([{ path: `${ctx.opened.name}-pruned.zip`, size: zip.length, bytes: async () => zip }]);
    const reloaded = await ctx.evaluateOpened(reopened, job);
    // A float16 export is held to the evaluation of the float16-rounded weights, not of the float32 ones.
    const reference = request.float16 ? await roundedEvaluation(ctx, request.plan.removed, job) : inApp;
    const a = reference.perplexity ?? NaN;
    const b = reloaded.perplexity ?? NaN;
    const difference = Math.abs(a - b) / Math.abs(a);
    const tolerance = 1e-5;
    return {
      fileName: `${ctx.opened.name}-pruned${request.float16 ? '-f16' : ''}.zip`,
      zip,
      files: [...files.map((f) => f.path), 'recipe.json'],
      check: { metric: 'perplexity', inApp: a, reloaded: b, difference, ok: difference <= tolerance },
    };
  } finally {
    for (const [unit, values] of originals) ctx.model.setKernel(unit, values);
  }
}

/** The model (pruned kernels already set) with every parameter rounded to float16, evaluated, then restored. */
async function roundedEvaluation(ctx: TransformerPlanContext, removed: string[], job: JobContext): Promise<Evaluation> {
  const parameters = await ctx.model.exportParameters();
  try {
    for (const [name, tensor] of parameters) ctx.model.setParameter(name, decodeFloat16(encodeFloat16(tensor.values)));
    return await evaluateWith(ctx, new Map(), removed, job);
  } finally {
    for (const [name, tensor] of parameters) ctx.model.setParameter(name, tensor.values);
  }
}
