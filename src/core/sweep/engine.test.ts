import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Criterion } from '../criteria/types';
import { syntheticInputs } from '../data/synthetic';
import { evaluate, type EvalData } from '../evaluate';
import { PrunableModel } from '../model/runtime';
import { tinyFunctional } from '../model/testing';
import { filesFromPath } from '../../io/node-files';
import { openModel, splitDrop } from '../../io/open';
import { runNaiveSweep, runSweep, sweepGrid, type SweepCell, type SweepOptions } from './engine';

const DEMO = join(import.meta.dirname, '..', '..', '..', 'public', 'models', 'digits-cnn');

async function openDemo(): Promise<PrunableModel> {
  const { modelFiles } = await splitDrop(await filesFromPath(DEMO));
  return PrunableModel.fromArtifacts((await openModel(modelFiles)).artifacts);
}

/** The first `count` samples of the demo's held-out set. */
async function demoData(count: number): Promise<EvalData> {
  const json = JSON.parse(await readFile(join(DEMO, 'eval.json'), 'utf8')) as { inputs: number[]; shape: number[]; labels: number[] };
  const sampleSize = json.shape.slice(1).reduce((a, b) => a * b, 1);
  return {
    inputs: Float32Array.from(json.inputs.slice(0, count * sampleSize)),
    shape: [count, ...json.shape.slice(1)],
    labels: Int32Array.from(json.labels.slice(0, count)),
  };
}

/** Zeroes every weight: the metric of a cell is then the metric with that unit's kernel all zero. */
const zeroAll: Criterion = {
  key: 'magnitude',
  needs: 'none',
  supports: () => true,
  prune: ({ matrix }) => ({ values: new Float32Array(matrix.values.length), mask: new Uint8Array(matrix.values.length) }),
};

function filled(values: number[][]): number {
  return values.flat().filter((v) => !Number.isNaN(v)).length;
}

describe('runSweep on the digits-cnn demo', () => {
  let model: PrunableModel;
  let data: EvalData;
  let before = 0;
  beforeAll(async () => {
    before = tf.memory().numTensors;
    model = await openDemo();
    data = await demoData(256);
  });
  afterAll(() => {
    model.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('gives bit-identical values to one full forward pass per cell', async () => {
    const tensors = tf.memory().numTensors;
    const options: SweepOptions = { criterion: 'magnitude', granularity: 'unstructured', sparsities: [0, 0.5, 0.9], metric: 'loss', batchSize: 100 };
    const cells: SweepCell[] = [];
    const cached = await runSweep(model, data, { ...options, onCell: (cell) => cells.push(cell) });
    expect(tf.memory().numTensors).toBe(tensors);
    const naive = await runNaiveSweep(model, data, options);
    expect(cached.values).toEqual(naive.values);
    expect(cached.dense).toBe(naive.dense);
    expect(cached).toMatchObject({ layers: ['conv1', 'conv2', 'dense1', 'dense2'], sparsities: [0, 0.5, 0.9], cancelled: false, cells: 12, skipped: [] });
    expect(cells.map((c) => c.index)).toEqual([...Array(12).keys()]);
    expect(cells.slice(0, 3).map((c) => [c.unit, c.sparsity, c.total])).toEqual([
      ['conv1', 0, 12],
      ['conv1', 0.5, 12],
      ['conv1', 0.9, 12],
    ]);
    expect(cached.values.map((row) => row[0])).toEqual([cached.dense, cached.dense, cached.dense, cached.dense]);
    // Pruning 90% of a layer costs more than pruning half of it.
    for (const row of cached.values) expect(row[2]).toBeGreaterThan(row[1]);
    expect(tf.memory().numTensors).toBe(tensors);
  });

  it('uses calibration statistics the same way in both engines (wanda, js)', async () => {
    const options: SweepOptions = { criterion: 'wanda', granularity: '2:4', sparsities: [0.3], metric: 'js', units: ['conv2', 'dense1'], calibrationSamples: 64 };
    const cached = await runSweep(model, data, options);
    expect(cached.sparsities).toEqual([0, 0.5]);
    expect(cached.layers).toEqual(['conv2', 'dense1']);
    expect(cached.dense).toBe(0);
    expect(cached.values).toEqual((await runNaiveSweep(model, data, options)).values);
    for (const [dense, pruned] of cached.values) {
      expect(dense).toBe(0);
      expect(pruned).toBeGreaterThan(0);
    }
  });

  it('records the metric of the model with only that unit pruned', async () => {
    const result = await runSweep(model, data, { criterion: zeroAll, granularity: 'unstructured', sparsities: [1], metric: 'accuracy', units: ['dense1', 'conv2'] });
    for (const [row, unit] of result.layers.entries()) {
      const zero = tf.zeros(model.units().find((u) => u.name === unit)?.shape ?? []);
      const expected = await evaluate(model, data, { forward: { kernels: new Map([[unit, zero]]) }, latencyRuns: 0 });
      zero.dispose();
      expect(result.values[row][0]).toBe(expected.accuracy);
    }
    const dense = await evaluate(model, data, { latencyRuns: 0 });
    expect(result.dense).toBe(dense.accuracy);
  });

  it('stops after k cells, keeping those, and frees every tensor', async () => {
    const tensors = tf.memory().numTensors;
    let done = 0;
    const result = await runSweep(model, data, {
      criterion: 'magnitude',
      granularity: 'unstructured',
      sparsities: [0, 0.5, 0.9],
      metric: 'accuracy',
      onCell: () => done++,
      shouldStop: () => done >= 5,
    });
    expect(result.cancelled).toBe(true);
    expect(result.cells).toBe(5);
    expect(filled(result.values)).toBe(5);
    expect(result.values[1].map(Number.isNaN)).toEqual([false, false, true]);
    expect(tf.memory().numTensors).toBe(tensors);
  });

  it('stops between batches (dense pass, capture, a cell) and drops the unfinished cell', async () => {
    const tensors = tf.memory().numTensors;
    // 8 batches: checks 1–8 while capturing, 9–16 in the dense pass, 17 before the cell, 18–25 in the cell.
    for (const limit of [4, 12, 20]) {
      let checks = 0;
      const result = await runSweep(model, data, {
        criterion: 'magnitude',
        granularity: 'unstructured',
        sparsities: [0.5],
        metric: 'accuracy',
        batchSize: 32,
        shouldStop: () => ++checks > limit,
      });
      expect(result.cancelled).toBe(true);
      expect(checks).toBe(limit + 1);
      expect(filled(result.values)).toBe(0);
      expect(tf.memory().numTensors).toBe(tensors);
    }
  });

  it('rejects accuracy and loss without labels, and unknown units', async () => {
    const unlabelled = { inputs: data.inputs, shape: data.shape };
    await expect(runSweep(model, unlabelled, { criterion: 'magnitude', granularity: 'unstructured', sparsities: [0.5], metric: 'accuracy' })).rejects.toThrow(
      /accuracy metric needs labelled data/,
    );
    await expect(runSweep(model, data, { criterion: 'magnitude', granularity: 'unstructured', sparsities: [0.5], metric: 'js', units: ['pool1'] })).rejects.toThrow(
      /no prunable unit named pool1/,
    );
  });
});

describe('runSweep on a functional model with branches', () => {
  let model: PrunableModel;
  let data: EvalData;
  let before = 0;
  beforeAll(() => {
    before = tf.memory().numTensors;
    model = new PrunableModel(tinyFunctional());
    const { inputs, shape } = syntheticInputs(model.inputShape, 40, 4);
    data = { inputs, shape, labels: Int32Array.from({ length: 40 }, (_, i) => (i * 7) % 5) };
  });
  afterAll(() => {
    model.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('matches the naive sweep through residual adds, a nested model and a shared layer', async () => {
    const options: SweepOptions = { criterion: 'wanda', granularity: 'unstructured', sparsities: [0, 0.4, 0.8], metric: 'kl', batchSize: 16 };
    const cached = await runSweep(model, data, options);
    expect(cached.layers).toEqual(['conv', 'dw', 'sep/depthwise', 'sep/pointwise', 'shared', 'h1', 'h2', 'logits']);
    expect(cached.values).toEqual((await runNaiveSweep(model, data, options)).values);
    expect(filled(cached.values)).toBe(24);
    // One capture pass per layer instead of one for all: the same values.
    expect((await runSweep(model, data, { ...options, captureBudgetBytes: 1 })).values).toEqual(cached.values);
  });

  it('skips the units a criterion cannot prune, with the reason', async () => {
    const tensors = tf.memory().numTensors;
    const options: SweepOptions = { criterion: 'sparsegpt', granularity: 'unstructured', sparsities: [0, 0.5], metric: 'loss', batchSize: 16 };
    const cached = await runSweep(model, data, options);
    expect(cached.skipped.map((s) => s.unit)).toEqual(['dw', 'sep/depthwise']);
    expect(cached.skipped[0].reason).toMatch(/depthwise/);
    expect(cached.values[1]).toEqual([NaN, NaN]);
    expect(cached.cells).toBe(16);
    expect(cached.values).toEqual((await runNaiveSweep(model, data, options)).values);
    expect(tf.memory().numTensors).toBe(tensors);
  });

  it('is deterministic for a seed', async () => {
    const options: SweepOptions = { criterion: 'random', granularity: '4:8', sparsities: [], metric: 'js', seed: 3, units: ['sep/pointwise', 'shared'] };
    const first = await runSweep(model, data, options);
    expect(first.sparsities).toEqual([0, 0.5]);
    expect(await runSweep(model, data, options)).toEqual(first);
  });
});

describe('sweepGrid', () => {
  it('keeps the given grid, or [0, N/M] for N:M', () => {
    expect(sweepGrid('unstructured', [0, 0.25, 0.5])).toEqual([0, 0.25, 0.5]);
    expect(sweepGrid('2:4', [0.1, 0.9])).toEqual([0, 0.5]);
    expect(sweepGrid('4:8', [])).toEqual([0, 0.5]);
    expect(() => sweepGrid('channels', [0.5, 1.5])).toThrow(/\[0, 1\]/);
    expect(() => sweepGrid('unstructured', [])).toThrow(/empty/);
  });
});
