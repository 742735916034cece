import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TransformerModel } from './model';
import { TRANSFORMER_FIXTURES, fixtureModel, relativeError } from './testing';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe.each(TRANSFORMER_FIXTURES)('%s', (name) => {
  let model: TransformerModel;
  let reference: Awaited<ReturnType<typeof fixtureModel>>['reference'];

  beforeAll(async () => {
    ({ model, reference } = await fixtureModel(name));
  });
  afterAll(() => model.dispose());

  it('reproduces the torch reference logits', () => {
    const before = tf.memory().numTensors;
    const ids = tf.tensor2d(reference.input_ids, undefined, 'int32');
    const logits = model.forward(ids);
    expect(logits.shape).toEqual([reference.input_ids.length, reference.input_ids[0].length, model.config.vocabSize]);
    expect(relativeError(logits.dataSync(), reference.logits.flat(2))).toBeLessThan(1e-4);
    tf.dispose([ids, logits]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('reproduces the torch logits with sublayers bypassed', () => {
    const before = tf.memory().numTensors;
    const ids = tf.tensor2d(reference.bypass.input_ids, undefined, 'int32');
    const logits = model.forward(ids, { bypass: new Set(reference.bypass.removed) });
    expect(relativeError(logits.dataSync(), reference.bypass.logits.flat(2))).toBeLessThan(1e-4);
    tf.dispose([ids, logits]);
    expect(tf.memory().numTensors).toBe(before);
  });
});
