import { readFile } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { writeLayersModel } from '../../io/export';
import { inputFileFromBytes } from '../../io/input-file';
import { filesFromPath } from '../../io/node-files';
import { openModel, splitDrop } from '../../io/open';
import { PrunableModel } from '../model/runtime';
import { maxAbsDiff } from '../model/testing';
import { dependencyGroups } from './groups';
import { channelKeepMasks, shrinkModel } from './shrink';
import {
  concatenated,
  convBnConv,
  convFlattenDense,
  denseChain,
  depthwiseMultiplier,
  DIGITS_DIR,
  digitsCnn,
  everyOtherChannel,
  heldPerTest,
  killChannels,
  loadShrunk,
  residualBlock,
  separable,
} from './testing';
import { ShrinkError } from './topology';

const held = heldPerTest();

/** Seeded inputs in [0, 1) for a model's input shape. */
function inputsFor(model: PrunableModel, samples = 4): tf.Tensor {
  const shape = [samples, ...model.inputShape.slice(1).map((d) => d ?? 1)];
  return tf.randomUniform(shape, 0, 1, 'float32', 42);
}

/** Removes every other channel of every shrinkable group after making those channels dead. */
async function killAndShrink(model: PrunableModel): Promise<{ keep: Map<string, Uint8Array>; result: Awaited<ReturnType<typeof shrinkModel>> }> {
  const groups = dependencyGroups(model);
  const keep = new Map<string, Uint8Array>();
  groups.filter((g) => g.shrinkable).forEach((g, i) => keep.set(g.id, everyOtherChannel(g.channels, i)));
  for (const g of groups) {
    const mask = keep.get(g.id);
    if (mask !== undefined) await killChannels(model, g, mask);
  }
  return { keep, result: await shrinkModel(model, keep, { groups }) };
}

const builders: [string, () => tf.LayersModel][] = [
  ['Dense → Dense', denseChain],
  ['Conv → BN → ReLU → Conv', convBnConv],
  ['Conv → Flatten → Dense', convFlattenDense],
  ['a residual block (Add of two convs)', residualBlock],
  ['Concatenate → BN → Flatten → Dense', concatenated],
  ['SeparableConv2D → DepthwiseConv2D', separable],
  ['DepthwiseConv2D with multiplier 2', depthwiseMultiplier],
];

describe('shrinkModel', () => {
  for (const [title, build] of builders) {
    it(`${title}: dead channels removed, same outputs, fewer parameters`, async () => {
      const model = held(new PrunableModel(build()));
      const before = model.layersModel.countParams();
      const { keep, result } = await killAndShrink(model);
      expect(keep.size).toBeGreaterThan(0);
      const shrunk = held(await loadShrunk(result));
      expect(shrunk.countParams()).toBe(result.params);
      expect(result.params).toBeLessThan(before);
      const x = held(inputsFor(model));
      const expected = held(model.forward(x));
      const actual = held(shrunk.predict(x) as tf.Tensor);
      expect(actual.shape).toEqual(expected.shape);
      expect(maxAbsDiff(actual, expected)).toBeLessThanOrEqual(1e-5);
    });
  }

  it('the residual block: both convs of the Add lose the same filters', async () => {
    const model = held(new PrunableModel(residualBlock()));
    const keep = new Map([['a', Uint8Array.from([1, 0, 1, 0])]]);
    const result = await shrinkModel(model, keep);
    expect(result.sizes).toEqual({ a: 2, b: 2 });
    expect(result.removed).toEqual({ a: 2 });
    expect(result.weights.get('a/kernel')?.shape).toEqual([3, 3, 4, 2]);
    expect(result.weights.get('b/kernel')?.shape).toEqual([1, 1, 4, 2]);
    expect(result.weights.get('c/kernel')?.shape).toEqual([3, 3, 2, 5]);
    const original = (await model.getKernel('b').data()) as Float32Array;
    const b = result.weights.get('b/kernel')?.values;
    // b's kernel [1, 1, 4, 4] keeps output columns 0 and 2
    expect(Array.from(b ?? [])).toEqual([0, 1, 2, 3].flatMap((i) => [original[i * 4], original[i * 4 + 2]]));
  });

  it('slices the kernels it is given instead of the stored ones', async () => {
    const model = held(new PrunableModel(denseChain()));
    const kernel = Float32Array.from({ length: 5 * 8 }, (_, i) => i);
    const result = await shrinkModel(model, new Map([['d1', everyOtherChannel(8)]]), { kernels: new Map([['d1', kernel]]) });
    expect(Array.from(result.weights.get('d1/kernel')?.values ?? []).slice(0, 4)).toEqual([1, 3, 5, 7]);
  });

  it('updates a given topology (the source model.json’s) instead of its own', async () => {
    const model = held(await digitsCnn());
    const source = JSON.parse(await readFile(`${DIGITS_DIR}model.json`, 'utf8')) as { modelTopology: unknown };
    const result = await shrinkModel(model, new Map([['conv2', everyOtherChannel(32)]]), { topology: source.modelTopology });
    expect(JSON.stringify(result.topology)).toContain('"keras_version":"tfjs-layers 4.22.0"');
    expect(result.sizes).toEqual({ conv2: 16 });
  });

  it('refuses what it cannot do, naming the group', async () => {
    const model = held(new PrunableModel(denseChain()));
    await expect(shrinkModel(model, new Map([['out', Uint8Array.from([1, 0, 1])]]))).rejects.toThrow(/group out cannot shrink: feeds the model output/);
    await expect(shrinkModel(model, new Map([['d1', new Uint8Array(8)]]))).rejects.toThrow(ShrinkError);
    await expect(shrinkModel(model, new Map([['d1', new Uint8Array(3)]]))).rejects.toThrow(/3 entries, expected one per channel \(8\)/);
    await expect(shrinkModel(model, new Map([['nope', new Uint8Array(3)]]))).rejects.toThrow(/no channel group nope/);
    const untouched = await shrinkModel(model, new Map([['out', Uint8Array.from([1, 1, 1])]]));
    expect(untouched.params).toBe(model.layersModel.countParams());
  });

  it('leaves the tensor count unchanged', async () => {
    const model = held(new PrunableModel(residualBlock()));
    const before = tf.memory().numTensors;
    const groups = dependencyGroups(model);
    const keep = await channelKeepMasks(model, { sparsity: { a: 0.5, stem: 0.5, c: 0.5 } }, groups);
    await shrinkModel(model, keep, { groups });
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('the demo CNN through the export writer', () => {
  it('half of every group removed: exported, reopened, same outputs when those channels were dead', async () => {
    const { modelFiles } = await splitDrop(await filesFromPath(DIGITS_DIR));
    const source = await openModel(modelFiles);
    const model = held(await PrunableModel.fromArtifacts(source.artifacts));
    const groups = dependencyGroups(model);
    const units = model.units().map((u) => u.name);
    const keep = await channelKeepMasks(model, { sparsity: Object.fromEntries(units.map((u) => [u, 0.5])) }, groups);
    expect([...keep].map(([id, mask]) => [id, mask.length - mask.reduce((a, b) => a + b, 0)])).toEqual([
      ['conv1', 8],
      ['conv2', 16],
      ['dense1', 32],
    ]);
    for (const g of groups) {
      const mask = keep.get(g.id);
      if (mask !== undefined) await killChannels(model, g, mask);
    }
    const result = await shrinkModel(model, keep, { groups, topology: source.artifacts.modelTopology });
    // conv1 3·3·1·8+8, conv2 3·3·8·16+16, dense1 400·32+32, dense2 32·10+10
    expect(result.params).toBe(80 + 1168 + 12832 + 330);
    const { files } = writeLayersModel(source, result.weights, { topology: result.topology });
    const reopened = await openModel(files.map((file) => inputFileFromBytes(`digits-cnn/${file.path}`, file.bytes)));
    const shrunk = held(await PrunableModel.fromArtifacts(reopened.artifacts));
    expect(shrunk.layersModel.countParams()).toBe(result.params);
    const data = JSON.parse(await readFile(`${DIGITS_DIR}eval.json`, 'utf8')) as { inputs: number[] };
    const x = held(tf.tensor(data.inputs.slice(0, 64 * 784), [64, 28, 28, 1]));
    const expected = held(model.forward(x));
    const actual = held(shrunk.forward(x));
    expect(maxAbsDiff(actual, expected)).toBeLessThanOrEqual(1e-5);
  });
});
