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

/** What the calibration of a language model needs from it. */
export interface TokenShape {
  contextLength: number;
  vocabSize: number;
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
