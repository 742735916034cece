import * as tf from '@tensorflow/tfjs';
import { afterEach, beforeAll } from 'vitest';
import { filesFromPath } from '../../io/node-files';
import { openModel, splitDrop } from '../../io/open';
import { PrunableModel } from '../model/runtime';
import { randomizeWeights } from '../model/testing';
import type { ShrinkResult } from './shrink';
import type { ChannelGroup } from './types';

/** Small models for the structure tests, built with tf.layers, seeded weights. Not used by the app. */

/**
 * Runs the tests of a file on the cpu backend and disposes, after each test, what it handed to the
 * returned `held`.
 */
export function heldPerTest(): <T extends { dispose(): void }>(item: T) => T {
  let open: { dispose(): void }[] = [];
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });
  afterEach(() => {
    for (const item of open) item.dispose();
    open = [];
  });
  return (item) => {
    open.push(item);
    return item;
  };
}

function seeded<T extends tf.LayersModel>(model: T, seed: number): T {
  randomizeWeights(model, seed);
  return model;
}

function sym(layer: tf.layers.Layer, input: tf.SymbolicTensor | tf.SymbolicTensor[]): tf.SymbolicTensor {
  return layer.apply(input) as tf.SymbolicTensor;
}

/** in 5 → d1 (8, relu) → d2 (6, relu) → out (3). */
export function denseChain(): tf.LayersModel {
  const model = tf.sequential({
    name: 'dense_chain',
    layers: [
      tf.layers.dense({ inputShape: [5], units: 8, activation: 'relu', name: 'd1' }),
      tf.layers.dense({ units: 6, activation: 'relu', name: 'd2' }),
      tf.layers.dense({ units: 3, name: 'out' }),
    ],
  });
  return seeded(model, 3);
}

/** c1 (6, same) → bn → relu → c2 (4, relu) → global average pooling → out (3). */
export function convBnConv(): tf.LayersModel {
  const model = tf.sequential({
    name: 'conv_bn_conv',
    layers: [
      tf.layers.conv2d({ inputShape: [6, 6, 2], filters: 6, kernelSize: 3, padding: 'same', name: 'c1' }),
      tf.layers.batchNormalization({ name: 'bn' }),
      tf.layers.reLU({ name: 'relu' }),
      tf.layers.conv2d({ filters: 4, kernelSize: 3, activation: 'relu', name: 'c2' }),
      tf.layers.globalAveragePooling2d({ name: 'gap' }),
      tf.layers.dense({ units: 3, name: 'out' }),
    ],
  });
  return seeded(model, 5);
}

/** conv (4, valid: 3×3×4) → flatten (36) → d1 (5, relu) → out (2). */
export function convFlattenDense(): tf.LayersModel {
  const model = tf.sequential({
    name: 'conv_flatten_dense',
    layers: [
      tf.layers.conv2d({ inputShape: [5, 5, 1], filters: 4, kernelSize: 3, activation: 'relu', name: 'conv' }),
      tf.layers.flatten({ name: 'flat' }),
      tf.layers.dense({ units: 5, activation: 'relu', name: 'd1' }),
      tf.layers.dense({ units: 2, name: 'out' }),
    ],
  });
  return seeded(model, 7);
}

/** stem (4, relu) → a (4, 3×3) and b (4, 1×1) → add → relu → c (5, relu) → gap → out (2). */
export function residualBlock(): tf.LayersModel {
  const input = tf.input({ shape: [6, 6, 3], name: 'image' });
  const stem = sym(tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', name: 'stem' }), input);
  const a = sym(tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', name: 'a' }), stem);
  const b = sym(tf.layers.conv2d({ filters: 4, kernelSize: 1, name: 'b' }), stem);
  const sum = sym(tf.layers.add({ name: 'add' }), [a, b]);
  const relu = sym(tf.layers.activation({ activation: 'relu', name: 'relu' }), sum);
  const c = sym(tf.layers.conv2d({ filters: 5, kernelSize: 3, activation: 'relu', name: 'c' }), relu);
  const pooled = sym(tf.layers.globalAveragePooling2d({ name: 'gap' }), c);
  const out = sym(tf.layers.dense({ units: 2, name: 'out' }), pooled);
  return seeded(tf.model({ inputs: input, outputs: out, name: 'residual' }), 9);
}

/** a (3) and b (5) → concat (8) → bn → flatten (4×4×8) → out (2). */
export function concatenated(): tf.LayersModel {
  const input = tf.input({ shape: [4, 4, 2], name: 'image' });
  const a = sym(tf.layers.conv2d({ filters: 3, kernelSize: 3, padding: 'same', activation: 'relu', name: 'a' }), input);
  const b = sym(tf.layers.conv2d({ filters: 5, kernelSize: 1, activation: 'relu', name: 'b' }), input);
  const joined = sym(tf.layers.concatenate({ name: 'cat' }), [a, b]);
  const norm = sym(tf.layers.batchNormalization({ name: 'bn' }), joined);
  const flat = sym(tf.layers.flatten({ name: 'flat' }), norm);
  const out = sym(tf.layers.dense({ units: 2, name: 'out' }), flat);
  return seeded(tf.model({ inputs: input, outputs: out, name: 'concatenated' }), 13);
}

/** c1 (4, relu) → sep (6, depth multiplier 2, relu) → dw (multiplier 1, relu) → gap → out (2). */
export function separable(): tf.LayersModel {
  const model = tf.sequential({
    name: 'separable',
    layers: [
      tf.layers.conv2d({ inputShape: [6, 6, 2], filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', name: 'c1' }),
      tf.layers.separableConv2d({ filters: 6, kernelSize: 3, depthMultiplier: 2, padding: 'same', activation: 'relu', name: 'sep' }),
      tf.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same', activation: 'relu', name: 'dw' }),
      tf.layers.globalAveragePooling2d({ name: 'gap' }),
      tf.layers.dense({ units: 2, name: 'out' }),
    ],
  });
  return seeded(model, 17);
}

/** c1 (3, relu) → dw (multiplier 2: 6 channels, relu) → gap → out (2). */
export function depthwiseMultiplier(): tf.LayersModel {
  const model = tf.sequential({
    name: 'depthwise_multiplier',
    layers: [
      tf.layers.conv2d({ inputShape: [5, 5, 2], filters: 3, kernelSize: 3, padding: 'same', activation: 'relu', name: 'c1' }),
      tf.layers.depthwiseConv2d({ kernelSize: 3, depthMultiplier: 2, padding: 'same', activation: 'relu', name: 'dw' }),
      tf.layers.globalAveragePooling2d({ name: 'gap' }),
      tf.layers.dense({ units: 2, name: 'out' }),
    ],
  });
  return seeded(model, 19);
}

export const DIGITS_DIR = decodeURIComponent(new URL('../../../public/models/digits-cnn/', import.meta.url).pathname);

/** The digits-cnn demo as the app opens it. */
export async function digitsCnn(): Promise<PrunableModel> {
  const { modelFiles } = await splitDrop(await filesFromPath(DIGITS_DIR));
  return PrunableModel.fromArtifacts((await openModel(modelFiles)).artifacts);
}

/** Row-major strides of a shape. */
function strides(shape: readonly number[]): number[] {
  const out = new Array<number>(shape.length).fill(1);
  for (let a = shape.length - 2; a >= 0; a--) out[a] = out[a + 1] * shape[a + 1];
  return out;
}

/**
 * Makes the channels that `keep` marks 0 dead: the producers' kernel columns and biases, and the
 * per-channel parameters on the way (BatchNorm beta and moving mean, depthwise kernels and biases)
 * are set to 0, so those channels carry zeros. Consumers' input slices are left as they are.
 */
export async function killChannels(model: PrunableModel, group: ChannelGroup, keep: Uint8Array): Promise<void> {
  const variables = new Map(model.layersModel.weights.map((w) => [w.originalName, w]));
  for (const slice of group.slices) {
    if (slice.role === 'input' || slice.weight.endsWith('moving_variance') || slice.weight.endsWith('gamma')) continue;
    const variable = variables.get(slice.weight);
    if (variable === undefined) throw new Error(`no weight ${slice.weight}`);
    const values = ((await variable.read().data()) as Float32Array).slice();
    const dead = new Set<number>();
    keep.forEach((k, j) => {
      if (k === 0) for (const index of slice.indices[j]) dead.add(index);
    });
    const stride = strides(slice.shape)[slice.axis];
    for (let i = 0; i < values.length; i++) {
      if (dead.has(Math.floor(i / stride) % slice.shape[slice.axis])) values[i] = 0;
    }
    const tensor = tf.tensor(values, slice.shape, 'float32');
    variable.write(tensor);
    tensor.dispose();
  }
}

/** Keeps channel j unless (j + offset) is even, never all of them removed. */
export function everyOtherChannel(channels: number, offset = 0): Uint8Array {
  const keep = Uint8Array.from({ length: channels }, (_, j) => ((j + offset) % 2 === 0 ? 0 : 1));
  if (keep.every((k) => k === 0)) keep[0] = 1;
  return keep;
}

/** The shrunk model as tfjs loads it: topology + weights as model artifacts. */
export async function loadShrunk(result: ShrinkResult): Promise<tf.LayersModel> {
  const entries = [...result.weights];
  const data = new Float32Array(entries.reduce((sum, [, w]) => sum + w.values.length, 0));
  let offset = 0;
  for (const [, weight] of entries) {
    data.set(weight.values, offset);
    offset += weight.values.length;
  }
  const artifacts: tf.io.ModelArtifacts = {
    modelTopology: result.topology as tf.io.ModelArtifacts['modelTopology'],
    weightSpecs: entries.map(([name, weight]) => ({ name, shape: weight.shape, dtype: 'float32' as const })),
    weightData: data.buffer,
  };
  return tf.loadLayersModel({ load: async () => artifacts });
}
