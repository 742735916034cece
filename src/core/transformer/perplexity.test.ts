import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logSoftmaxRow } from '../metrics/rows';
import type { TransformerModel } from './model';
import { nextTokenNll, perplexity, tokenWindows } from './perplexity';
import { fixtureModel } from './testing';

describe('tokenWindows', () => {
  it('cuts consecutive non-overlapping windows, one when the text fits', () => {
    expect(tokenWindows(10, 4)).toEqual([
      { start: 0, length: 4 },
      { start: 4, length: 4 },
      { start: 8, length: 2 },
    ]);
    expect(tokenWindows(3, 4)).toEqual([{ start: 0, length: 3 }]);
    expect(tokenWindows(9, 4)).toEqual([
      { start: 0, length: 4 },
      { start: 4, length: 4 },
    ]);
    expect(tokenWindows(1, 4)).toEqual([]);
    expect(() => tokenWindows(5, 1)).toThrow('context length must be an integer ≥ 2');
  });
});

describe('nextTokenNll', () => {
  it('scores position t against token t + 1', () => {
    // vocab 2, logits [0, ln 3] → p = [1/4, 3/4]
    const logits = tf.tensor3d([
      [
        [0, Math.log(3)],
        [0, Math.log(3)],
        [0, 0],
      ],
    ]);
    const ids = tf.tensor2d([[0, 1, 0]], undefined, 'int32');
    const nll = nextTokenNll(logits, ids);
    expect(Array.from(nll.dataSync())).toEqual([expect.closeTo(-Math.log(3 / 4), 6), expect.closeTo(-Math.log(1 / 4), 6)]);
    tf.dispose([logits, ids, nll]);
  });
});

describe('perplexity', () => {
  let model: TransformerModel;
  const ids = Array.from({ length: 150 }, (_, i) => (i * 7 + 3) % 50);

  beforeAll(async () => {
    await tf.setBackend('cpu');
    ({ model } = await fixtureModel('hf-llama-tiny'));
  });
  afterAll(() => model.dispose());

  /** The same definition, computed window by window with a float64 log-softmax in JS. */
  function slowPerplexity(context: number): number {
    let total = 0;
    let count = 0;
    for (let start = 0; start < ids.length; start += context) {
      const window = ids.slice(start, start + context);
      if (window.length < 2) continue;
      const input = tf.tensor2d([window], undefined, 'int32');
      const logits = model.forward(input);
      const values = logits.dataSync() as Float32Array;
      const vocab = logits.shape[2];
      const row = new Float64Array(vocab);
      for (let t = 0; t + 1 < window.length; t++) {
        logSoftmaxRow(values, t * vocab, vocab, row);
        total -= row[window[t + 1]];
        count++;
      }
      tf.dispose([input, logits]);
    }
    return Math.exp(total / count);
  }

  it('is exp(mean NLL) over context-length windows, first token of each not scored', async () => {
    const before = tf.memory().numTensors;
    const result = await perplexity(model, ids);
    expect(result.windows).toBe(3);
    expect(result.tokens).toBe(149 - 2);
    expect(result.perplexity).toBeCloseTo(slowPerplexity(64), 4);
    expect(result.nll).toBeCloseTo(Math.log(result.perplexity), 10);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('does not depend on batching, and takes a shorter context', async () => {
    const one = await perplexity(model, ids, { batchSize: 1, contextLength: 20 });
    const many = await perplexity(model, ids, { batchSize: 5, contextLength: 20 });
    expect(one.windows).toBe(8);
    expect(many.perplexity).toBeCloseTo(one.perplexity, 5);
    expect(one.perplexity).toBeCloseTo(slowPerplexity(20), 4);
  });

  it('passes forward options on, reports progress and stops when asked', async () => {
    const progress: number[] = [];
    const bypassed = await perplexity(model, ids, { batchSize: 1, forward: { bypass: new Set(['model.layers.0.mlp']) }, onProgress: (done) => progress.push(done) });
    expect(progress).toEqual([1, 2, 3]);
    expect(bypassed.perplexity).not.toBeCloseTo((await perplexity(model, ids)).perplexity, 2);
    let calls = 0;
    const stopped = await perplexity(model, ids, { batchSize: 1, shouldStop: () => calls++ >= 1 });
    expect(stopped).toMatchObject({ cancelled: true, windows: 1, tokens: 63 });
    expect((await perplexity(model, [1])).perplexity).toBeNaN();
  });
});
