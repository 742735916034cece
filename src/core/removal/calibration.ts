import { mulberry32 } from '../data/synthetic';

/** FinerCut's calibration set: 10 samples of 256 tokens. */
export const FINERCUT_SAMPLES = 10;
export const FINERCUT_SAMPLE_LENGTH = 256;

export interface CalibrationOptions {
  /** At most this many windows (10). */
  samples?: number;
  /** Tokens per window before scaling down (256). */
  length?: number;
}

function checkCount(name: string, value: number, minimum: number): void {
  if (!Number.isInteger(value) || value < minimum) throw new Error(`${name} must be an integer ≥ ${minimum}, received ${value}`);
}

/** The window length: `length` scaled down to the context length and to the tokens available. */
function windowLength(tokens: number, contextLength: number, length: number): number {
  checkCount('context length', contextLength, 1);
  checkCount('sample length', length, 1);
  return Math.min(length, contextLength, tokens);
}

/**
 * Calibration windows from a token sequence: windows of min(length, context length, tokens) tokens,
 * consecutive from the start, as many as fit up to `samples`. With the defaults (10 × 256) a
 * context of 128 gives 10 windows of 128 tokens, and a 300-token text with a context of 512 gives
 * one window of 256.
 */
export function calibrationWindows(ids: ArrayLike<number>, contextLength: number, options: CalibrationOptions = {}): number[][] {
  const samples = options.samples ?? FINERCUT_SAMPLES;
  checkCount('samples', samples, 1);
  if (ids.length < 1) throw new Error('calibration needs at least one token; the text is empty');
  const length = windowLength(ids.length, contextLength, options.length ?? FINERCUT_SAMPLE_LENGTH);
  const count = Math.min(samples, Math.floor(ids.length / length));
  return Array.from({ length: count }, (_, w) => Array.from({ length }, (_, t) => ids[w * length + t]));
}

/**
 * Data-free calibration: `samples` windows of min(length, context length) token ids drawn uniformly
 * from the vocabulary by a seeded generator (mulberry32), row by row.
 */
export function randomTokenWindows(vocabSize: number, contextLength: number, options: CalibrationOptions & { seed: number }): number[][] {
  const samples = options.samples ?? FINERCUT_SAMPLES;
  checkCount('samples', samples, 1);
  checkCount('vocabulary size', vocabSize, 1);
  if (!Number.isInteger(options.seed)) throw new Error(`seed must be an integer, received ${options.seed}`);
  const length = windowLength(Infinity, contextLength, options.length ?? FINERCUT_SAMPLE_LENGTH);
  const uniform = mulberry32(options.seed);
  return Array.from({ length: samples }, () => Array.from({ length }, () => Math.min(vocabSize - 1, Math.floor(uniform() * vocabSize))));
}
