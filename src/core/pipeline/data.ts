import * as tf from '@tensorflow/tfjs';
import { calibrationBatches } from '../apply/capture';
import { syntheticInputs } from '../data/synthetic';
import { calibrationWindows, FINERCUT_SAMPLES, randomTokenWindows } from '../removal/calibration';
import { windowBatches } from '../removal/windows';

/** Samples as in a dataset file (DESIGN §6), or seeded synthetic ones for a fixed input shape. */
export interface SampleData {
  kind: 'samples';
  /** File name, or `synthetic`. */
  source: string;
  /** Hex SHA-256 of the file's bytes, or `synthetic:<seed>:<samples>`. */
  hash: string;
  inputs: Float32Array;
  /** `[N, ...inputShape]` */
  shape: number[];
  labels?: Int32Array;
  synthetic: boolean;
}

/** Token ids of a text for a language model, or seeded random ids (data-free). */
export interface TokenData {
  kind: 'tokens';
  source: string;
  hash: string;
  ids: Int32Array;
  synthetic: boolean;
}

/** What every kind is calibrated and evaluated on (DESIGN §6 "Dataset file"). */
export type PipelineData = SampleData | TokenData;

/** What the calibration and evaluation windows of a language model need from it. */
export interface TokenShape {
  contextLength: number;
  vocabSize: number;
  /** The sizes a window's memory grows with; without them windows are cut by the context length alone. */
  width?: TokenWidth;
}

/** A transformer's sizes that the activations of one window scale with. */
export interface TokenWidth {
  hiddenSize: number;
  intermediateSize: number;
  heads: number;
}

/** Bytes the activations of one evaluation forward pass may take (every host: the page's worker and the CLI). */
export const WINDOW_MEMORY_BUDGET = 2 ** 30;

/**
 * Estimated peak bytes of one forward pass over one window of `length` tokens, float32. Attention
 * keeps, per head, the scores, the masked scores and the softmax of every query block against the
 * keys before it (about length²/2 each) until the sublayer ends, beside the causal masks (length²/2,
 * shared); a sublayer also holds a few hidden-size rows per token (q, k, v, rotations, context,
 * output, residual), the MLP three intermediate-size rows, and the scoring four vocabulary-size rows
 * (logits, the shifted copy, exp and the gathered sums). Sublayers run one at a time and free what
 * they made, so depth does not add up.
 */
export function windowMemoryBytes(shape: TokenShape, length: number): number {
  const width = shape.width;
  const perToken = 4 * shape.vocabSize + (width ? 8 * width.hiddenSize + 3 * width.intermediateSize : 0);
  const attention = width ? ((3 * width.heads + 1) * length * length) / 2 : 0;
  return 4 * (attention + length * perToken);
}

/** How a text is cut for its evaluation: windows of `length` tokens, `batch` of them per forward pass. */
export interface EvaluationWindow {
  length: number;
  batch: number;
  /** True when memory, not the context length or the text, set the length. */
  cappedByMemory: boolean;
}

/** Logits values one evaluation batch may hold, beside the memory budget. */
const LOGITS_PER_BATCH = 4_000_000;

/**
 * The windows a perplexity evaluation of `tokens` token ids runs on, the same in every host: as long
 * as the context length, never longer than the text, and no longer than fits `budget` bytes of
 * activations (`windowMemoryBytes`); as many windows per pass as the budget and the logits cap allow.
 */
export function evaluationWindow(shape: TokenShape, tokens: number, budget = WINDOW_MEMORY_BUDGET): EvaluationWindow {
  const wanted = Math.max(1, Math.min(shape.contextLength, tokens));
  let length = wanted;
  if (windowMemoryBytes(shape, length) > budget) {
    let [fits, over] = [1, length];
    while (over - fits > 1) {
      const middle = Math.floor((fits + over) / 2);
      if (windowMemoryBytes(shape, middle) <= budget) fits = middle;
      else over = middle;
    }
    length = fits;
  }
  const batch = Math.max(1, Math.min(Math.floor(LOGITS_PER_BATCH / (length * shape.vocabSize)), Math.floor(budget / windowMemoryBytes(shape, length))));
  return { length, batch, cappedByMemory: length < wanted };
}

/** Data-free samples: uniform in [0, 1) for image-like inputs, standard normal otherwise (DESIGN §6). */
export function syntheticSamples(inputShape: readonly (number | null)[], samples: number, seed: number): SampleData {
  const { inputs, shape, hash } = syntheticInputs(inputShape, samples, seed);
  return { kind: 'samples', source: 'synthetic', hash, inputs, shape, synthetic: true };
}

/**
 * Data-free token ids: `samples` windows of min(256, context) ids drawn by mulberry32 from the
 * vocabulary, row after row; the same ids in the page and the CLI for the same seed and count.
 */
export function syntheticTokens(shape: TokenShape, samples: number, seed: number): TokenData {
  const windows = randomTokenWindows(shape.vocabSize, shape.contextLength, { samples, seed });
  return { kind: 'tokens', source: 'synthetic', hash: `synthetic:${seed}:${samples}`, ids: Int32Array.from(windows.flat()), synthetic: true };
}

/** Calibration windows of a token sequence: FinerCut's 10 of min(256, context) tokens, consecutive from the start. */
export function tokenCalibrationWindows(data: TokenData, shape: TokenShape): number[][] {
  return calibrationWindows(data.ids, shape.contextLength, { samples: FINERCUT_SAMPLES });
}

/**
 * The calibration batches every criterion, allocation and removal search reads, the same in every
 * host: the first min(128, N) samples in batches of 64, or the token windows batched as int32
 * `[windows, length]`. The caller disposes them.
 */
export function calibrationInputs(data: PipelineData, tokens?: TokenShape): tf.Tensor[] {
  if (data.kind === 'samples') return calibrationBatches({ inputs: data.inputs, shape: data.shape });
  if (tokens === undefined) throw new Error('token data needs the model context length and vocabulary size');
  return windowBatches(tokenCalibrationWindows(data, tokens), tokens.vocabSize).map((batch) => tf.tensor2d(batch.ids, batch.shape, 'int32'));
}
