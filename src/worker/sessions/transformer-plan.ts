import * as tf from '@tensorflow/tfjs';
import { gzipSync } from 'fflate';
import type { CalibrationStats } from '../../core/criteria/types';
import { applyPlanKernels } from '../../core/pipeline/apply';
import { checkExport } from '../../core/pipeline/verify';
import { calibrationInputs, type PipelineData } from '../../core/pipeline/data';
import { allocatePlan } from '../../core/pipeline/plan';
import type { PruningPlan } from '../../core/plan';
import { TransformerPrunable } from '../../kinds/hf-transformer/prunable';
import type { TransformerModel } from '../../core/transformer/model';
import { perplexity } from '../../core/transformer/perplexity';
import type { Evaluation } from '../../core/types';
import { decodeFloat16 } from '../../io/dequantize';
import { encodeFloat16, exportZip, writeHfTransformer } from '../../io/export';
import { openModel } from '../../io/open';
import { recipeFromPlan } from '../../io/recipe';
import type { OpenedModel } from '../../io/types';
import type { ExportRequest, ExportResult, PlanRequest, PlanResult } from '../protocol';
import { sweepCurves, throwIfCancelled, type JobContext, type TokenData } from './session';
import { readKernel } from '../../core/model/kernels';

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

/** The plan's allocation (when asked) and criterion on every projection, through the one pipeline the CLI uses too. The model is not changed. */
async function applyTransformerPlan(ctx: TransformerPlanContext, request: PlanRequest, job: JobContext): Promise<Applied> {
  const { plan } = request;
  if (plan.granularity === 'channels') throw new Error('Channel shrinking of transformers is not available yet: use unstructured or N:M');
  const model = new TransformerPrunable(ctx.model, ctx.opened.name);
  const data: PipelineData = { kind: 'tokens', ...ctx.tokens };
  const batches = calibrationInputs(data, { contextLength: ctx.model.contextLength, vocabSize: ctx.model.config.vocabSize });
  try {
    const allocated = request.allocate
      ? await allocatePlan(model, plan, data, batches, {
          sweep: request.sweep && sweepCurves(request.sweep),
          lambda: request.options?.lambda,
          outlierThreshold: request.options?.outlierThreshold,
          epsilon: request.options?.epsilon,
          shouldStop: () => job.cancelled(),
        })
      : { sparsity: plan.sparsity };
    throwIfCancelled(job);
    const applied = await applyPlanKernels(model, { ...plan, sparsity: allocated.sparsity }, batches, {
      onUnit: (p) => job.progress('Pruning', p.index + 1, p.total),
      shouldStop: () => job.cancelled(),
    });
    throwIfCancelled(job);
    return { sparsity: allocated.sparsity, kernels: applied.kernels, achieved: applied.sparsity, overall: applied.overall, note: allocated.note };
  } finally {
    tf.dispose(batches);
  }
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
    perplexity(ctx.model, ctx.tokens.ids, {
      forward: { kernels: tensors, bypass },
      onProgress: (done, total) => job.progress('Perplexity', done, total),
      shouldStop: () => job.cancelled(),
    }),
  );
  throwIfCancelled(job);
  return { perplexity: result.perplexity, loss: result.nll, samples: result.tokens };
}

export async function evaluateTransformerPlan(ctx: TransformerPlanContext, request: PlanRequest, job: JobContext): Promise<PlanResult> {
  const applied = await applyTransformerPlan(ctx, request, job);
  const evaluation = await evaluateWith(ctx, applied.kernels, request.plan.removed, job);
  const removedParams = ctx.model
    .units()
    .filter((u) => request.plan.removed.some((c) => u.name.startsWith(`${c}.`)))
    .reduce((n, u) => n + u.size, 0);
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
    return {
      fileName: `${ctx.opened.name}-pruned${request.float16 ? '-f16' : ''}.zip`,
      zip,
      files: [...files.map((f) => f.path), 'recipe.json'],
      check: checkExport(reference, reloaded),
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
