import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { fixtureModel } from '../transformer/testing';
import { blockInfluence, blockInfluenceOrder } from './block-influence';
import { REMOVAL_FIXTURE, removalReference } from './testing';
import { transformerTarget } from './transformer-target';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

function maxDifference(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => a.sub(b).abs().max().dataSync()[0]);
}

describe('transformerTarget', () => {
  it.each([REMOVAL_FIXTURE, 'hf-gpt2-tiny'])('%s: removing a sublayer equals zeroing its output projection weight and bias', async (name) => {
    const { model } = await fixtureModel(name);
    const windows = [
      [1, 5, 2, 7, 3, 9],
      [4, 4, 8, 0, 6, 1],
    ];
    const target = transformerTarget(model, windows);
    expect(target.candidates()).toEqual(model.removalCandidates());
    const before = tf.memory().numTensors;
    for (const candidate of target.candidates()) {
      const removed = target.outputs(new Set([candidate]));
      const { model: zeroed, payload } = await fixtureModel(name);
      const projection = zeroed
        .units()
        .filter((u) => u.name.startsWith(`${candidate}.`))
        .at(-1)!.name;
      for (const suffix of ['.weight', '.bias']) {
        const stored = payload.tensors.get(projection + suffix);
        if (stored !== undefined) zeroed.setParameter(projection + suffix, new Float32Array(stored.values.length));
      }
      const zeroedOutputs = transformerTarget(zeroed, windows).outputs(new Set());
      expect(removed.shape).toEqual([2, 6, model.config.vocabSize]);
      expect(maxDifference(removed, zeroedOutputs)).toBeLessThan(1e-6);
      zeroed.dispose();
      tf.dispose([removed, zeroedOutputs]);
    }
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });

  it('splits the windows into batches and checks them', async () => {
    const { model } = await fixtureModel(REMOVAL_FIXTURE);
    const target = transformerTarget(
      model,
      [
        [1, 2],
        [3, 4],
        [5, 6],
      ],
      { batchSize: 2 },
    );
    expect(target.batches).toBe(2);
    const last = target.outputs(new Set(), 1);
    expect(last.shape).toEqual([1, 2, model.config.vocabSize]);
    last.dispose();
    expect(() => target.outputs(new Set(), 2)).toThrow(/batch 2 does not exist/);
    expect(() => transformerTarget(model, [[1, 2], [3]])).toThrow(/equal lengths/);
    expect(() => transformerTarget(model, [[1, 99]])).toThrow(/token id 99 is outside the vocabulary \(0…30\)/);
    expect(() => transformerTarget(model, [])).toThrow(/at least one token window/);
    model.dispose();
  });
});

describe('blockInfluence', () => {
  it('matches the torch reference (ShortGPT: 1 − mean cos of the hidden states around each block)', async () => {
    const { model } = await fixtureModel(REMOVAL_FIXTURE);
    const reference = await removalReference();
    const before = tf.memory().numTensors;
    const influence = await blockInfluence(model, reference.windows);
    expect(tf.memory().numTensors).toBe(before);
    expect(influence.map((b) => b.block)).toEqual(reference.block_influence.map((b) => b.block));
    influence.forEach((b, i) => expect(Math.abs(b.influence - reference.block_influence[i].influence)).toBeLessThan(1e-5));
    const batched = await blockInfluence(model, reference.windows, { batchSize: 1 });
    batched.forEach((b, i) => expect(Math.abs(b.influence - influence[i].influence)).toBeLessThan(1e-6));
    expect(blockInfluenceOrder(influence)).toEqual(['model.layers.3', 'model.layers.2', 'model.layers.1', 'model.layers.0']);
    expect(
      blockInfluenceOrder([
        { block: 'a', influence: 0.5 },
        { block: 'b', influence: 0.2 },
        { block: 'c', influence: 0.2 },
      ]),
    ).toEqual(['b', 'c', 'a']);
    model.dispose();
  });

  it('names GPT-2 blocks transformer.h.i', async () => {
    const { model } = await fixtureModel('hf-gpt2-tiny');
    const influence = await blockInfluence(model, [[1, 2, 3, 4]]);
    expect(influence.map((b) => b.block)).toEqual(['transformer.h.0', 'transformer.h.1']);
    expect(influence.every((b) => b.influence > 0 && b.influence < 2)).toBe(true);
    model.dispose();
  });
});
