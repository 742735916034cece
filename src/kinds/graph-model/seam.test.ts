import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyPlanKernels } from '../../core/pipeline/apply';
import type { Prunable } from '../../core/pipeline/prunable';
import { captureStats } from '../../core/pipeline/stats';
import { openModel } from '../../io/open';
import { fixtureFiles } from '../../io/test-support';
import { GraphModelPrunable } from './prunable';

let kind: GraphModelPrunable;
let start = 0;

beforeAll(async () => {
  await tf.setBackend('cpu');
  start = tf.memory().numTensors;
  kind = await GraphModelPrunable.create(await openModel(await fixtureFiles('graph-cnn')));
});

afterAll(() => {
  kind.dispose();
  expect(tf.memory().numTensors).toBe(start);
});

describe('the graph-model kind behind the pipeline', () => {
  it('is a Prunable', () => {
    const seam: Prunable = kind;
    expect(seam.kind).toBe('graph-model');
  });

  it('gives calibration statistics of every unit through captureStats', async () => {
    const batch = kind.syntheticBatch(4, 2);
    const stats = await captureStats(kind, [batch], new Set(kind.units().map((u) => u.name)), 'gram');
    batch.dispose();
    expect(Object.fromEntries([...stats].map(([unit, s]) => [unit, [s.samples, s.inputNormsSq.length, s.gram?.length ?? null, s.groups ?? null]]))).toEqual({
      'conv1/filter': [4 * 36, 18, 18 * 18, null],
      'conv2/filter': [4 * 36, 36, 36 * 36, null],
      'dw/filter': [4 * 36, 4 * 9, null, 4],
      'conv3/filter': [4 * 4, 36, 36 * 36, null],
      'fc/weights': [4, 12, 144, null],
    });
  });

  it('applies a Wanda plan to the convolutions with a removal, every kernel in its stored shape', async () => {
    const batch = kind.syntheticBatch(4, 5);
    const plan = {
      criterion: 'wanda' as const,
      granularity: 'unstructured' as const,
      allocation: 'uniform' as const,
      target: 0.5,
      sparsity: { 'conv1/filter': 0.5, 'conv2/filter': 0.5, 'conv3/filter': 0.5 },
      locked: [],
      removed: ['res'],
      seed: 0,
      dataHash: 'synthetic:0:4',
    };
    const result = await applyPlanKernels(kind, plan, [batch]);
    batch.dispose();
    expect([...result.kernels.keys()]).toEqual(['conv1/filter', 'conv2/filter', 'conv3/filter']);
    expect(result.sparsity['conv1/filter']).toBe(0.5);
    expect(result.kernels.get('conv3/filter')?.length).toBe(108);
    expect(result.skipped).toEqual([]);
  });
});
