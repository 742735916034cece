import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { AttentionMasks, causalAttention, MASKED, PER_HEAD_FROM, QUERY_BLOCK } from './attention';
import { ColumnBlocks, HEAD_BLOCK } from './head';
import { splitColumns, splitRows } from './rows';
import { seededValues as values } from './testing';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('splitRows and splitColumns', () => {
  it('give the row and column blocks in order, and leave no tensor behind', () => {
    const x = tf.tensor2d(values(7 * 6, 1), [7, 6]);
    const before = tf.memory().numTensors;
    const rows = splitRows(x, 7);
    expect(rows.map((r) => Array.from(r.dataSync()))).toEqual(Array.from({ length: 7 }, (_, i) => Array.from(x.dataSync().slice(i * 6, i * 6 + 6))));
    const columns = splitColumns(x, 3);
    const expected = tf.split(x, 3, 1);
    columns.forEach((c, i) => expect(c.arraySync()).toEqual(expected[i].arraySync()));
    tf.dispose([...rows, ...columns, ...expected]);
    expect(tf.memory().numTensors).toBe(before);
    expect(() => splitRows(x, 2)).toThrow(/cannot split 7 rows into 2/);
    x.dispose();
  });
});

describe('ColumnBlocks', () => {
  const rows = 2 * HEAD_BLOCK + 37;
  const width = 3;
  const matrix = values(rows * width, 2);

  it('holds a [vocab, d] matrix in blocks: reads it back, projects onto it and looks rows up exactly', () => {
    const blocks = ColumnBlocks.fromValues(matrix, rows, width);
    const before = tf.memory().numTensors;
    const back = blocks.matrix();
    expect(back.shape).toEqual([rows, width]);
    expect(back.dataSync()).toEqual(matrix);
    const ids = [0, rows - 1, HEAD_BLOCK, HEAD_BLOCK - 1, 5, 2 * HEAD_BLOCK + 3, 5];
    const looked = blocks.lookup(ids);
    expect(looked.arraySync()).toEqual(ids.map((id) => Array.from(matrix.slice(id * width, id * width + width))));
    const x = tf.tensor2d(values(4 * width, 3), [4, width]);
    const projected = blocks.project(x);
    const reference = tf.tidy(() => tf.matMul(x, tf.tensor2d(matrix, [rows, width]), false, true));
    expect(projected.shape).toEqual([4, rows]);
    expect(tf.tidy(() => projected.sub(reference).abs().max().dataSync()[0])).toBeLessThan(1e-6);
    tf.dispose([back, looked, x, projected, reference]);
    expect(tf.memory().numTensors).toBe(before);
    expect(() => blocks.lookup([rows])).toThrow(/outside the vocabulary/);
    blocks.dispose();
  });
});

/** Causal attention in plain loops, float64: one sequence, one head. */
function slowAttention(q: Float32Array, k: Float32Array, v: Float32Array, length: number, dim: number, window?: number): Float64Array {
  const out = new Float64Array(length * dim);
  for (let t = 0; t < length; t++) {
    const scores: number[] = [];
    for (let s = 0; s < length; s++) {
      let dot = 0;
      for (let c = 0; c < dim; c++) dot += q[t * dim + c] * k[s * dim + c];
      scores.push(s <= t && (window === undefined || s > t - window) ? dot : MASKED);
    }
    const top = Math.max(...scores);
    const weights = scores.map((x) => Math.exp(x - top));
    const total = weights.reduce((a, b) => a + b, 0);
    for (let s = 0; s < length; s++) for (let c = 0; c < dim; c++) out[t * dim + c] += (weights[s] / total) * v[s * dim + c];
  }
  return out;
}

describe('causalAttention', () => {
  it.each([
    ['per head, in query blocks', QUERY_BLOCK + 40, undefined],
    ['per head, with a sliding window', PER_HEAD_FROM + 6, 9],
    ['batched, short sequences', PER_HEAD_FROM - 1, undefined],
  ])('%s: equals the slow reference, grouped-query heads and several sequences included', (_, length, window) => {
    const [batch, heads, kvHeads, dim] = [2, 4, 2, 8];
    const head = (seed: number): Float32Array => values(batch * length * dim, seed);
    const q = Array.from({ length: heads }, (_, h) => head(10 + h));
    const k = Array.from({ length: kvHeads }, (_, g) => head(20 + g));
    const v = Array.from({ length: kvHeads }, (_, g) => head(30 + g));
    const before = tf.memory().numTensors;
    const masks = new AttentionMasks(length, window);
    const tensors = (xs: Float32Array[]): tf.Tensor2D[] => xs.map((x) => tf.tensor2d(x, [batch * length, dim]));
    const [qt, kt, vt] = [tensors(q), tensors(k), tensors(v)];
    const context = causalAttention(qt, kt, vt, masks, batch);
    expect(context.shape).toEqual([batch * length, heads * dim]);
    const got = context.dataSync();
    let worst = 0;
    for (let b = 0; b < batch; b++) {
      for (let h = 0; h < heads; h++) {
        const g = Math.floor(h / (heads / kvHeads));
        const part = (x: Float32Array): Float32Array => x.slice(b * length * dim, (b + 1) * length * dim);
        const expected = slowAttention(part(q[h]), part(k[g]), part(v[g]), length, dim, window);
        for (let t = 0; t < length; t++) {
          for (let c = 0; c < dim; c++) worst = Math.max(worst, Math.abs(got[(b * length + t) * heads * dim + h * dim + c] - expected[t * dim + c]));
        }
      }
    }
    expect(worst).toBeLessThan(1e-5);
    tf.dispose([...qt, ...kt, ...vt, context]);
    masks.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
