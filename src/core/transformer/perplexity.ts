import * as tf from '@tensorflow/tfjs';
import { yieldToEventLoop } from '../yield';
import type { TransformerForwardOptions, TransformerModel } from './model';

/** A span of the token sequence evaluated in one forward pass. */
export interface TokenWindow {
  start: number;
  length: number;
}

/**
 * Consecutive non-overlapping windows of `context` tokens covering `count` tokens (the last may be
 * shorter); one window when the text fits. Windows of one token score nothing and are left out.
 */
export function tokenWindows(count: number, context: number): TokenWindow[] {
  if (!Number.isInteger(context) || context < 2) throw new Error(`context length must be an integer ≥ 2, received ${context}`);
  const windows: TokenWindow[] = [];
  for (let start = 0; start < count; start += context) {
    const length = Math.min(context, count - start);
    if (length >= 2) windows.push({ start, length });
  }
  return windows;
}

/**
 * Negative log-likelihood of each predicted token: position t of `logits` [batch, seq, vocab] predicts
 * `ids[:, t + 1]`. Returns `[batch · (seq − 1)]`, natural log.
 *
 * log Σ exp of a row is its maximum m minus the log of its largest softmax probability, which is
 * 1 / Σ exp(x − m): one softmax kernel (vectorised on wasm) instead of an elementwise exp, sum and log over
 * the whole vocabulary, and nothing copied out of the logits (the last position's row is reduced with the
 * others and its value dropped afterwards).
 */
export function nextTokenNll(logits: tf.Tensor3D, ids: tf.Tensor2D): tf.Tensor1D {
  return tf.tidy(() => {
    const [batch, length, vocab] = logits.shape;
    const rows = logits.reshape([batch * length, vocab]) as tf.Tensor2D;
    const scored = (x: tf.Tensor): tf.Tensor1D =>
      x
        .reshape([batch, length])
        .slice([0, 0], [batch, length - 1])
        .reshape([batch * (length - 1)]);
    const logSumExp = scored(rows.max(1).sub(tf.softmax(rows).max(1).log()));
    const targets = ids
      .slice([0, 1], [batch, length - 1])
      .reshape([batch * (length - 1)])
      .toInt();
    const rowStarts = scored(tf.range(0, batch * length, 1, 'int32').mul(tf.scalar(vocab, 'int32')));
    const picked = tf.gather(rows.reshape([batch * length * vocab]), rowStarts.add(targets));
    return logSumExp.sub(picked) as tf.Tensor1D;
  });
}

export interface PerplexityOptions {
  /** Window length; the model's context length by default. */
  contextLength?: number;
  /** Windows per forward pass (by default as many as keep the logits under ~4M values). */
  batchSize?: number;
  forward?: TransformerForwardOptions;
  /** Called after each batch with windows done and the total. */
  onProgress?(done: number, total: number): void;
  /** Checked before each batch; when true the job stops and returns what it has computed. */
  shouldStop?(): boolean;
}

export interface PerplexityResult {
  /** exp(mean NLL); NaN when nothing was scored. */
  perplexity: number;
  /** Mean negative log-likelihood per scored token (nats). */
  nll: number;
  /** Tokens scored (every token but the first of each window). */
  tokens: number;
  windows: number;
  /** True when `shouldStop` ended the job early: the numbers cover the windows done. */
  cancelled?: boolean;
}

const LOGITS_PER_BATCH = 4_000_000;

/** A batch of windows of one length, as one forward pass takes it: int32 ids `[windows, length]`, row-major. */
export interface PerplexityBatch {
  windows: number;
  length: number;
  ids: Int32Array;
}

/**
 * The forward passes of a perplexity evaluation: consecutive windows (`tokenWindows`) of equal length,
 * at most `perBatch` to a pass, in order.
 */
export function perplexityBatches(ids: ArrayLike<number>, context: number, perBatch: number): PerplexityBatch[] {
  const windows = tokenWindows(ids.length, context);
  const batches: PerplexityBatch[] = [];
  for (let done = 0; done < windows.length;) {
    const length = windows[done].length;
    const batch: TokenWindow[] = [];
    while (done + batch.length < windows.length && batch.length < perBatch && windows[done + batch.length].length === length) {
      batch.push(windows[done + batch.length]);
    }
    const values = new Int32Array(batch.length * length);
    batch.forEach((window, b) => {
      for (let t = 0; t < length; t++) values[b * length + t] = ids[window.start + t];
    });
    batches.push({ windows: batch.length, length, ids: values });
    done += batch.length;
  }
  return batches;
}

/** Float64 sums of next-token NLLs, batch after batch, in one order in every host. */
export class NllTotal {
  total = 0;
  tokens = 0;

  add(values: ArrayLike<number>): void {
    for (let i = 0; i < values.length; i++) this.total += values[i];
    this.tokens += values.length;
  }

  /** The mean NLL (NaN when nothing was scored) and its exp. */
  result(windows: number, cancelled: boolean): PerplexityResult {
    const mean = this.tokens === 0 ? NaN : this.total / this.tokens;
    const result: PerplexityResult = { perplexity: Math.exp(mean), nll: mean, tokens: this.tokens, windows };
    if (cancelled) result.cancelled = true;
    return result;
  }
}

/**
 * Perplexity of a token sequence (DESIGN §6): exp of the mean negative log-likelihood of every
 * predicted token, over consecutive non-overlapping windows of the context length, the first
 * token of each window not scored. Sums in float64.
 */
export async function perplexity(model: TransformerModel, ids: ArrayLike<number>, options: PerplexityOptions = {}): Promise<PerplexityResult> {
  const context = Math.min(options.contextLength ?? model.contextLength, model.contextLength);
  const perBatch = options.batchSize ?? Math.max(1, Math.floor(LOGITS_PER_BATCH / (context * model.config.vocabSize)));
  const batches = perplexityBatches(ids, context, perBatch);
  const total = batches.reduce((n, batch) => n + batch.windows, 0);
  const sums = new NllTotal();
  let done = 0;
  let cancelled = false;
  for (const batch of batches) {
    if (options.shouldStop?.()) {
      cancelled = true;
      break;
    }
    const input = tf.tensor2d(batch.ids, [batch.windows, batch.length], 'int32');
    const nll = tf.tidy(() => nextTokenNll(model.forward(input, options.forward), input));
    const data = await nll.data();
    tf.dispose([input, nll]);
    sums.add(data);
    done += batch.windows;
    options.onProgress?.(done, total);
    await yieldToEventLoop();
  }
  return sums.result(done, cancelled);
}
