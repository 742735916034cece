import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import type { ProjectionSpec } from './parameters';
import { StoredProjection, TILE, tileCount } from './projection';
import { splitColumns } from './rows';
import { seededValues as values } from './testing';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

function spec(inputs: number, outputs: number, conv1d: boolean): ProjectionSpec {
  return { unit: 'mlp.up', sublayer: 'mlp', inputs, outputs, bias: true, conv1d };
}

/** Row-major `[rows, cols]` → `[cols, rows]`. */
function transposed(x: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = x[r * cols + c];
  return out;
}

/** Whether two arrays hold the same values (without a deep comparison of millions of elements). */
function same(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function expectClose(actual: tf.Tensor, expected: tf.Tensor): void {
  expect(actual.shape).toEqual(expected.shape);
  const [a, e] = [actual.dataSync(), expected.dataSync()];
  let worst = 0;
  for (let i = 0; i < e.length; i++) worst = Math.max(worst, Math.abs(a[i] - e[i]));
  expect(worst).toBeLessThan(1e-3);
}

describe('tileCount', () => {
  it('cuts into the fewest equal tiles at most TILE wide, and leaves dimensions without such a cut whole', () => {
    expect(tileCount(TILE)).toBe(1);
    expect(tileCount(TILE / 2)).toBe(1);
    expect(tileCount(3 * TILE)).toBe(3);
    expect(tileCount((3 * TILE) / 2)).toBe(2);
    expect(tileCount((9 * TILE) / 4)).toBe(3);
    expect(tileCount(1031)).toBe(1); // a prime just above TILE
  });
});

describe('StoredProjection', () => {
  const inputs = (3 * TILE) / 2; // 2 row tiles
  const outputs = 2 * TILE; // 2 column tiles
  const kernelValues = values(inputs * outputs, 3);
  const biasValues = values(outputs, 4);

  it.each([
    ['kernel layout (Conv1D)', true],
    ['Linear layout', false],
  ])('%s: tiles give the whole product, whole or tile by tile, and the weights back', (_, conv1d) => {
    const before = tf.memory().numTensors;
    const kernel = tf.tensor2d(kernelValues, [inputs, outputs]);
    const weight = conv1d ? kernelValues : transposed(kernelValues, inputs, outputs);
    const projection = new StoredProjection(spec(inputs, outputs, conv1d), 1, weight, biasValues);
    expect([projection.inputTiles, projection.outputTiles]).toEqual([2, 2]);
    const x = tf.tensor2d(values(3 * inputs, 5), [3, inputs]);
    const expected = tf.tidy(() => x.matMul(kernel).add(tf.tensor1d(biasValues)) as tf.Tensor2D);

    const [whole] = projection.apply(x);
    expectClose(whole, expected);
    const expectedTiles = splitColumns(expected, 2);
    const [halves, thirds] = [splitColumns(x, 2), splitColumns(x, 3)];
    const byTiles = projection.applyTiles(halves);
    byTiles.forEach((t, i) => expectClose(t, expectedTiles[i]));
    const regrouped = projection.applyTiles(thirds);
    regrouped.forEach((t, i) => expectClose(t, expectedTiles[i]));

    const stored = projection.kernel();
    expect(same(stored.dataSync(), kernelValues)).toBe(true);
    const bias = projection.bias() as tf.Tensor1D;
    expect(Array.from(bias.dataSync())).toEqual(Array.from(biasValues));

    // A kernel for one call, and a stored replacement, give x times that kernel.
    const other = tf.tidy(() => kernel.mul(-2) as tf.Tensor2D);
    const otherExpected = tf.tidy(() => x.matMul(other).add(tf.tensor1d(biasValues)));
    const [once] = projection.apply(x, other);
    expectClose(once, otherExpected);
    projection.setKernel(other);
    const [replaced] = projection.apply(x);
    expectClose(replaced, otherExpected);
    const storedOther = projection.kernel();
    expect(same(storedOther.dataSync(), other.dataSync())).toBe(true);

    tf.dispose([kernel, x, expected, whole, ...halves, ...thirds, ...expectedTiles, ...byTiles, ...regrouped, stored, bias, other, otherExpected, once, replaced, storedOther]);
    projection.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('keeps one column block per head for the q/k/v projections', () => {
    const before = tf.memory().numTensors;
    const projection = new StoredProjection(spec(inputs, outputs, true), 4, kernelValues, biasValues);
    expect([projection.inputTiles, projection.outputTiles]).toEqual([1, 4]);
    const x = tf.tensor2d(values(2 * inputs, 6), [2, inputs]);
    const heads = projection.apply(x);
    const expected = tf.tidy(() => splitColumns(x.matMul(tf.tensor2d(kernelValues, [inputs, outputs])).add(tf.tensor1d(biasValues)) as tf.Tensor2D, 4));
    expect(heads).toHaveLength(4);
    heads.forEach((h, i) => expectClose(h, expected[i]));
    tf.dispose([x, ...heads, ...expected]);
    projection.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
