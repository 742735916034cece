import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { disposeActivations, PrunableModel } from './runtime';
import { maxAbsDiff, tinyCnn, tinyFunctional } from './testing';

function kernelValues(model: PrunableModel, unit: string): Float32Array {
  const kernel = model.getKernel(unit);
  const values = kernel.dataSync() as Float32Array;
  kernel.dispose();
  return values.slice();
}

/** Opens a model before the tests of a block and checks after them that it freed every tensor. */
function useModel(build: () => tf.LayersModel, inputShape: number[]): { model: PrunableModel; x: tf.Tensor } {
  const fixture = {} as { model: PrunableModel; x: tf.Tensor };
  let before = 0;
  beforeAll(() => {
    before = tf.memory().numTensors;
    fixture.model = new PrunableModel(build());
    fixture.x = tf.randomUniform(inputShape, 0, 1, 'float32', 3);
  });
  afterAll(() => {
    fixture.model.dispose();
    fixture.x.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
  return fixture;
}

describe('PrunableModel on a Sequential CNN', () => {
  const fixture = useModel(tinyCnn, [4, 8, 8, 1]);
  let model: PrunableModel;
  let x: tf.Tensor;
  beforeAll(() => ({ model, x } = fixture));

  it('forward reproduces predict', () => {
    const before = tf.memory().numTensors;
    const expected = model.layersModel.predict(x) as tf.Tensor;
    const actual = model.forward(x);
    expect(actual.shape).toEqual([4, 3]);
    expect(maxAbsDiff(actual, expected)).toBeLessThanOrEqual(1e-6);
    tf.dispose([expected, actual]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('lists layers, shapes and units', () => {
    expect(model.layerNames()).toEqual(['c1', 'pool', 'c2', 'flat', 'd1', 'drop', 'd2', 'out']);
    expect(model.inputShape).toEqual([null, 8, 8, 1]);
    expect(model.outputShape).toEqual([null, 3]);
    expect(model.units().map((u) => [u.name, u.layer, u.weight, u.shape, u.size])).toEqual([
      ['c1', 'c1', 'c1/kernel', [3, 3, 1, 3], 27],
      ['c2', 'c2', 'c2/kernel', [2, 2, 3, 4], 48],
      ['d1', 'd1', 'd1/kernel', [16, 6], 96],
      ['d2', 'd2', 'd2/kernel', [6, 6], 36],
      ['out', 'out', 'out/kernel', [6, 3], 18],
    ]);
    expect(model.shapePreservingLayers()).toEqual(['drop', 'd2']);
    expect(model.outputIsProbability()).toBe(true);
  });

  it('bypass replaces a layer by its input', () => {
    const before = tf.memory().numTensors;
    const captured = model.captureInputs(x, ['d2']);
    const skipped = model.forwardFrom('out', captured.get('d2')!.inputs[0]);
    const bypassed = model.forward(x, { bypass: new Set(['d2']) });
    expect(maxAbsDiff(bypassed, skipped)).toBeLessThanOrEqual(1e-6);
    const dense = model.forward(x);
    expect(maxAbsDiff(bypassed, dense)).toBeGreaterThan(1e-4);
    tf.dispose([skipped, bypassed, dense]);
    disposeActivations(captured);
    expect(tf.memory().numTensors).toBe(before);
    expect(() => model.forward(x, { bypass: new Set(['c2']) })).toThrow(/cannot bypass c2/);
    expect(() => model.forward(x, { bypass: new Set(['nope']) })).toThrow(/no layer named nope/);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('substitute kernels act for one pass and leave the stored weights unchanged', () => {
    const stored = kernelValues(model, 'd1');
    const before = tf.memory().numTensors;
    const zeros = tf.zeros([16, 6]);
    const substituted = model.forward(x, { kernels: new Map([['d1', zeros]]) });
    expect(tf.memory().numTensors).toBe(before + 2);
    expect(kernelValues(model, 'd1')).toEqual(stored);

    // d1 = relu(0·x + b) is constant across samples, so all rows of the output are equal.
    const rows = substituted.arraySync() as number[][];
    for (const row of rows) rows[0].forEach((v, j) => expect(row[j]).toBeCloseTo(v, 6));

    model.setKernel('d1', new Float32Array(96));
    const stored0 = model.forward(x);
    expect(maxAbsDiff(stored0, substituted)).toBeLessThanOrEqual(1e-6);
    model.setKernel('d1', stored);
    expect(kernelValues(model, 'd1')).toEqual(stored);

    tf.dispose([zeros, substituted, stored0]);
    expect(tf.memory().numTensors).toBe(before);
    const wrong = tf.zeros([6, 16]);
    expect(() => model.forward(x, { kernels: new Map([['d1', wrong]]) })).toThrow(/kernel d1: expected float32 \[16, 6\]/);
    expect(() => model.forward(x, { kernels: new Map([['pool', wrong]]) })).toThrow(/no prunable unit named pool/);
    wrong.dispose();
    expect(kernelValues(model, 'd1')).toEqual(stored);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('forwardFrom a layer input equals the full forward in a chain', () => {
    const before = tf.memory().numTensors;
    const full = model.forward(x);
    const captured = model.captureInputs(x, ['c2', 'd1', 'out']);
    for (const name of ['c2', 'd1', 'out']) {
      const activations = captured.get(name)!;
      const fromTensor = model.forwardFrom(name, activations.inputs[0]);
      const fromCapture = model.forwardFrom(name, activations);
      expect(maxAbsDiff(fromTensor, full)).toBe(0);
      expect(maxAbsDiff(fromCapture, full)).toBe(0);
      tf.dispose([fromTensor, fromCapture]);
    }
    expect(captured.get('d1')!.inputs[0].shape).toEqual([4, 16]);
    tf.dispose(full);
    disposeActivations(captured);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('loads from artifacts', async () => {
    let artifacts: tf.io.ModelArtifacts | undefined;
    await model.layersModel.save(
      tf.io.withSaveHandler(async (saved) => {
        artifacts = saved;
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
      }),
    );
    const before = tf.memory().numTensors;
    const loaded = await PrunableModel.fromArtifacts(artifacts!);
    const a = loaded.forward(x);
    const b = model.forward(x);
    expect(maxAbsDiff(a, b)).toBe(0);
    expect(loaded.units().map((u) => u.name)).toEqual(model.units().map((u) => u.name));
    tf.dispose([a, b]);
    loaded.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('PrunableModel on a functional model', () => {
  const fixture = useModel(tinyFunctional, [3, 6, 6, 2]);
  let model: PrunableModel;
  let x: tf.Tensor;
  beforeAll(() => ({ model, x } = fixture));

  it('forward reproduces predict', () => {
    const before = tf.memory().numTensors;
    const expected = model.layersModel.predict(x) as tf.Tensor;
    const actual = model.forward(x);
    expect(actual.shape).toEqual([3, 5]);
    expect(maxAbsDiff(actual, expected)).toBeLessThanOrEqual(1e-6);
    tf.dispose([expected, actual]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('flattens the nested model and names units', () => {
    expect(model.layerNames()).toEqual(['pad', 'conv', 'bn', 'dw', 'res', 'sep', 'drop', 'cat', 'gap', 'shared', 'h1', 'h2', 'sum', 'logits']);
    expect(model.graph.steps.filter((s) => s.layer.name === 'shared')).toHaveLength(2);
    expect(model.units().map((u) => [u.name, u.weight, u.shape])).toEqual([
      ['conv', 'conv/kernel', [3, 3, 2, 4]],
      ['dw', 'dw/depthwise_kernel', [3, 3, 4, 1]],
      ['sep/depthwise', 'sep/depthwise_kernel', [3, 3, 4, 1]],
      ['sep/pointwise', 'sep/pointwise_kernel', [1, 1, 4, 4]],
      ['shared', 'shared/kernel', [8, 8]],
      ['h1', 'h1/kernel', [8, 8]],
      ['h2', 'h2/kernel', [8, 8]],
      ['logits', 'logits/kernel', [8, 5]],
    ]);
    expect(model.outputIsProbability()).toBe(false);
    expect(model.shapePreservingLayers()).toEqual(['bn', 'dw', 'res', 'sep', 'drop', 'shared', 'h1', 'h2', 'sum']);
  });

  it('bypassing BatchNorm equals an identity BatchNorm', () => {
    const before = tf.memory().numTensors;
    const bypassed = model.forward(x, { bypass: new Set(['bn']) });
    const bn = model.layersModel.getLayer('bn');
    // getWeights returns the live variables, not copies: clone before overwriting them.
    const original = bn.getWeights().map((w) => w.clone());
    const epsilon = bn.getConfig().epsilon as number;
    const identity = [tf.ones([4]), tf.zeros([4]), tf.zeros([4]), tf.fill([4], 1 - epsilon)];
    bn.setWeights(identity);
    const withIdentity = model.forward(x);
    bn.setWeights(original);
    expect(maxAbsDiff(bypassed, withIdentity)).toBeLessThanOrEqual(1e-5);
    const dense = model.forward(x);
    expect(maxAbsDiff(bypassed, dense)).toBeGreaterThan(1e-3);
    tf.dispose([bypassed, withIdentity, dense, ...original, ...identity]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('substitutes kernels inside the nested model and in separable convs', () => {
    const stored = kernelValues(model, 'sep/pointwise');
    const storedHead = kernelValues(model, 'h2');
    const before = tf.memory().numTensors;
    const pointwise = tf.zeros([1, 1, 4, 4]);
    const head = tf.zeros([8, 8]);
    const kernels = new Map([
      ['sep/pointwise', pointwise],
      ['h2', head],
    ]);
    const substituted = model.forward(x, { kernels });
    expect(kernelValues(model, 'sep/pointwise')).toEqual(stored);
    expect(kernelValues(model, 'h2')).toEqual(storedHead);

    model.setKernel('sep/pointwise', new Float32Array(16));
    model.setKernel('h2', new Float32Array(64));
    const viaStore = model.forward(x);
    model.setKernel('sep/pointwise', stored);
    model.setKernel('h2', storedHead);
    expect(maxAbsDiff(substituted, viaStore)).toBeLessThanOrEqual(1e-6);
    const dense = model.forward(x);
    expect(maxAbsDiff(substituted, dense)).toBeGreaterThan(1e-3);
    tf.dispose([pointwise, head, substituted, viaStore, dense]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('forwardFrom captured activations equals the full forward', () => {
    const before = tf.memory().numTensors;
    const names = model.layerNames();
    const full = model.forward(x);
    const captured = model.captureInputs(x, names);
    for (const name of names) {
      const out = model.forwardFrom(name, captured.get(name)!);
      expect(maxAbsDiff(out, full), name).toBe(0);
      out.dispose();
    }
    expect(captured.get('res')!.inputs.map((t) => t.shape)).toEqual([
      [3, 6, 6, 4],
      [3, 6, 6, 4],
    ]);
    expect(captured.get('dw')!.values.size).toBe(2);

    const kernels = new Map([['sep/depthwise', tf.zeros([3, 3, 4, 1])]]);
    const fromSep = model.forwardFrom('sep', captured.get('sep')!, { kernels });
    const fullSep = model.forward(x, { kernels });
    expect(maxAbsDiff(fromSep, fullSep)).toBe(0);

    expect(() => model.forwardFrom('dw', captured.get('dw')!.inputs[0])).toThrow(/use captureInputs/);
    expect(() => model.forwardFrom('sep', captured.get('dw')!)).toThrow(/captured before dw/);
    tf.dispose([full, fromSep, fullSep, ...kernels.values()]);
    disposeActivations(captured);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('PrunableModel on a two-input model', () => {
  it('feeds every input and resumes where a model input is still alive', () => {
    const before = tf.memory().numTensors;
    const a = tf.input({ shape: [4], name: 'a' });
    const b = tf.input({ shape: [3], name: 'b' });
    const hidden = tf.layers.dense({ units: 3, activation: 'tanh', name: 'fa' }).apply(a) as tf.SymbolicTensor;
    const joined = tf.layers.concatenate({ name: 'join' }).apply([hidden, b]) as tf.SymbolicTensor;
    const out = tf.layers.dense({ units: 2, name: 'head' }).apply(joined) as tf.SymbolicTensor;
    const model = new PrunableModel(tf.model({ inputs: [a, b], outputs: out }));
    const xa = tf.randomNormal([5, 4], 0, 1, 'float32', 1);
    const xb = tf.randomNormal([5, 3], 0, 1, 'float32', 2);
    const expected = model.layersModel.predict([xa, xb]) as tf.Tensor;
    const actual = model.forward([xa, xb]);
    expect(maxAbsDiff(actual, expected)).toBeLessThanOrEqual(1e-6);
    expect(() => model.forward(xa)).toThrow(/takes 2 inputs, received 1/);

    const captured = model.captureInputs([xa, xb], ['fa', 'head']);
    // before fa, input b is alive as well: resuming needs the capture, not fa's input alone
    expect(captured.get('fa')!.values.size).toBe(2);
    expect(() => model.forwardFrom('fa', xa)).toThrow(/use captureInputs/);
    const resumed = model.forwardFrom('fa', captured.get('fa')!);
    const fromHead = model.forwardFrom('head', captured.get('head')!.inputs[0]);
    expect(maxAbsDiff(resumed, expected)).toBe(0);
    expect(maxAbsDiff(fromHead, expected)).toBe(0);
    disposeActivations(captured);
    tf.dispose([xa, xb, expected, actual, resumed, fromHead]);
    model.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
