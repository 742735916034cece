import * as tf from '@tensorflow/tfjs';
import { getCriterion } from '../../core/criteria/registry';
import { JsDivergenceMean } from '../../core/metrics/divergence';
import { applyPlanKernels, withKernelTensors } from '../../core/pipeline/apply';
import { calibrationInputs, evaluationWindow, windowMemoryBytes, type TokenData, type TokenShape } from '../../core/pipeline/data';
import { readKernel } from '../../core/model/kernels';
import { countZeros } from '../../core/pipeline/plan-cache';
import type { PruningPlan } from '../../core/plan';
import type { TransformerConfig } from '../../core/transformer/config';
import { TransformerModel } from '../../core/transformer/model';
import { parameterSpecs, projectionSpecs, type NamedTensor } from '../../core/transformer/parameters';
import { NllTotal, nextTokenNll, perplexityBatches } from '../../core/transformer/perplexity';
import type { Evaluation } from '../../core/types';
import { yieldToEventLoop } from '../../core/yield';
import { decodeFloat16 } from '../../io/dequantize';
import { encodeFloat16, hfExportLayout, storedBytes, type HfExportLayout } from '../../io/export';
import { sha256Hex } from '../../io/hash';
import { nonFiniteWeightWarning } from '../../io/warnings';
import { TransformerBlockPrunable } from './prunable';

/** The checkpoint a streamed prune reads: every parameter's shape, and its values on request. */
export interface StreamSource {
  /** Canonical parameter name → checkpoint shape, for every tensor the files hold (buffers left out). */
  shapes: ReadonlyMap<string, readonly number[]>;
  /** One parameter's float32 values in checkpoint layout, read from the files now. */
  read(name: string): Promise<Float32Array>;
}

/** Where a streamed prune writes model.safetensors: each tensor's stored bytes, by written name, in any order. */
export interface StreamSink {
  write(name: string, bytes: Uint8Array): Promise<void>;
}

export interface StreamPruneRequest {
  config: TransformerConfig;
  /** The plan with its per-unit sparsities settled (`plan.sparsity`); no DARE, no channels. */
  plan: PruningPlan;
  data: TokenData;
  float16?: boolean;
  onProgress?(label: string, done: number, total: number): void;
}

export interface StreamPruneResult {
  /** Achieved sparsity of every unit. */
  sparsity: Record<string, number>;
  /** Zeros over the weights of the units that still compute. */
  liveSparsity: number;
  skipped: { unit: string; reason: string }[];
  dense: Evaluation;
  pruned: Evaluation;
  /** `weightsDigest` of the source as `openModel` would give it. */
  digests: Map<string, string>;
  /** One warning per weight that holds NaN or ±Infinity, in the source's order, as opening the folder gives them. */
  warnings: string[];
}

const BLOCK = /^(?:model\.layers|transformer\.h)\.(\d+)\./;

function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** The token shape the kind gives a transformer (`TransformerKindModel.tokens`). */
export function tokenShapeOf(config: TransformerConfig): TokenShape {
  const { hiddenSize, intermediateSize, heads } = config;
  return { contextLength: config.contextLength, vocabSize: config.vocabSize, width: { hiddenSize, intermediateSize, heads } };
}

/** The parameters of block `index`, or (index −1) of the ends: embeddings, final norm, LM head. */
function partNames(config: TransformerConfig, index: number): string[] {
  return parameterSpecs(config)
    .map((spec) => spec.name)
    .filter((name) => {
      const block = BLOCK.exec(name);
      return index < 0 ? block === null : block !== null && Number(block[1]) === index;
    });
}

/** Float32 bytes a part holds as tensors. */
function partBytes(config: TransformerConfig, index: number): number {
  const shapes = new Map(parameterSpecs(config).map((spec) => [spec.name, spec.shape]));
  return partNames(config, index).reduce((n, name) => n + 4 * sizeOf(shapes.get(name) ?? []), 0);
}

/** The batches a streamed prune runs: calibration (the criterion's statistics) and evaluation (the metrics), as the session makes them. */
interface StreamBatches {
  calibration: tf.Tensor2D[];
  /** The evaluation's token batches: the calibration ones when data-free. */
  evaluation: tf.Tensor2D[];
  perplexity: boolean;
}

function streamBatches(data: TokenData, shape: TokenShape): StreamBatches {
  const calibration = calibrationInputs(data, shape) as tf.Tensor2D[];
  if (data.synthetic) return { calibration, evaluation: calibration, perplexity: false };
  const window = evaluationWindow(shape, data.ids.length);
  const context = Math.min(window.length, shape.contextLength);
  const evaluation = perplexityBatches(data.ids, context, window.batch).map((batch) => tf.tensor2d(batch.ids, [batch.windows, batch.length], 'int32'));
  return { calibration, evaluation, perplexity: true };
}

/** What a run holds besides its tensors' data: compiled code, the JS heap's own growth, allocator slack. */
export const STREAM_RUNTIME_BYTES = 48 * 2 ** 20;

/**
 * Bytes a streamed prune holds at most above the runtime it starts with: `STREAM_RUNTIME_BYTES`, then
 * the larger of one block and the ends — their tensors, the pruned kernels beside them and the
 * criterion's statistics on the backend, the values read and written on the JS side — plus the
 * residual streams of every batch and one pass's activations and logits (`windowMemoryBytes`), a
 * quarter more for the backend heap's growth steps.
 */
export function streamMemoryBytes(config: TransformerConfig, data: TokenData, criterion: PruningPlan['criterion']): number {
  const shape = tokenShapeOf(config);
  const { hiddenSize: d } = config;
  const largestInput = Math.max(...projectionSpecs(config).map((spec) => spec.inputs));
  const statistics = getCriterion(criterion).needs === 'gram' ? 3 * 8 * largestInput * largestInput : 0;
  const calibrationWindow = Math.min(256, config.contextLength);
  const calibrationWindows = Math.max(1, Math.min(data.synthetic ? data.ids.length / calibrationWindow : Math.ceil(data.ids.length / calibrationWindow), 10));
  const window = data.synthetic ? { length: calibrationWindow, batch: calibrationWindows } : evaluationWindow(shape, data.ids.length);
  const evaluationTokens = data.synthetic ? 0 : data.ids.length;
  const streams = 4 * d * (2 * calibrationWindows * calibrationWindow + 3 * evaluationTokens);
  const logits = 4 * window.batch * window.length * config.vocabSize;
  // A sublayer's tidy scope keeps every intermediate of the MLP (the activation's chain) until it ends.
  const intermediates = 4 * 8 * config.intermediateSize * window.batch * window.length;
  const pass = window.batch * windowMemoryBytes(shape, window.length) + intermediates + logits;
  const part = (bytes: number): number => 1.25 * (2 * bytes + streams + pass + statistics) + 8 * bytes + 2 * statistics + 2 * logits;
  return Math.ceil(STREAM_RUNTIME_BYTES + Math.max(part(partBytes(config, 0)), part(partBytes(config, -1))));
}

async function readPart(source: StreamSource, names: readonly string[], digest: (name: string, values: Float32Array) => Promise<void>): Promise<Map<string, NamedTensor>> {
  const tensors = new Map<string, NamedTensor>();
  for (const name of names) {
    const values = await source.read(name);
    await digest(name, values);
    tensors.set(name, { shape: [...(source.shapes.get(name) ?? [])], values });
  }
  return tensors;
}

/** Values as a float16 export stores them, read back as float32. */
function roundedToFloat16(values: Float32Array): Float32Array {
  return decodeFloat16(encodeFloat16(values));
}

function roundedPart(tensors: ReadonlyMap<string, NamedTensor>): Map<string, NamedTensor> {
  return new Map([...tensors].map(([name, tensor]) => [name, { shape: tensor.shape, values: roundedToFloat16(tensor.values) }]));
}

/** Each hidden state through `step`, the old ones disposed. */
function advance(states: tf.Tensor3D[], step: (hidden: tf.Tensor3D) => tf.Tensor3D): tf.Tensor3D[] {
  return states.map((hidden) => {
    const next = step(hidden);
    hidden.dispose();
    return next;
  });
}

/**
 * Prunes a Hugging Face transformer one block at a time (DESIGN §6 `--stream`): reads a block's tensors,
 * prunes its units on the calibration inputs that the already pruned blocks before it give (one pass,
 * as `applyPlanKernels` does in memory), writes its tensors, carries the residual streams of the dense
 * and the pruned model on, and frees it. The ends (embeddings, final norm, head) are read at the start
 * for the token embedding and again at the end for the metrics. The written tensors, the sparsities and
 * the metrics equal those of the in-memory prune of the same plan, bit for bit.
 */
export async function streamPrune(source: StreamSource, sink: StreamSink, request: StreamPruneRequest): Promise<StreamPruneResult> {
  const { config, plan, data } = request;
  const shape = tokenShapeOf(config);
  const layout: HfExportLayout = hfExportLayout(config, plan.removed);
  const written = new Map<string, HfExportLayout['tensors']>();
  for (const tensor of layout.tensors) written.set(tensor.source, [...(written.get(tensor.source) ?? []), tensor]);
  const digests = new Map<string, string>();
  const nonFinite = new Map<string, string>();
  const digest = async (name: string, values: Float32Array): Promise<void> => {
    if (digests.has(name)) return;
    const warning = nonFiniteWeightWarning(name, values);
    if (warning !== undefined) nonFinite.set(name, warning);
    digests.set(name, await sha256Hex(new Uint8Array(values.buffer, values.byteOffset, values.byteLength)));
  };
  const write = async (name: string, values: Float32Array): Promise<void> => {
    for (const target of written.get(name) ?? []) await sink.write(target.name, storedBytes(target.zeroed ? new Float32Array(values.length) : values, request.float16));
  };
  const needsData = getCriterion(plan.criterion).needs !== 'none';
  const bypass = plan.removed.length > 0 ? new Set(plan.removed) : undefined;
  const batches = streamBatches(data, shape);
  const ends = { blocks: { from: 0, to: 0 }, ends: true };
  let calibration: tf.Tensor3D[] = [];
  let dense: tf.Tensor3D[] = [];
  let pruned: tf.Tensor3D[] = [];
  /** A float16 export is measured on its own rounded weights (as the in-memory prune measures it, reopened): those run as a stream of their own. */
  let exported: tf.Tensor3D[] = [];
  const rounded = request.float16 === true;
  const dropped = new Set(layout.lopper.droppedBlocks);
  const steps = config.layers + 2;
  try {
    request.onProgress?.('Embedding', 0, steps);
    const endNames = partNames(config, -1);
    const endTensors = await readPart(source, endNames, digest);
    for (const [name, tensor] of endTensors) await write(name, tensor.values);
    if (rounded) {
      const roundedEnds = new TransformerModel(config, roundedPart(endTensors), ends);
      try {
        exported = batches.evaluation.map((ids) => roundedEnds.embed(ids));
      } finally {
        roundedEnds.dispose();
      }
    }
    let endModel = new TransformerModel(config, endTensors, ends);
    endTensors.clear();
    try {
      dense = batches.evaluation.map((ids) => endModel.embed(ids));
      pruned = dense.map((hidden) => hidden.clone());
      if (needsData && !batches.perplexity) calibration = pruned;
      else if (needsData) calibration = batches.calibration.map((ids) => endModel.embed(ids));
    } finally {
      endModel.dispose();
    }
    const result: StreamPruneResult = { sparsity: {}, liveSparsity: 0, skipped: [], dense: { samples: 0 }, pruned: { samples: 0 }, digests, warnings: [] };
    let liveZeros = 0;
    let liveWeights = 0;
    for (let index = 0; index < config.layers; index++) {
      request.onProgress?.(`Block ${index + 1} of ${config.layers}`, index + 1, steps);
      const names = partNames(config, index);
      const part = new TransformerModel(config, await readPart(source, names, digest), { blocks: { from: index, to: index + 1 }, ends: false });
      const prunable = new TransformerBlockPrunable(part, `block ${index}`);
      try {
        const units = prunable.units();
        const blockPlan: PruningPlan = { ...plan, sparsity: Object.fromEntries(units.map((unit) => [unit.name, plan.sparsity[unit.name] ?? 0])) };
        const applied = await applyPlanKernels(prunable, blockPlan, needsData ? calibration : undefined);
        Object.assign(result.sparsity, applied.sparsity);
        result.skipped.push(...applied.skipped);
        for (const unit of prunable.liveUnits(plan.removed)) {
          const kernel = applied.kernels.get(unit.name);
          liveZeros += countZeros(kernel ?? (await readKernel(prunable, unit.name)));
          liveWeights += unit.size;
        }
        await withKernelTensors(prunable, applied.kernels, async (kernels) => {
          const forward = { kernels, ...(bypass && { bypass }) };
          const shared = calibration === pruned;
          pruned = advance(pruned, (hidden) => part.runBlocks(hidden, forward));
          if (shared) calibration = pruned;
          else if (needsData) calibration = advance(calibration, (hidden) => part.runBlocks(hidden, forward));
        });
        dense = advance(dense, (hidden) => part.runBlocks(hidden));
        for (const [unit, kernel] of applied.kernels) part.setKernel(unit, kernel);
        const parameters = await part.exportParameters();
        for (const [name, tensor] of parameters) await write(name, tensor.values);
        if (rounded && !dropped.has(index)) exported = advanceExported(config, index, parameters, zeroedOf(layout), exported);
      } finally {
        prunable.dispose();
      }
      await yieldToEventLoop();
    }
    result.liveSparsity = liveWeights === 0 ? 0 : liveZeros / liveWeights;
    request.onProgress?.('Evaluating', steps - 1, steps);
    const finalTensors = await readPart(source, endNames, digest);
    const roundedEnds = rounded ? new TransformerModel(config, roundedPart(finalTensors), ends) : undefined;
    endModel = new TransformerModel(config, finalTensors, ends);
    finalTensors.clear();
    try {
      const metrics = await streamMetrics(endModel, batches, dense, pruned, roundedEnds && { model: roundedEnds, states: exported });
      result.dense = metrics.dense;
      result.pruned = metrics.pruned;
    } finally {
      endModel.dispose();
      roundedEnds?.dispose();
    }
    for (const name of source.shapes.keys()) if (!digests.has(name)) await digest(name, await source.read(name));
    result.warnings = [...source.shapes.keys()].flatMap((name) => nonFinite.get(name) ?? []);
    request.onProgress?.('Evaluating', steps, steps);
    return result;
  } finally {
    const held = new Set([...calibration, ...dense, ...pruned, ...exported]);
    tf.dispose([...held]);
    tf.dispose(batches.calibration);
    if (batches.evaluation !== batches.calibration) tf.dispose(batches.evaluation);
  }
}

/** The session's metrics from the final residual streams: perplexity on text, else the divergence of the pruned from the dense logits. */
async function streamMetrics(
  endModel: TransformerModel,
  batches: StreamBatches,
  dense: tf.Tensor3D[],
  pruned: tf.Tensor3D[],
  exported?: { model: TransformerModel; states: tf.Tensor3D[] },
): Promise<{ dense: Evaluation; pruned: Evaluation }> {
  const prunedModel = exported?.model ?? endModel;
  const prunedStates = exported?.states ?? pruned;
  if (batches.perplexity) {
    const [denseNll, prunedNll] = [new NllTotal(), new NllTotal()];
    for (const [b, ids] of batches.evaluation.entries()) {
      for (const [sums, states, model] of [
        [denseNll, dense, endModel],
        [prunedNll, prunedStates, prunedModel],
      ] as const) {
        const nll = tf.tidy(() => nextTokenNll(model.logitsOf(states[b]), ids));
        sums.add(await nll.data());
        nll.dispose();
      }
    }
    const evaluation = (sums: NllTotal): Evaluation => {
      const result = sums.result(batches.evaluation.length, false);
      return { perplexity: result.perplexity, loss: result.nll, samples: result.tokens };
    };
    return { dense: evaluation(denseNll), pruned: evaluation(prunedNll) };
  }
  const vocab = endModel.config.vocabSize;
  const [denseJs, prunedJs] = [new JsDivergenceMean(vocab, { fromLogits: true }), new JsDivergenceMean(vocab, { fromLogits: true })];
  for (const b of batches.evaluation.keys()) {
    const reference = await logitValues(endModel, dense[b]);
    denseJs.add(reference, reference);
    prunedJs.add(reference, await logitValues(prunedModel, prunedStates[b]));
  }
  return { dense: { divergence: denseJs.mean(), samples: denseJs.rows }, pruned: { divergence: prunedJs.mean(), samples: prunedJs.rows } };
}

async function logitValues(model: TransformerModel, hidden: tf.Tensor3D): Promise<Float32Array> {
  const logits = model.logitsOf(hidden);
  try {
    return (await logits.data()) as Float32Array;
  } finally {
    logits.dispose();
  }
}

/** The written parameters of removed sublayers' output projections (zeros in the export). */
function zeroedOf(layout: HfExportLayout): Set<string> {
  return new Set(layout.tensors.filter((tensor) => tensor.zeroed).map((tensor) => tensor.source));
}

/** The export's stream through block `index` as the written float16 file holds it: rounded values, removed sublayers' output projections zero. */
function advanceExported(
  config: TransformerConfig,
  index: number,
  parameters: ReadonlyMap<string, NamedTensor>,
  zeroed: ReadonlySet<string>,
  states: tf.Tensor3D[],
): tf.Tensor3D[] {
  const stored = new Map([...parameters].map(([name, tensor]) => [name, zeroed.has(name) ? { shape: tensor.shape, values: new Float32Array(tensor.values.length) } : tensor]));
  const part = new TransformerModel(config, roundedPart(stored), { blocks: { from: index, to: index + 1 }, ends: false });
  try {
    return advance(states, (hidden) => part.runBlocks(hidden));
  } finally {
    part.dispose();
  }
}
