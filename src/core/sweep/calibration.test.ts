import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { PrunableModel } from '../model/runtime';
import { randomizeWeights } from '../model/testing';
import { collectStats, unitLayoutOf } from './calibration';

interface Geometry {
  kernel: [number, number];
  strides: [number, number];
  dilations: [number, number];
  padding: 'valid' | 'same';
}

/** Start offset and output size of one spatial axis, as TensorFlow pads. */
function axis(size: number, k: number, stride: number, dilation: number, padding: 'valid' | 'same'): { out: number; before: number } {
  const span = (k - 1) * dilation + 1;
  if (padding === 'valid') return { out: Math.floor((size - span) / stride) + 1, before: 0 };
  const out = Math.ceil(size / stride);
  const total = Math.max((out - 1) * stride + span - size, 0);
  return { out, before: Math.floor(total / 2) };
}

/** Slow im2col of NHWC values: one row per output position, columns in (ky, kx, c) order. */
function im2col(x: Float32Array, [n, h, w, c]: number[], g: Geometry): number[][] {
  const ay = axis(h, g.kernel[0], g.strides[0], g.dilations[0], g.padding);
  const ax = axis(w, g.kernel[1], g.strides[1], g.dilations[1], g.padding);
  const rows: number[][] = [];
  for (let s = 0; s < n; s++) {
    for (let oy = 0; oy < ay.out; oy++) {
      for (let ox = 0; ox < ax.out; ox++) {
        const row: number[] = [];
        for (let ky = 0; ky < g.kernel[0]; ky++) {
          for (let kx = 0; kx < g.kernel[1]; kx++) {
            const y = oy * g.strides[0] + ky * g.dilations[0] - ay.before;
            const xx = ox * g.strides[1] + kx * g.dilations[1] - ax.before;
            for (let ch = 0; ch < c; ch++) {
              const inside = y >= 0 && y < h && xx >= 0 && xx < w;
              row.push(inside ? x[((s * h + y) * w + xx) * c + ch] : 0);
            }
          }
        }
        rows.push(row);
      }
    }
  }
  return rows;
}

function normsOf(rows: number[][]): number[] {
  return rows[0].map((_, j) => rows.reduce((sum, row) => sum + row[j] * row[j], 0));
}

function gramOf(rows: number[][]): number[] {
  const cols = rows[0].length;
  const gram: number[] = [];
  for (let i = 0; i < cols; i++) for (let j = 0; j < cols; j++) gram.push(rows.reduce((sum, row) => sum + row[i] * row[j], 0));
  return gram;
}

function expectClose(actual: ArrayLike<number>, expected: readonly number[]): void {
  expect(actual.length).toBe(expected.length);
  const scale = Math.max(1, ...expected.map(Math.abs));
  const worst = Math.max(...expected.map((v, i) => Math.abs(actual[i] - v)));
  expect(worst / scale).toBeLessThan(1e-5);
}

function seeded(shape: number[], seed: number): { tensor: tf.Tensor; values: Float32Array } {
  const tensor = tf.randomUniform(shape, -1, 1, 'float32', seed);
  return { tensor, values: tensor.dataSync() as Float32Array };
}

async function statsOfFirstLayer(
  layer: tf.layers.Layer,
  inputShape: number[],
  unit: string,
  needs: 'norms' | 'gram',
): Promise<{ stats: Awaited<ReturnType<typeof collectStats>>; values: Float32Array; model: PrunableModel }> {
  const model = new PrunableModel(tf.sequential({ layers: [tf.layers.inputLayer({ inputShape: inputShape.slice(1) }), layer] }));
  randomizeWeights(model.layersModel, 5);
  const { tensor, values } = seeded(inputShape, 9);
  const stats = await collectStats(model, unit, tensor, needs);
  tensor.dispose();
  return { stats, values, model };
}

describe('collectStats on convolutions', () => {
  const cases: { name: string; g: Geometry; shape: number[] }[] = [
    { name: 'valid padding, stride 1', g: { kernel: [3, 3], strides: [1, 1], dilations: [1, 1], padding: 'valid' }, shape: [2, 5, 6, 2] },
    { name: 'same padding, stride 1', g: { kernel: [3, 2], strides: [1, 1], dilations: [1, 1], padding: 'same' }, shape: [2, 5, 5, 3] },
    { name: 'same padding, stride 2', g: { kernel: [3, 3], strides: [2, 2], dilations: [1, 1], padding: 'same' }, shape: [3, 6, 7, 2] },
    { name: 'valid padding, stride 2', g: { kernel: [2, 3], strides: [2, 2], dilations: [1, 1], padding: 'valid' }, shape: [2, 7, 7, 2] },
    { name: 'same padding, dilation 2', g: { kernel: [3, 3], strides: [1, 1], dilations: [2, 2], padding: 'same' }, shape: [1, 6, 6, 2] },
  ];
  for (const { name, g, shape } of cases) {
    it(`gives Σ X² and XᵀX of the im2col patches (${name})`, async () => {
      const before = tf.memory().numTensors;
      const conv = tf.layers.conv2d({ filters: 4, kernelSize: g.kernel, strides: g.strides, dilationRate: g.dilations, padding: g.padding, name: 'conv' });
      const { stats, values, model } = await statsOfFirstLayer(conv, shape, 'conv', 'gram');
      const rows = im2col(values, shape, g);
      expect(stats.samples).toBe(rows.length);
      expect(stats.groups).toBeUndefined();
      expectClose(stats.inputNormsSq, normsOf(rows));
      expectClose(stats.gram ?? [], gramOf(rows));
      expect(stats.inputNormsSq).toBeInstanceOf(Float64Array);
      model.dispose();
      expect(tf.memory().numTensors).toBe(before);
    });
  }

  it('reads Conv1D inputs as one-row images', async () => {
    const conv = tf.layers.conv1d({ filters: 3, kernelSize: 3, strides: 2, padding: 'same', name: 'c1d' });
    const { stats, values, model } = await statsOfFirstLayer(conv, [2, 7, 2], 'c1d', 'gram');
    const rows = im2col(values, [2, 1, 7, 2], { kernel: [1, 3], strides: [1, 2], dilations: [1, 1], padding: 'same' });
    expectClose(stats.inputNormsSq, normsOf(rows));
    expectClose(stats.gram ?? [], gramOf(rows));
    model.dispose();
  });

  it('skips the Gram matrix when only norms are needed', async () => {
    const conv = tf.layers.conv2d({ filters: 2, kernelSize: 2, name: 'conv' });
    const { stats, model } = await statsOfFirstLayer(conv, [1, 3, 3, 1], 'conv', 'norms');
    expect(stats.gram).toBeUndefined();
    expect(stats.inputNormsSq).toHaveLength(4);
    model.dispose();
  });
});

describe('collectStats on Dense, depthwise and separable layers', () => {
  it('flattens Dense inputs of any rank to [rows, in]', async () => {
    const dense = tf.layers.dense({ units: 3, name: 'dense' });
    const { stats, values, model } = await statsOfFirstLayer(dense, [2, 3, 4], 'dense', 'gram');
    const rows = Array.from({ length: 6 }, (_, r) => Array.from(values.subarray(r * 4, r * 4 + 4)));
    expect(stats.samples).toBe(6);
    expectClose(stats.inputNormsSq, normsOf(rows));
    expectClose(stats.gram ?? [], gramOf(rows));
    model.dispose();
  });

  it('gives depthwise norms per channel, channel-major, without a Gram matrix', async () => {
    const g: Geometry = { kernel: [3, 3], strides: [2, 2], dilations: [1, 1], padding: 'same' };
    const dw = tf.layers.depthwiseConv2d({ kernelSize: 3, strides: 2, padding: 'same', depthMultiplier: 2, name: 'dw' });
    const shape = [2, 5, 5, 3];
    const { stats, values, model } = await statsOfFirstLayer(dw, shape, 'dw', 'gram');
    expect(unitLayoutOf(model, 'dw')).toEqual({ kind: 'depthwise', rows: 6, cols: 9, channels: 3 });
    const rows = im2col(values, shape, g);
    const norms = normsOf(rows); // (ky, kx, c) order
    const expected: number[] = [];
    for (let c = 0; c < 3; c++) for (let tap = 0; tap < 9; tap++) expected.push(norms[tap * 3 + c]);
    expect(stats.groups).toBe(3);
    expect(stats.gram).toBeUndefined();
    expect(stats.samples).toBe(rows.length);
    expectClose(stats.inputNormsSq, expected);
    model.dispose();
  });

  it('feeds a separable pointwise unit the depthwise output', async () => {
    const before = tf.memory().numTensors;
    const sep = tf.layers.separableConv2d({ filters: 4, kernelSize: 3, padding: 'valid', depthMultiplier: 2, name: 'sep' });
    const shape = [2, 5, 5, 2];
    const { stats, values, model } = await statsOfFirstLayer(sep, shape, 'sep/pointwise', 'gram');
    expect(unitLayoutOf(model, 'sep/pointwise')).toEqual({ kind: 'conv', rows: 4, cols: 4 });
    const kernel = model.getKernel('sep/depthwise');
    const k = kernel.dataSync(); // [3, 3, 2, 2]
    kernel.dispose();
    const patches = im2col(values, shape, { kernel: [3, 3], strides: [1, 1], dilations: [1, 1], padding: 'valid' });
    const rows = patches.map((patch) => {
      const out: number[] = [];
      for (let c = 0; c < 2; c++) {
        for (let m = 0; m < 2; m++) {
          let sum = 0;
          for (let tap = 0; tap < 9; tap++) sum += patch[tap * 2 + c] * k[(tap * 2 + c) * 2 + m];
          out.push(sum);
        }
      }
      return out;
    });
    expectClose(stats.inputNormsSq, normsOf(rows));
    expectClose(stats.gram ?? [], gramOf(rows));
    const zeros = tf.zeros(shape);
    const depthwiseStats = await collectStats(model, 'sep/depthwise', zeros, 'norms');
    zeros.dispose();
    expect(depthwiseStats.groups).toBe(2);
    expect(Array.from(depthwiseStats.inputNormsSq)).toEqual(new Array(18).fill(0));
    model.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('sums large inputs in slices of samples', async () => {
    const dense = tf.layers.dense({ units: 2, name: 'dense' });
    const { stats, values, model } = await statsOfFirstLayer(dense, [4100, 1100], 'dense', 'norms');
    const expected = new Array<number>(1100).fill(0);
    for (let r = 0; r < 4100; r++) for (let j = 0; j < 1100; j++) expected[j] += values[r * 1100 + j] ** 2;
    expect(stats.samples).toBe(4100);
    expectClose(stats.inputNormsSq, expected);
    model.dispose();
  });
});
