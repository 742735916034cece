import type * as tf from '@tensorflow/tfjs';
import type { UnitLayout } from '../criteria/layout';
import type { CriterionKey, Granularity } from '../criteria/types';
import type { AllocationKey } from '../plan';
import type { UnitInfo } from '../types';

/** The model kinds Lopper opens (DESIGN §2): each is one folder under `src/kinds/`. */
export type ModelKindKey = 'layers-model' | 'graph-model' | 'hf-transformer';

/** One forward pass's changes; nothing is stored in the model. */
export interface PrunableForward {
  /** Unit name → kernel to use instead of the stored one, in the unit's stored shape (`UnitInfo.shape`), float32. */
  kernels?: ReadonlyMap<string, tf.Tensor>;
  /** Removal candidates bypassed: only their skip path passes. */
  bypass?: ReadonlySet<string>;
  /**
   * Sees what enters each unit's op during the pass, as that op receives it (a Dense/MatMul input, a
   * convolution's input image, a projection's rows). The tensor is freed after the pass: reduce it
   * synchronously (e.g. through `Prunable.inputRows`) and `tf.keep` what must outlive it.
   */
  onUnitInput?(unit: string, input: tf.Tensor): void;
  /**
   * The units whose inputs `onUnitInput` is wanted for; every unit when absent. A kind that cannot
   * hand inputs over as they are computed (a GraphModel gets them as extra outputs of one run, all
   * alive at once) keeps only these.
   */
  observe?: ReadonlySet<string>;
}

/**
 * A model that runs block by block (a transformer's residual stream), so that a plan's statistics can
 * come from each block's own inputs instead of a pass from the model's input for every block.
 */
export interface StagedForward {
  /** The blocks in execution order (`Prunable.blockOf`'s names). */
  blocks(): string[];
  /** The state entering the first block for a model input; the caller disposes it. */
  enter(input: tf.Tensor): tf.Tensor;
  /**
   * One block on the seam: its units are the block's, its `forward` takes the state entering the block
   * and gives the one leaving it (with the whole model's `PrunableForward` options). Not to be disposed.
   */
  block(name: string): Prunable;
}

/**
 * The seam every model kind implements (DESIGN §2). Statistics capture, sweeps, plan application,
 * allocation inputs and export-and-verify are written once against it, in `core/pipeline`.
 *
 * A unit's kernel is stored in `UnitInfo.shape`; `layout(unit)` says how it reads as W (rows =
 * outputs, cols = inputs): row-major, the stored kernel is W's transpose `[cols, rows]` for every
 * kind (criteria/layout.ts), and `inputRows` turns what `onUnitInput` saw into X `[rows, cols]` in
 * W's column order (depthwise: `[rows, channels · cols]`).
 */
export interface Prunable {
  readonly kind: ModelKindKey;
  readonly name: string;
  /** Prunable kernels in execution order. */
  units(): UnitInfo[];
  /** The unit's W view, or the reason the criteria cannot read it. */
  layout(unit: string): UnitLayout | string;
  /** X in W's column layout from the tensor `onUnitInput` was given for `unit`; synchronous, caller disposes. */
  inputRows(unit: string, input: tf.Tensor): tf.Tensor2D;
  /** A copy of the unit's stored kernel; the caller disposes it. */
  getKernel(unit: string): tf.Tensor;
  /** Stores new kernel values (copied). */
  setKernel(unit: string, values: Float32Array): void;
  /**
   * The model's output for a batch (samples first). A kind with several outputs returns them
   * flattened per sample and concatenated: `[batch, Σ features]`.
   */
  forward(input: tf.Tensor, options?: PrunableForward): tf.Tensor;
  /**
   * `forward` through an asynchronous runtime, same options and result. Present on kinds whose
   * models may need it (a GraphModel with control flow or dynamic shapes runs only through
   * tfjs-converter's `executeAsync`, and its `forward` then throws); hosts prefer it when present.
   */
  forwardAsync?(input: tf.Tensor, options?: PrunableForward): Promise<tf.Tensor>;
  /**
   * True when an exception thrown from `onUnitInput` ends the pass with nothing left allocated and
   * nothing changed (every tensor of the pass inside `tf.tidy`, kernel overrides restored), so that
   * statistics capture can stop once it has seen what it needs.
   */
  readonly stoppable?: boolean;
  /** Names of what `bypass` accepts (DESIGN §6 Units). */
  removalCandidates(): string[];
  /** The units that still compute with `removed` bypassed (a removed sublayer's or branch's units are gone). */
  liveUnits(removed: readonly string[]): UnitInfo[];
  /** The block a unit belongs to (a transformer block, a CNN stage): OWL's outlier ratio is per block. Each unit its own block when absent. */
  blockOf?(unit: string): string;
  /**
   * Block-by-block execution, where the kind has it: `applyPlanKernels` then carries each calibration
   * batch's state from block to block, with the same values a full pass computes.
   */
  readonly staged?: StagedForward;
  /** True when `forward` returns probabilities (a final softmax), false or absent for logits. */
  outputsAreProbabilities?(): boolean;
  dispose(): void;
}

/** What a kind can do; the page offers only these and says why the rest is unavailable. */
export interface KindCapabilities {
  criteria: readonly CriterionKey[];
  granularities: readonly Granularity[];
  allocations: readonly AllocationKey[];
  removal: boolean;
  delta: boolean;
  /** Choice → why it is not offered for this kind, e.g. `{channels: 'transformers have no channel groups yet'}`. */
  unavailable: Readonly<Record<string, string>>;
}
