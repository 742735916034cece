import type * as tf from '@tensorflow/tfjs';
import type { OutputChangeMetric } from '../transformer/output-change';

/**
 * Something whose sublayers can be removed (FinerCut, DESIGN §3): its removal candidates and its
 * outputs on a fixed calibration set with some of them removed.
 */
export interface RemovalTarget {
  /** Candidate names (DESIGN §6) in their canonical order; ties go to the earlier one. */
  candidates(): string[];
  /** How many calibration batches `outputs` comes in (1 when absent). */
  readonly batches?: number;
  /**
   * Logits `[..., classes]` (or log-probabilities) for calibration batch `batch` (0 by default) with
   * the candidates in `bypass` removed. The caller disposes the tensor.
   */
  outputs(bypass: ReadonlySet<string>, batch?: number): tf.Tensor;
  /**
   * `outputs` through an asynchronous runtime (graphs with control flow run only through tfjs'
   * `executeAsync`); when present, the search uses it instead of `outputs`.
   */
  outputsAsync?(bypass: ReadonlySet<string>, batch?: number): Promise<tf.Tensor>;
}

/** A target's outputs through its asynchronous runtime where it has one. The caller disposes the tensor. */
export async function targetOutputs(target: RemovalTarget, bypass: ReadonlySet<string>, batch: number): Promise<tf.Tensor> {
  return target.outputsAsync ? target.outputsAsync(bypass, batch) : target.outputs(bypass, batch);
}

/** One greedy step: the candidate removed, and every candidate still in with its output change. */
export interface RemovalStep {
  removed: string;
  /** candidate → metric(dense outputs, outputs with the earlier removals ∪ {candidate}). */
  scores: Record<string, number>;
}

/** `lopper remove`'s result (DESIGN §6) plus whether a stop ended it early. */
export interface RemovalResult {
  metric: OutputChangeMetric;
  candidates: string[];
  steps: RemovalStep[];
  /** The metric of the dense model against itself: 0 for every metric. */
  dense: number;
  /** True when `shouldStop` ended the search: `steps` holds the steps completed before it. */
  cancelled: boolean;
}

/** One evaluated candidate, reported as soon as its score is known (for a heatmap filling in). */
export interface RemovalScore {
  /** 0-based greedy step. */
  step: number;
  candidate: string;
  value: number;
  /** Evaluations done so far and in the whole search (for progress and ETA). */
  done: number;
  total: number;
}
