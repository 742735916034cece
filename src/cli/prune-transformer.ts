import { readFile } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs';
import { ECOFLAP_EPSILON, ECOFLAP_SAMPLES } from '../core/allocate/ecoflap';
import { outlierRatio } from '../core/allocate/owl';
import type { AllocationInput, SensitivityCurves } from '../core/allocate/types';
import { achievedSparsity } from '../core/apply/apply';
import { kernelToMatrix, matrixToKernel, unitLayout, type UnitLayout } from '../core/criteria/layout';
import { getCriterion } from '../core/criteria/registry';
import type { CalibrationStats } from '../core/criteria/types';
import { wandaScores } from '../core/criteria/wanda';
import { mulberry32, normalGenerator } from '../core/data/synthetic';
import { unitSeed } from '../core/delta/dare';
import { parseNMPattern } from '../core/masks';
import type { PruningPlan } from '../core/plan';
import { calibrationWindows, randomTokenWindows } from '../core/removal/calibration';
import { greedyRemoval } from '../core/removal/greedy';
import { transformerTarget } from '../core/removal/transformer-target';
import { windowBatches, type WindowBatch } from '../core/removal/windows';
import { createTokenizer } from '../core/tokenizer';
import { TransformerModel, type TransformerForwardOptions } from '../core/transformer/model';
import { jsFromLogits } from '../core/transformer/output-change';
import { nextTokenNll, perplexity } from '../core/transformer/perplexity';
import type { UnitInfo } from '../core/types';
import { writeHfTransformer, type ExportFile } from '../io/export';
import { sha256Hex } from '../io/hash';
import { inputFileFromBytes, parseJsonBytes } from '../io/input-file';
import { openModel } from '../io/open';
import type { Recipe, RecipeMetrics } from '../io/recipe';
import type { InputFile, OpenedModel, TransformerPayload } from '../io/types';
import { numberOption, stringOption, UsageError, type ParsedArgs } from './args';
import { readKernels, withKernelTensors, type KernelSource, type PruneSubject } from './prune-subject';

/** Token windows of calibration (and data-free evaluation): FinerCut's 10, as `lopper remove`. */
const LM_SAMPLES = 10;

/** What a language model is calibrated and evaluated on: a text's token ids, or seeded random windows. */
interface TokenData {
  hash: string;
  /** The text's token ids (perplexity); absent data-free. */
  ids?: Int32Array;
  /** Calibration windows of equal length, batched. */
  batches: WindowBatch[];
}

interface UnitSums {
  rows: number;
  norms: Float64Array;
  gram?: Float64Array;
}

function addInto(total: Float64Array, values: ArrayLike<number>): void {
  for (let i = 0; i < total.length; i++) total[i] += values[i];
}

/**
 * Statistics of the inputs X `[rows, in]` of `units` over the calibration windows, as the criteria
 * read them: Σ X² per column and, for `gram`, XᵀX, summed in float64 over batches.
 */
async function projectionStats(
  model: TransformerModel,
  batches: readonly WindowBatch[],
  units: ReadonlySet<string>,
  needs: 'norms' | 'gram',
  forward: TransformerForwardOptions,
): Promise<Map<string, CalibrationStats>> {
  const sums = new Map<string, UnitSums>();
  for (const batch of batches) {
    const kept = new Map<string, { rows: number; norms: tf.Tensor; gram?: tf.Tensor }>();
    const ids = tf.tensor2d(batch.ids, batch.shape, 'int32');
    try {
      const onUnitInput = (unit: string, x: tf.Tensor2D): void => {
        if (!units.has(unit)) return;
        kept.set(unit, { rows: x.shape[0], norms: tf.keep(x.square().sum(0)), ...(needs === 'gram' && { gram: tf.keep(tf.matMul(x, x, true, false)) }) });
      };
      model.forward(ids, { ...forward, onUnitInput }).dispose();
      for (const [unit, { rows, norms, gram }] of kept) {
        const cols = norms.size;
        const sum = sums.get(unit) ?? { rows: 0, norms: new Float64Array(cols), ...(gram && { gram: new Float64Array(cols * cols) }) };
        sum.rows += rows;
        addInto(sum.norms, await norms.data());
        if (gram && sum.gram) addInto(sum.gram, await gram.data());
        sums.set(unit, sum);
      }
    } finally {
      ids.dispose();
      for (const { norms, gram } of kept.values()) tf.dispose([norms, ...(gram ? [gram] : [])]);
    }
  }
  return new Map(
    [...sums].map(([unit, sum]): [string, CalibrationStats] => [unit, { samples: sum.rows, inputNormsSq: sum.norms, ...(sum.gram && { gram: sum.gram }) }]),
  );
}

/** The block a unit belongs to (`model.layers.3`, `transformer.h.0`): OWL's outlier ratio is per block. */
function blockOf(unit: string): string {
  return unit.split('.').slice(0, 3).join('.');
}

/** A Hugging Face decoder-only transformer as `lopper prune` works on it. */
class TransformerSubject implements PruneSubject {
  /** Dense logits of each calibration batch (data-free divergence). */
  private reference: Float32Array[] | undefined;

  constructor(
    readonly opened: OpenedModel,
    private readonly model: TransformerModel,
    private readonly configJson: unknown,
    private readonly data: TokenData,
  ) {}

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
    return this.model.units().filter((unit) => !removed.some((sublayer) => unit.name.startsWith(`${sublayer}.`)));
  }

  /** Share of zeros over the kernels of the units outside removed sublayers. */
  async achievedSparsity(removed: readonly string[]): Promise<number> {
    return achievedSparsity(await readKernels(this, this.liveUnits(removed).map((unit) => unit.name))).overall;
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
    switch (plan.allocation) {
      case 'global':
        return { kernels: await readKernels(this, units) };
      case 'sensitivity':
        if (sweep === undefined) throw new UsageError('--allocation sensitivity for a transformer needs a saved sweep (--sweep F): the sweep engine runs LayersModels only');
        return { sweep };
      case 'owl':
        return { outlierRatios: await this.outlierRatios(units, plan.removed) };
      case 'ecoflap':
        return { importance: await this.importance(units, plan) };
      default:
        return {};
    }
  }

  /** Next-token targets per calibration batch: the text itself, or data-free the dense model's own predictions. */
  private async lossTargets(): Promise<Int32Array[]> {
    if (this.data.ids !== undefined) return this.data.batches.map((batch) => batch.ids);
    const targets: Int32Array[] = [];
    for (const batch of this.data.batches) {
      const predicted = tf.tidy(() => this.model.forward(tf.tensor2d(batch.ids, batch.shape, 'int32')).argMax(-1).pad([[0, 0], [1, 0]]).slice([0, 0], batch.shape));
      targets.push((await predicted.data()) as Int32Array);
      predicted.dispose();
    }
    return targets;
  }

  /**
   * ECoFLaP's zeroth-order importance per unit, from forward passes only: Σ|g| over seeded
   * directions z ~ N(0, I), g = (L(θ + εz) − L(θ − εz)) / 2ε, every other unit as stored and
   * `plan.removed` bypassed; L is the mean next-token cross-entropy on the calibration windows.
   */
  private async importance(units: readonly string[], plan: PruningPlan): Promise<Map<string, number>> {
    const targets = await this.lossTargets();
    const bypass = new Set(plan.removed);
    const shapes = new Map(this.model.units().map((unit) => [unit.name, unit.shape]));
    const loss = async (unit: string, values: Float32Array): Promise<number> => {
      let total = 0;
      let count = 0;
      for (const [b, batch] of this.data.batches.entries()) {
        const nll = tf.tidy(() => {
          const kernels = new Map([[unit, tf.tensor(values, shapes.get(unit), 'float32')]]);
          return nextTokenNll(this.model.forward(tf.tensor2d(batch.ids, batch.shape, 'int32'), { kernels, bypass }), tf.tensor2d(targets[b], batch.shape, 'int32')).sum();
        });
        total += (await nll.data())[0];
        count += batch.shape[0] * (batch.shape[1] - 1);
        nll.dispose();
      }
      return total / count;
    };
    const scores = new Map<string, number>();
    for (const unit of units) {
      const weights = await this.readKernel(unit);
      const direction = normalGenerator(mulberry32(unitSeed(plan.seed, unit)));
      let score = 0;
      for (let draw = 0; draw < ECOFLAP_SAMPLES; draw++) {
        const z = Float64Array.from(weights, () => direction());
        const plus = await loss(unit, Float32Array.from(weights, (w, j) => w + ECOFLAP_EPSILON * z[j]));
        const minus = await loss(unit, Float32Array.from(weights, (w, j) => w - ECOFLAP_EPSILON * z[j]));
        score += Math.abs((plus - minus) / (2 * ECOFLAP_EPSILON));
      }
      scores.set(unit, score);
    }
    return scores;
  }

  /** OWL's outlier ratio per block: the share of the block's Wanda scores above M·mean, inputs from the dense model. */
  private async outlierRatios(units: readonly string[], removed: readonly string[]): Promise<Map<string, number>> {
    const stats = await projectionStats(this.model, this.data.batches, new Set(units), 'norms', { bypass: new Set(removed) });
    const blocks = new Map<string, { units: string[]; scores: Float64Array[] }>();
    for (const unit of this.model.units().filter((u) => stats.has(u.name))) {
      const layout = unitLayout('Dense', unit.name, unit.shape) as UnitLayout;
      const scores = wandaScores('dense', kernelToMatrix(layout, await this.readKernel(unit.name)), stats.get(unit.name) as CalibrationStats);
      const entry = blocks.get(blockOf(unit.name)) ?? { units: [], scores: [] };
      entry.units.push(unit.name);
      entry.scores.push(scores);
      blocks.set(blockOf(unit.name), entry);
    }
    const ratios = new Map<string, number>();
    for (const entry of blocks.values()) {
      const joined = new Float64Array(entry.scores.reduce((n, s) => n + s.length, 0));
      entry.scores.reduce((offset, s) => (joined.set(s, offset), offset + s.length), 0);
      const ratio = outlierRatio(joined);
      for (const unit of entry.units) ratios.set(unit, ratio);
    }
    return ratios;
  }

  /**
   * The criterion on every unit the plan prunes, in execution order; Wanda and SparseGPT read each
   * unit's inputs in the model with the units before it already pruned and `plan.removed` bypassed.
   */
  async apply(plan: PruningPlan): Promise<{ kernels: Map<string, Float32Array>; skipped: { unit: string; reason: string }[] }> {
    if (plan.granularity === 'channels') {
      throw new Error('--granularity channels is not available for transformers: structural shrinking of their projections is not implemented');
    }
    const criterion = getCriterion(plan.criterion);
    const pattern = parseNMPattern(plan.granularity);
    const all = this.model.units();
    const unknown = Object.keys(plan.sparsity).filter((name) => !all.some((unit) => unit.name === name));
    if (unknown.length > 0) throw new Error(`the plan names ${unknown.join(', ')}, not prunable units of ${this.opened.name}`);
    const bypass = new Set(plan.removed);
    const kernels = new Map<string, Float32Array>();
    const skipped: { unit: string; reason: string }[] = [];
    const pruned = new Map<string, tf.Tensor>();
    try {
      for (const unit of all.filter((u) => (plan.sparsity[u.name] ?? 0) > 0)) {
        const supported = criterion.supports('dense', plan.granularity);
        if (supported !== true) {
          skipped.push({ unit: unit.name, reason: supported });
          continue;
        }
        const layout = unitLayout('Dense', unit.name, unit.shape) as UnitLayout;
        const stats =
          criterion.needs === 'none' ? undefined : (await projectionStats(this.model, this.data.batches, new Set([unit.name]), criterion.needs, { kernels: pruned, bypass })).get(unit.name);
        const { values } = criterion.prune({
          kind: 'dense',
          matrix: kernelToMatrix(layout, await this.readKernel(unit.name)),
          sparsity: pattern ? pattern.n / pattern.m : plan.sparsity[unit.name],
          granularity: plan.granularity,
          stats,
          seed: plan.seed,
        });
        const kernel = matrixToKernel(layout, values);
        kernels.set(unit.name, kernel);
        if (criterion.needs !== 'none') pruned.set(unit.name, tf.tensor(kernel, unit.shape, 'float32'));
      }
    } finally {
      tf.dispose([...pruned.values()]);
    }
    return { kernels, skipped };
  }

  async write(removed: readonly string[], options: { recipe?: Recipe; float16: boolean }): Promise<ExportFile[]> {
    const { files } = await writeHfTransformer(this.opened, this.model, { removed, float16: options.float16, configJson: this.configJson, ...(options.recipe && { recipe: options.recipe }) });
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
  const vocab = payload.config.vocabSize;
  const dataPath = stringOption(args, 'data');
  if (dataPath === undefined) {
    const seed = numberOption(args, 'seed', 0);
    return { hash: `synthetic:${seed}:${samples}`, batches: windowBatches(randomTokenWindows(vocab, contextLength, { samples, seed }), vocab) };
  }
  if (!dataPath.toLowerCase().endsWith('.txt')) throw new UsageError(`--data for a language model is a .txt file, got ${dataPath}`);
  if (payload.tokenizer === undefined) throw new Error(`${dataPath}: the model has no tokenizer.json or char-tokenizer.json beside config.json to read text with`);
  const bytes = await readFile(dataPath);
  const ids = Int32Array.from(createTokenizer(payload.tokenizer.json).encode(new TextDecoder().decode(bytes)));
  if (ids.length < 2) throw new Error(`${dataPath} is too short to score: ${ids.length} tokens`);
  return { hash: await sha256Hex(bytes), ids, batches: windowBatches(calibrationWindows(ids, contextLength, { samples }), vocab) };
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
