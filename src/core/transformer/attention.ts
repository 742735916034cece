import * as tf from '@tensorflow/tfjs';
import { splitRows } from './rows';

/** Added to the attention scores of masked positions; softmax turns it into an exact 0. */
export const MASKED = -1e9;

/** Sequences at least this long run attention as 2-D products per sequence and head. */
export const PER_HEAD_FROM = 64;
/** Queries scored together against the keys up to their last position (causal blocks). */
export const QUERY_BLOCK = 256;

/** A span of query positions and the additive mask `[end − start, end]` of its rows against keys `[0, end)`. */
interface QueryBlock {
  start: number;
  end: number;
  mask: tf.Tensor2D;
}

/** The additive masks of one sequence length, made once per pass and shared by every layer; `dispose` frees them. */
export class AttentionMasks {
  readonly blocks: QueryBlock[] = [];

  constructor(
    readonly length: number,
    readonly window?: number,
  ) {
    const size = length >= PER_HEAD_FROM ? QUERY_BLOCK : length;
    for (let start = 0; start < length; start += size) {
      const end = Math.min(start + size, length);
      this.blocks.push({ start, end, mask: causalMask(start, end, window) });
    }
  }

  dispose(): void {
    tf.dispose(this.blocks.map((b) => b.mask));
  }
}

/**
 * Additive mask `[end − start, end]`: row t − start is 0 where position t may see key s (s ≤ t, and
 * s > t − window), MASKED elsewhere. Filled in JS and uploaded once.
 */
export function causalMask(start: number, end: number, window?: number): tf.Tensor2D {
  const rows = end - start;
  const values = new Float32Array(rows * end).fill(MASKED);
  for (let t = start; t < end; t++) {
    const first = window === undefined ? 0 : Math.max(0, t - window + 1);
    values.fill(0, (t - start) * end + first, (t - start) * end + t + 1);
  }
  return tf.tensor2d(values, [rows, end], 'float32');
}

/**
 * Causal multi-head (grouped-query) attention over `batch` sequences. `queries` holds one tensor
 * `[batch·length, headDim]` per query head (already scaled by 1/√headDim), `keys` and `values` one per
 * key/value head; query head h reads key/value head ⌊h / (heads / kvHeads)⌋. Returns the context
 * `[batch·length, heads·headDim]`, heads side by side.
 *
 * Long sequences run as plain 2-D products, one per sequence and head (the product every backend runs
 * fastest; tfjs-wasm multiplies batched or transposed operands about ten times slower). Queries go in
 * blocks of QUERY_BLOCK positions that meet only the keys up to their last position: the later keys
 * are masked, so the softmax is the same. Short sequences run as one batched product.
 */
export function causalAttention(queries: tf.Tensor2D[], keys: tf.Tensor2D[], values: tf.Tensor2D[], masks: AttentionMasks, batch: number): tf.Tensor2D {
  return tf.tidy(() => (masks.length >= PER_HEAD_FROM ? perHeadAttention(queries, keys, values, masks, batch) : batchedAttention(queries, keys, values, masks, batch)));
}

function perHeadAttention(queries: tf.Tensor2D[], keys: tf.Tensor2D[], values: tf.Tensor2D[], masks: AttentionMasks, batch: number): tf.Tensor2D {
  const group = queries.length / keys.length;
  const headDim = queries[0].shape[1];
  const length = masks.length;
  const bySequence = (x: tf.Tensor2D): tf.Tensor2D[] => (batch === 1 ? [x] : splitRows(x, batch));
  const keysT = keys.map((k) => bySequence(k).map((part) => part.transpose()));
  const vals = values.map(bySequence);
  const context = queries.map((q, h) => {
    const parts: tf.Tensor2D[] = [];
    const g = Math.floor(h / group);
    for (const [b, query] of bySequence(q).entries()) {
      for (const { start, end, mask } of masks.blocks) {
        const rows = start === 0 && end === length ? query : query.slice([start, 0], [end - start, headDim]);
        const seen = end === length ? keysT[g][b] : keysT[g][b].slice([0, 0], [headDim, end]);
        const probabilities = tf.softmax(tf.matMul(rows, seen).add(mask));
        parts.push(tf.matMul(probabilities, end === length ? vals[g][b] : vals[g][b].slice([0, 0], [end, headDim])));
      }
    }
    return parts.length === 1 ? parts[0] : tf.concat(parts, 0);
  });
  return context.length === 1 ? context[0] : tf.concat(context, 1);
}

function batchedAttention(queries: tf.Tensor2D[], keys: tf.Tensor2D[], values: tf.Tensor2D[], masks: AttentionMasks, batch: number): tf.Tensor2D {
  const heads = queries.length;
  const kvHeads = keys.length;
  const group = heads / kvHeads;
  const headDim = queries[0].shape[1];
  const length = masks.length;
  // [count, batch·length, headDim] → [batch, count, length, headDim]
  const stacked = (xs: tf.Tensor2D[]): tf.Tensor4D => tf.stack(xs).reshape([xs.length, batch, length, headDim]).transpose([1, 0, 2, 3]);
  const q = stacked(queries).reshape([batch, kvHeads, group * length, headDim]);
  const scores = tf.matMul(q, stacked(keys), false, true).reshape([batch, kvHeads, group, length, length]);
  const probabilities = tf.softmax(scores.add(masks.blocks[0].mask)).reshape([batch, kvHeads, group * length, length]);
  return tf
    .matMul(probabilities, stacked(values))
    .reshape([batch, heads, length, headDim])
    .transpose([0, 2, 1, 3])
    .reshape([batch * length, heads * headDim]);
}
