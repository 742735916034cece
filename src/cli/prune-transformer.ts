import { readFile } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs';
import type { AllocationInput, SensitivityCurves } from '../core/allocate/types';
import { achievedSparsity } from '../core/apply/apply';
import { applyPlanKernels } from '../core/pipeline/apply';
import { allocationExtras } from '../core/pipeline/allocation';
import { calibrationInputs, syntheticTokens, tokenCalibrationWindows, type TokenData as PipelineTokens } from '../core/pipeline/data';
import type { PruningPlan } from '../core/plan';
import { greedyRemoval } from '../core/removal/greedy';
import { transformerTarget } from '../core/removal/transformer-target';
import { windowBatches, type WindowBatch } from '../core/removal/windows';
import { DEFAULT_SPARSITIES } from '../core/sweep/engine';
import { runTransformerSweep } from '../core/sweep/transformer-sweep';
import { TransformerModel, type TransformerForwardOptions } from '../core/transformer/model';
import { jsFromLogits } from '../core/transformer/output-change';
import { perplexity } from '../core/transformer/perplexity';
import type { UnitInfo } from '../core/types';
import { writeHfTransformer, type ExportFile } from '../io/export';
import { sha256Hex } from '../io/hash';
import { tokenizeText } from '../io/text';
import { inputFileFromBytes, parseJsonBytes } from '../io/input-file';
import { openModel } from '../io/open';
import type { Recipe, RecipeMetrics } from '../io/recipe';
import type { InputFile, OpenedModel, TransformerPayload } from '../io/types';
import { TransformerPrunable } from '../kinds/hf-transformer/prunable';
import { numberOption, stringOption, UsageError, type ParsedArgs } from './args';
import { readKernels, withKernelTensors, type KernelSource, type PruneSubject } from './prune-subject';

const log = (message: string): void => {
  process.stderr.write(`lopper prune: ${message}\n`);
};

/** Token windows of calibration (and data-free evaluation): FinerCut's 10, as `lopper remove`. */
const LM_SAMPLES = 10;

/** What a language model is calibrated and evaluated on: a text's token ids, or seeded random windows. */
interface TokenData {
  /** The same data as the page's pipeline sees it. */
  pipeline: PipelineTokens;
  hash: string;
  /** The text's token ids (perplexity); absent data-free. */
  ids?: Int32Array;
  /** Calibration windows of equal length, batched. */
  batches: WindowBatch[];
}

/** A Hugging Face decoder-only transformer as `lopper prune` works on it. */
class TransformerSubject implements PruneSubject {
  /** Dense logits of each calibration batch (data-free divergence). */
  private reference: Float32Array[] | undefined;

  private readonly prunable: TransformerPrunable;

  constructor(
    readonly opened: OpenedModel,
    private readonly model: TransformerModel,
    private readonly configJson: unknown,
    private readonly data: TokenData,
  ) {
    this.prunable = new TransformerPrunable(model, opened.name);
  }

  get dataHash(): string {
    return this.data.hash;
  }

  get labelled(): boolean {
    return this.data.ids !== undefined;
  }

  units(): UnitInfo[] {
    return this.model.units();
  }

  removalCandidates(): string[] {
    return this.model.removalCandidates();
  }

  liveUnits(removed: readonly string[]): UnitInfo[] {
    return this.prunable.liveUnits(removed);
  }

  /** Share of zeros over the kernels of the units outside removed sublayers. */
  async achievedSparsity(removed: readonly string[]): Promise<number> {
    return achievedSparsity(
      await readKernels(
        this,
        this.liveUnits(removed).map((unit) => unit.name),
      ),
    ).overall;
  }

  async readKernel(unit: string): Promise<Float32Array> {
    const kernel = this.model.getKernel(unit);
    try {
      return ((await kernel.data()) as Float32Array).slice();
    } finally {
      kernel.dispose();
    }
  }

  setKernel(unit: string, values: Float32Array): void {
    this.model.setKernel(unit, values);
  }

  /** Logits of every calibration batch. */
  private async logits(model: TransformerModel, forward: TransformerForwardOptions = {}): Promise<Float32Array[]> {
    const out: Float32Array[] = [];
    for (const batch of this.data.batches) {
      const logits = tf.tidy(() => model.forward(tf.tensor2d(batch.ids, batch.shape, 'int32'), forward));
      out.push((await logits.data()) as Float32Array);
      logits.dispose();
    }
    return out;
  }

  /** Mean Jensen–Shannon divergence from the dense logits over every position of the calibration windows. */
  private async divergence(model: TransformerModel, forward: TransformerForwardOptions = {}): Promise<{ divergence: number; samples: number }> {
    const reference = this.reference ?? [];
    let total = 0;
    let positions = 0;
    for (const [b, batch] of this.data.batches.entries()) {
      const value = tf.tidy(() => {
        const logits = model.forward(tf.tensor2d(batch.ids, batch.shape, 'int32'), forward);
        return jsFromLogits(tf.tensor(reference[b], logits.shape), logits);
      });
      const rows = batch.shape[0] * batch.shape[1];
      total += (await value.data())[0] * rows;
      positions += rows;
      value.dispose();
    }
    return { divergence: total / positions, samples: positions };
  }

  private async measure(model: TransformerModel, forward: TransformerForwardOptions = {}): Promise<RecipeMetrics> {
    if (this.data.ids === undefined) return this.divergence(model, forward);
    const result = await perplexity(model, this.data.ids, { forward });
    return { perplexity: result.perplexity, loss: result.nll, samples: result.tokens };
  }

  /** Perplexity of the text; data-free, the logits become the reference, at divergence 0 from themselves. */
  async evaluate(): Promise<RecipeMetrics> {
    if (this.data.ids !== undefined) return this.measure(this.model);
    this.reference ??= await this.logits(this.model);
    return { divergence: 0, samples: this.data.batches.reduce((n, b) => n + b.shape[0] * b.shape[1], 0) };
  }

  async deltaObjective(kernels: ReadonlyMap<string, Float32Array>): Promise<number> {
    const metrics = await withKernelTensors(this.model.units(), kernels, (tensors) => this.measure(this.model, { kernels: tensors }));
    return metrics.loss ?? metrics.divergence ?? NaN;
  }

  async greedyRemoval(steps: number, onStep: (removed: string, value: number, index: number) => void): Promise<string[]> {
    const windows = this.data.batches.flatMap((batch) => Array.from({ length: batch.shape[0] }, (_, r) => [...batch.ids.subarray(r * batch.shape[1], (r + 1) * batch.shape[1])]));
    const result = await greedyRemoval(transformerTarget(this.model, windows), {
      metric: 'js',
      steps: Math.min(steps, this.model.removalCandidates().length),
      onStep: (step, index) => onStep(step.removed, step.scores[step.removed], index),
    });
    return result.steps.map((step) => step.removed);
  }

  async allocationInput(plan: PruningPlan, units: readonly string[], sweep: SensitivityCurves | undefined): Promise<Partial<AllocationInput>> {
    if (plan.allocation === 'sensitivity') return { sweep: sweep ?? (await this.sweep(plan, units)) };
    return this.withCalibration((batches) => allocationExtras(this.prunable, plan, this.data.pipeline, batches, units));
  }

  /** The sensitivity sweep the allocation reads: loss on the text, as `lopper sweep` runs it. */
  private async sweep(plan: PruningPlan, units: readonly string[]): Promise<SensitivityCurves> {
    if (this.data.ids === undefined) throw new Error('--allocation sensitivity needs a text (--data .txt) to run its sweep on, or a saved sweep with --sweep F');
    log(`sensitivity sweep of ${units.length} units × ${DEFAULT_SPARSITIES.length} sparsities`);
    const result = await runTransformerSweep(this.model, this.data.ids, {
      criterion: plan.criterion,
      granularity: plan.granularity,
      sparsities: DEFAULT_SPARSITIES,
      metric: 'loss',
      seed: plan.seed,
      units,
    });
    return { layers: result.layers, sparsities: result.sparsities, values: result.values, dense: result.dense, metric: result.metric };
  }

  private async withCalibration<T>(work: (batches: tf.Tensor[]) => Promise<T>): Promise<T> {
    const batches = calibrationInputs(this.data.pipeline, { contextLength: this.model.contextLength, vocabSize: this.model.config.vocabSize });
    try {
      return await work(batches);
    } finally {
      tf.dispose(batches);
    }
  }

  /** The criterion on every unit the plan prunes, through the pipeline the page uses too. */
  async apply(plan: PruningPlan): Promise<{ kernels: Map<string, Float32Array>; skipped: { unit: string; reason: string }[] }> {
    if (plan.granularity === 'channels') {
      throw new Error('--granularity channels is not available for transformers: structural shrinking of their projections is not implemented');
    }
    return this.withCalibration(async (batches) => {
      const result = await applyPlanKernels(this.prunable, plan, batches);
      return { kernels: result.kernels, skipped: result.skipped };
    });
  }

  async write(removed: readonly string[], options: { recipe?: Recipe; float16: boolean }): Promise<ExportFile[]> {
    const { files } = await writeHfTransformer(this.opened, this.model, {
      removed,
      float16: options.float16,
      configJson: this.configJson,
      ...(options.recipe && { recipe: options.recipe }),
    });
    return files;
  }

  async evaluateWritten(files: readonly ExportFile[]): Promise<{ metrics: RecipeMetrics; params: number }> {
    const opened = await openModel(files.map((f) => inputFileFromBytes(`${this.opened.name}/${f.path}`, f.bytes)));
    if (opened.transformer === undefined) throw new Error(`the written ${this.opened.name} did not open as a transformer`);
    const model = new TransformerModel(opened.transformer.config, opened.transformer.tensors);
    try {
      return { metrics: await this.measure(model), params: model.parameterCount() };
    } finally {
      model.dispose();
    }
  }

  dispose(): void {
    this.model.dispose();
  }
}

/** `--data` text tokenized with the model's own tokenizer, or `--samples` windows of seeded random ids. */
async function tokenData(args: ParsedArgs, payload: TransformerPayload, contextLength: number): Promise<TokenData> {
  const samples = numberOption(args, 'samples', LM_SAMPLES);
  if (!Number.isInteger(samples) || samples < 1) throw new UsageError(`--samples expects a positive integer, got ${samples}`);
  const shape = { contextLength, vocabSize: payload.config.vocabSize };
  const dataPath = stringOption(args, 'data');
  const withBatches = (pipeline: PipelineTokens): TokenData => ({
    pipeline,
    hash: pipeline.hash,
    ...(!pipeline.synthetic && { ids: pipeline.ids }),
    batches: windowBatches(tokenCalibrationWindows(pipeline, shape), shape.vocabSize),
  });
  if (dataPath === undefined) return withBatches(syntheticTokens(shape, samples, numberOption(args, 'seed', 0)));
  if (!dataPath.toLowerCase().endsWith('.txt')) throw new UsageError(`--data for a language model is a .txt file, got ${dataPath}`);
  if (payload.tokenizer === undefined) throw new Error(`${dataPath}: the model has no tokenizer.json or char-tokenizer.json beside config.json to read text with`);
  const bytes = await readFile(dataPath);
  const ids = tokenizeText(dataPath, bytes, payload.tokenizer);
  return withBatches({ kind: 'tokens', source: dataPath, hash: await sha256Hex(bytes), ids, synthetic: false });
}

export async function transformerSubject(opened: OpenedModel, files: readonly InputFile[], args: ParsedArgs): Promise<PruneSubject> {
  const payload = opened.transformer as TransformerPayload;
  const configFile = files.find((file) => file.path === opened.files[0]);
  const configJson = configFile === undefined ? undefined : parseJsonBytes(await configFile.bytes());
  const model = new TransformerModel(payload.config, payload.tensors);
  try {
    return new TransformerSubject(opened, model, configJson, await tokenData(args, payload, model.contextLength));
  } catch (error) {
    model.dispose();
    throw error;
  }
}

/** A transformer as a DARE base. */
export function transformerBaseKernels(payload: TransformerPayload): KernelSource {
  return new TransformerModel(payload.config, payload.tensors);
}
