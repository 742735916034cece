import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { syntheticInputs } from './data/synthetic';
import { evaluate, predict, type EvalData } from './evaluate';
import { jsDivergence } from './metrics/divergence';
import { PrunableModel } from './model/runtime';
import { tinyCnn, tinyFunctional } from './model/testing';

/** Accuracy and cross-entropy computed with tfjs ops from `predict`, independently of the metrics module. */
function reference(model: tf.LayersModel, data: EvalData, fromLogits: boolean): { accuracy: number; loss: number; outputs: Float32Array } {
  return tf.tidy(() => {
    const y = model.predict(tf.tensor(data.inputs, [...data.shape])) as tf.Tensor2D;
    const labels = tf.tensor1d(data.labels!, 'int32');
    const logP = fromLogits ? tf.logSoftmax(y) : tf.log(tf.clipByValue(y, 1e-7, 1));
    const picked = tf.sum(tf.mul(logP, tf.oneHot(labels, y.shape[1])), 1);
    return {
      accuracy: tf.mean(tf.cast(tf.equal(tf.argMax(y, 1), labels), 'float32')).dataSync()[0],
      loss: -tf.mean(picked).dataSync()[0],
      outputs: y.dataSync() as Float32Array,
    };
  });
}

function labelled(inputShape: (number | null)[], samples: number, classes: number): EvalData {
  const { inputs, shape } = syntheticInputs(inputShape, samples, 1);
  return { inputs, shape, labels: Int32Array.from({ length: samples }, (_, i) => (i * 7) % classes) };
}

describe('evaluate and predict', () => {
  let cnn: PrunableModel;
  let functional: PrunableModel;
  let before: number;

  beforeAll(() => {
    before = tf.memory().numTensors;
    cnn = new PrunableModel(tinyCnn());
    functional = new PrunableModel(tinyFunctional());
  });
  afterAll(() => {
    cnn.dispose();
    functional.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('gives accuracy and loss on probabilities in batches', async () => {
    const data = labelled(cnn.inputShape, 10, 3);
    const expected = reference(cnn.layersModel, data, false);
    const progress: [number, number][] = [];
    const tensors = tf.memory().numTensors;
    const result = await evaluate(cnn, data, { batchSize: 4, onProgress: (done, total) => progress.push([done, total]) });
    expect(tf.memory().numTensors).toBe(tensors);
    expect(progress).toEqual([
      [4, 10],
      [8, 10],
      [10, 10],
    ]);
    expect(result.samples).toBe(10);
    expect(result.batchSize).toBe(4);
    expect(result.accuracy).toBeCloseTo(expected.accuracy, 6);
    expect(result.loss).toBeCloseTo(expected.loss, 5);
    expect(result.latencyMs).toBeGreaterThan(0);
    expect(result.divergence).toBeUndefined();
    expect(result.cancelled).toBeUndefined();
    const diff = result.outputs!.reduce((m, v, i) => Math.max(m, Math.abs(v - expected.outputs[i])), 0);
    expect(diff).toBeLessThanOrEqual(1e-6);
  });

  it('applies a log-softmax when the model outputs logits', async () => {
    const data = labelled(functional.inputShape, 9, 5);
    const expected = reference(functional.layersModel, data, true);
    const tensors = tf.memory().numTensors;
    const result = await evaluate(functional, data, { batchSize: 5 });
    expect(tf.memory().numTensors).toBe(tensors);
    expect(result.accuracy).toBeCloseTo(expected.accuracy, 6);
    expect(result.loss).toBeCloseTo(expected.loss, 5);
  });

  it('measures the JS divergence from a reference without labels', async () => {
    const { inputs, shape } = syntheticInputs(functional.inputShape, 7, 2);
    const data = { inputs, shape };
    const tensors = tf.memory().numTensors;
    const dense = await predict(functional, data, { batchSize: 3 });
    expect(dense).toHaveLength(7 * 5);
    expect((await evaluate(functional, data, { reference: dense, batchSize: 3 })).divergence).toBe(0);

    const kernels = new Map([['logits', tf.fill([8, 5], 0.1)]]);
    const pruned = await predict(functional, data, { forward: { kernels } });
    const result = await evaluate(functional, data, { reference: dense, forward: { kernels } });
    tf.dispose([...kernels.values()]);
    expect(result.divergence).toBeGreaterThan(0);
    expect(result.divergence).toBeCloseTo(jsDivergence(dense, pruned, 5, { fromLogits: true }), 9);
    expect(result.accuracy).toBeUndefined();
    expect(tf.memory().numTensors).toBe(tensors);
  });

  it('stops between batches and keeps what it computed', async () => {
    const data = labelled(cnn.inputShape, 10, 3);
    let batches = 0;
    const tensors = tf.memory().numTensors;
    const result = await evaluate(cnn, data, { batchSize: 4, onProgress: () => batches++, shouldStop: () => batches >= 1 });
    expect(result.cancelled).toBe(true);
    expect(result.samples).toBe(4);
    expect(result.outputs).toHaveLength(12);
    expect(result.latencyMs).toBeUndefined();
    const firstFour = reference(cnn.layersModel, { inputs: data.inputs.subarray(0, 256), shape: [4, 8, 8, 1], labels: data.labels!.subarray(0, 4) }, false);
    expect(result.accuracy).toBeCloseTo(firstFour.accuracy, 6);
    expect(await predict(cnn, data, { shouldStop: () => true })).toHaveLength(0);
    expect(tf.memory().numTensors).toBe(tensors);
  });

  it('rejects data that does not fit the model', async () => {
    const { inputs } = syntheticInputs([null, 4, 4, 1], 2, 0);
    await expect(evaluate(cnn, { inputs, shape: [2, 4, 4, 1] })).rejects.toThrow(/\[N, 4, 4, 1\] does not fit the model input \[N, 8, 8, 1\]/);
    await expect(predict(cnn, { inputs, shape: [1, 8, 8, 1] })).rejects.toThrow(/32 input values, shape \[1, 8, 8, 1\] needs 64/);
  });
});
