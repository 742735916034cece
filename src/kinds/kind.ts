import type { PipelineData, TokenShape } from '../core/pipeline/data';
import type { KindCapabilities, ModelKindKey, Prunable } from '../core/pipeline/prunable';
import type { PruningPlan } from '../core/plan';
import type { BlockInfluence, RemovalTarget } from '../core/removal';
import type { GroupPreview } from '../core/structure';
import type { SweepOptions, SweepResult } from '../core/sweep/engine';
import type { ExportFile, WeightValues } from '../io/export';
import type { Recipe } from '../io/recipe';
import type { InputFile, OpenedModel } from '../io/types';
import type { PerplexityOptions, PerplexityResult } from '../core/transformer/perplexity';
import type * as tf from '@tensorflow/tfjs';
import type { ModelSummary } from '../worker/protocol';

/** What the layer table and the totals say about an opened model: the kind-specific part of the page's ModelSummary. */
export type KindDescription = Pick<
  ModelSummary,
  'inputShape' | 'outputShape' | 'totalParams' | 'totalFlops' | 'prunableParams' | 'sparsity' | 'layers' | 'tokenizer' | 'contextLength' | 'edges' | 'inputs' | 'removalKinds'
>;

/** A removal search's target and, for CNN-like kinds, whether each candidate is a residual branch or a single layer. */
export interface KindRemovalTarget {
  target: RemovalTarget;
  kinds?: ReadonlyMap<string, 'branch' | 'layer'>;
}

/** A sweep as the kind runs it: its cached engine where it has one, the naive pipeline sweep otherwise. */
export type KindSweepOptions = Omit<SweepOptions, 'captureBudgetBytes' | 'calibrationSamples' | 'batchSize'>;

/** The whole-channel structure of a kind that has one (DESIGN §3 "Channels"). */
export interface KindChannels {
  groups(): GroupPreview[];
  /**
   * The plan's channels cut out (the plan's own criterion on the calibration batches): the files of
   * the shrunk model, without and with a recipe, and how much was removed.
   */
  shrink(
    plan: PruningPlan,
    batches: readonly tf.Tensor[],
  ): Promise<{
    weights: Map<string, WeightValues>;
    params: number;
    achieved: Record<string, number>;
    overall: number;
    /** Share of the units' weights gone or zero in the shrunk model. */
    sparsity: number;
    skipped: { unit: string; reason: string }[];
    write(options: { float16: boolean; recipe?: Recipe }): ExportFile[];
  }>;
}

/**
 * An opened model of one kind (DESIGN §2): its `Prunable`, and what the hosts need beyond the
 * pipeline — its layer table, how it reads data, its cached sweep, its removal target, its writer.
 * The session (src/session) does everything else the same way for every kind.
 */
export interface KindModel {
  readonly key: ModelKindKey;
  readonly opened: OpenedModel;
  readonly prunable: Prunable;
  readonly capabilities: KindCapabilities;
  /** Language models: what token calibration windows need. */
  readonly tokens?: TokenShape;
  /** Samples (or token windows) of data-free mode when the user names no count. */
  readonly syntheticDefault: number;
  describe(): Promise<KindDescription>;
  /** A dropped data file read for this model and checked against it. */
  readData(file: InputFile): Promise<PipelineData>;
  /** Throws unless `data` fits this model (data kept across a reopen or a backend switch). */
  checkData(data: PipelineData): void;
  /**
   * Input shapes that would make `data` fit, when it differs from the model's inputs only in
   * dimensions the model leaves dynamic (the model is then rebuilt with them); `undefined` when
   * the data fits as it is or cannot be made to.
   */
  inputShapesFor?(data: PipelineData): Record<string, number[]> | undefined;
  syntheticData(samples: number, seed: number): PipelineData;
  /** Perplexity of a text through the kind's own scoring path (language models). */
  perplexity?(
    ids: Int32Array,
    options: Pick<PerplexityOptions, 'onProgress' | 'shouldStop' | 'contextLength' | 'batchSize'> & { kernels?: ReadonlyMap<string, tf.Tensor>; bypass?: ReadonlySet<string> },
  ): Promise<PerplexityResult>;
  sweep(data: PipelineData, options: KindSweepOptions): Promise<SweepResult>;
  removalTarget(data: PipelineData): KindRemovalTarget;
  blockInfluence?(data: PipelineData): Promise<BlockInfluence[]>;
  /** Units of a layer of the table (a LayersModel layer holds several) and the values its histogram shows. */
  layerDetail(layer: string): Promise<{ units: string[]; values: Float32Array }>;
  /** Parameters left with `removed` bypassed (what their layers or sublayers held is gone). */
  paramsLeft(removed: readonly string[], totalParams: number): number;
  /** Every float weight as stored now, by name (what an export writes, before float16). */
  weightValues(): Promise<Map<string, WeightValues>>;
  /** The model's files in its own format with the stored kernels, `removed` taken out. */
  write(options: { removed: readonly string[]; float16: boolean; recipe?: Recipe }): Promise<ExportFile[]>;
  channels?: KindChannels;
  dispose(): void;
}

/** How a model is built beyond its files. */
export interface KindOpenOptions {
  /**
   * Per-sample shapes (without the batch) of inputs whose dimensions the model leaves dynamic, by
   * input name (a GraphModel's Placeholder or signature key).
   */
  inputShapes?: Readonly<Record<string, readonly number[]>>;
}

/** One model kind as registered (src/kinds/registry.ts). */
export interface ModelKind {
  readonly key: ModelKindKey;
  readonly capabilities: KindCapabilities;
  open(opened: OpenedModel, options?: KindOpenOptions): Promise<KindModel>;
}
