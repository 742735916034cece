import { readFile } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';

const MODEL_DIR = new URL('../../../public/models/digits-cnn/', import.meta.url);

interface DigitsDataset {
  inputs: number[];
  shape: number[];
  labels: number[];
}

interface TorchReference {
  samples: number;
  outputs: number[][];
  accuracy: number;
  loss: number;
}

async function readJson<T>(name: string): Promise<T> {
  return JSON.parse(await readFile(new URL(name, MODEL_DIR), 'utf8')) as T;
}

/** model.json plus its shards, concatenated in manifest order, as tfjs model artifacts. */
async function readArtifacts(): Promise<tf.io.ModelArtifacts> {
  const modelJson = await readJson<tf.io.ModelJSON>('model.json');
  const [group] = modelJson.weightsManifest;
  const shards = await Promise.all(group.paths.map((path) => readFile(new URL(path, MODEL_DIR))));
  return {
    modelTopology: modelJson.modelTopology,
    format: modelJson.format,
    generatedBy: modelJson.generatedBy,
    convertedBy: modelJson.convertedBy,
    weightSpecs: group.weights,
    weightData: new Uint8Array(Buffer.concat(shards)).buffer,
  };
}

function predictProbabilities(model: tf.LayersModel, dataset: DigitsDataset, count: number): tf.Tensor2D {
  const sampleSize = dataset.shape.slice(1).reduce((a, b) => a * b, 1);
  return tf.tidy(() => {
    const inputs = tf.tensor(dataset.inputs.slice(0, count * sampleSize), [count, ...dataset.shape.slice(1)]);
    return model.predict(inputs, { batchSize: 250 }) as tf.Tensor2D;
  });
}

describe('digits-cnn demo model', () => {
  it('reproduces the PyTorch outputs and held-out accuracy it was trained to', async () => {
    const [dataset, reference] = await Promise.all([readJson<DigitsDataset>('eval.json'), readJson<TorchReference>('reference.json')]);
    const tensorsBefore = tf.memory().numTensors;
    const model = await tf.loadLayersModel({ load: async () => readArtifacts() });

    const firstOutputs = predictProbabilities(model, dataset, reference.samples);
    const expected = tf.tensor2d(reference.outputs);
    const relativeError = tf.tidy(() => firstOutputs.sub(expected).abs().max().div(expected.abs().max()).dataSync()[0]);
    expect(relativeError).toBeLessThan(1e-4);

    const samples = dataset.shape[0];
    const allOutputs = predictProbabilities(model, dataset, samples);
    const predicted = tf.tidy(() => allOutputs.argMax(1).dataSync());
    const correct = dataset.labels.filter((label, i) => predicted[i] === label).length;
    const accuracy = correct / samples;
    expect(Math.abs(accuracy - reference.accuracy)).toBeLessThanOrEqual(1 / samples);
    expect(accuracy).toBeGreaterThanOrEqual(0.97);

    tf.dispose([firstOutputs, expected, allOutputs]);
    model.dispose();
    expect(tf.memory().numTensors).toBe(tensorsBefore);
  });
});
