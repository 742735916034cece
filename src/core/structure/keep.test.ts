import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { UnsupportedPruningError } from '../criteria/types';
import { PrunableModel } from '../model/runtime';
import { dependencyGroups } from './groups';
import { channelKeepMasks } from './keep';
import { heldPerTest } from './testing';

const held = heldPerTest();

function setKernel(model: tf.LayersModel, layer: string, rows: number[][]): void {
  const target = model.getLayer(layer);
  const kernel = tf.tensor2d(rows);
  const bias = tf.zeros([rows[0].length]);
  target.setWeights([kernel, bias]);
  tf.dispose([kernel, bias]);
}

/**
 * x (2) → d1 (4) → out (2), d1's kernel [in, out] = [[3, 0, 1, 0], [4, 0, 0, 2]]: the L2 norms of
 * its output channels are 5, 0, 1, 2.
 */
function oneHidden(
  kernel = [
    [3, 0, 1, 0],
    [4, 0, 0, 2],
  ],
): PrunableModel {
  const model = tf.sequential({
    layers: [tf.layers.dense({ inputShape: [2], units: 4, name: 'd1' }), tf.layers.dense({ units: 2, name: 'out' })],
  });
  setKernel(model, 'd1', kernel);
  return held(new PrunableModel(model));
}

/** x (2) → a (3), b (3) → add → out (2); channel norms a: 1, 2, 3 and b: 3, 0.5, 0. */
function coupledPair(): PrunableModel {
  const input = tf.input({ shape: [2] });
  const a = tf.layers.dense({ units: 3, name: 'a' }).apply(input) as tf.SymbolicTensor;
  const b = tf.layers.dense({ units: 3, name: 'b' }).apply(input) as tf.SymbolicTensor;
  const sum = tf.layers.add({ name: 'add' }).apply([a, b]) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: 2, name: 'out' }).apply(sum) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: out });
  setKernel(model, 'a', [
    [1, 2, 3],
    [0, 0, 0],
  ]);
  setKernel(model, 'b', [
    [0, 0.3, 0],
    [3, 0.4, 0],
  ]);
  return held(new PrunableModel(model));
}

describe('channelKeepMasks', () => {
  it('prunes the ⌊s·channels⌋ channels with the lowest row L2 norm', async () => {
    const model = oneHidden();
    const masks = await channelKeepMasks(model, { sparsity: { d1: 0.5 } });
    expect([...masks]).toEqual([['d1', Uint8Array.from([1, 0, 0, 1])]]);
    const quarter = await channelKeepMasks(model, { sparsity: { d1: 0.25 } });
    expect(quarter.get('d1')).toEqual(Uint8Array.from([1, 0, 1, 1]));
  });

  it('prunes the lower channel first when scores tie, and always keeps one', async () => {
    const model = oneHidden([
      [1, 1, 1, 1],
      [0, 0, 0, 0],
    ]);
    expect((await channelKeepMasks(model, { sparsity: { d1: 0.5 } })).get('d1')).toEqual(Uint8Array.from([0, 0, 1, 1]));
    expect((await channelKeepMasks(model, { sparsity: { d1: 1 } })).get('d1')).toEqual(Uint8Array.from([0, 0, 0, 1]));
  });

  it('scores a coupled group by the sum of its producers’ norms', async () => {
    const model = coupledPair();
    const groups = dependencyGroups(model);
    // sums 4, 2.5, 3: channel 1 goes, though a alone would drop 0 and b alone 2
    const masks = await channelKeepMasks(model, { sparsity: { a: 1 / 3 } }, groups);
    expect(masks.get('a')).toEqual(Uint8Array.from([1, 0, 1]));
  });

  it('takes the largest of the producers’ sparsities, or their mean', async () => {
    const model = coupledPair();
    const groups = dependencyGroups(model);
    const plan = { sparsity: { a: 0, b: 0.34 } };
    expect((await channelKeepMasks(model, plan, groups)).get('a')).toEqual(Uint8Array.from([1, 0, 1]));
    expect((await channelKeepMasks(model, plan, groups, { combine: 'mean' })).get('a')).toEqual(Uint8Array.from([1, 1, 1]));
  });

  it('wanda weighs each kernel row by the input norms', async () => {
    const model = oneHidden();
    const stats = new Map([['d1', { samples: 1, inputNormsSq: Float64Array.from([1, 0]) }]]);
    // scores 3, 0, 1, 0
    const masks = await channelKeepMasks(model, { sparsity: { d1: 0.5 }, criterion: 'wanda' }, undefined, { stats });
    expect(masks.get('d1')).toEqual(Uint8Array.from([1, 0, 1, 0]));
    await expect(channelKeepMasks(model, { sparsity: { d1: 0.5 }, criterion: 'wanda' })).rejects.toThrow(/calibration statistics for d1/);
  });

  it('random draws seeded scores: the same seed, the same channels', async () => {
    const model = oneHidden();
    const first = await channelKeepMasks(model, { sparsity: { d1: 0.5 }, criterion: 'random', seed: 3 });
    const again = await channelKeepMasks(model, { sparsity: { d1: 0.5 }, criterion: 'random', seed: 3 });
    expect(again.get('d1')).toEqual(first.get('d1'));
    expect(first.get('d1')?.reduce((a, b) => a + b, 0)).toBe(2);
  });

  it('scores the kernels it is given', async () => {
    const model = oneHidden();
    const kernels = new Map([['d1', Float32Array.from([0, 1, 2, 3, 0, 1, 2, 3])]]);
    expect((await channelKeepMasks(model, { sparsity: { d1: 0.5 } }, undefined, { kernels })).get('d1')).toEqual(Uint8Array.from([0, 0, 1, 1]));
  });

  it('leaves out groups that cannot shrink and refuses criteria without channel scores', async () => {
    const model = oneHidden();
    const masks = await channelKeepMasks(model, { sparsity: { d1: 0.5, out: 0.5 } });
    expect([...masks.keys()]).toEqual(['d1']);
    await expect(channelKeepMasks(model, { sparsity: {}, criterion: 'sparsegpt' })).rejects.toThrow(UnsupportedPruningError);
  });

  it('leaves the tensor count unchanged', async () => {
    const model = coupledPair();
    const before = tf.memory().numTensors;
    await channelKeepMasks(model, { sparsity: { a: 0.5 } });
    expect(tf.memory().numTensors).toBe(before);
  });
});
