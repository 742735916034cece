import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { syntheticInputs } from '../data/synthetic';
import { PrunableModel } from '../model/runtime';
import { openModel } from '../../io/open';
import { fixtureFiles } from '../../io/test-support';
import { greedyRemoval } from './greedy';
import { forwardWithRemovals, layerRemovalCandidates } from './layer-removal';
import { layersModelTarget } from './layers-target';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

function maxDifference(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => a.sub(b).abs().max().dataSync()[0]);
}

async function functionalFixture(): Promise<PrunableModel> {
  return PrunableModel.fromArtifacts((await openModel(await fixtureFiles('functional'))).artifacts);
}

/** input → trunk → add([branch(trunk), trunk]) (skip second) → relu → dense → dropout → softmax. */
function skipSecondModel(): { model: PrunableModel; trunk: tf.layers.Layer; head: tf.layers.Layer[] } {
  const input = tf.input({ shape: [6], name: 'x' });
  const trunk = tf.layers.dense({ units: 8, name: 'trunk', kernelInitializer: tf.initializers.randomNormal({ seed: 1, stddev: 0.5 }) });
  const hidden = trunk.apply(input) as tf.SymbolicTensor;
  const b1 = tf.layers.dense({ units: 8, activation: 'relu', name: 'branch_in', kernelInitializer: tf.initializers.randomNormal({ seed: 2, stddev: 0.5 }) });
  const b2 = tf.layers.dense({ units: 8, name: 'branch_out', kernelInitializer: tf.initializers.randomNormal({ seed: 3, stddev: 0.5 }) });
  const branch = b2.apply(b1.apply(hidden)) as tf.SymbolicTensor;
  const joined = tf.layers.add({ name: 'join' }).apply([branch, hidden]) as tf.SymbolicTensor;
  const head = [
    tf.layers.activation({ activation: 'relu', name: 'relu' }),
    tf.layers.dense({ units: 4, name: 'classes', kernelInitializer: tf.initializers.randomNormal({ seed: 4, stddev: 0.5 }) }),
    tf.layers.dropout({ rate: 0.5, name: 'drop' }),
    tf.layers.activation({ activation: 'softmax', name: 'probabilities' }),
  ];
  const output = head.reduce((x, layer) => layer.apply(x) as tf.SymbolicTensor, joined);
  return { model: new PrunableModel(tf.model({ inputs: input, outputs: output, name: 'skip_second' })), trunk, head };
}

describe('layerRemovalCandidates', () => {
  it('lists residual branches (by their Add) and shape-preserving layers in execution order', async () => {
    const model = await functionalFixture();
    expect(layerRemovalCandidates(model)).toEqual([
      { kind: 'layer', name: 'stem_bn' },
      { kind: 'layer', name: 'stem_relu' },
      { kind: 'layer', name: 'branch_dw' },
      { kind: 'layer', name: 'branch_sep' },
      { kind: 'layer', name: 'branch_bn' },
      { kind: 'branch', name: 'residual_add', step: 7, skip: 0 },
    ]);
    model.dispose();
  });

  it('finds the skip path whichever Add input it is; leaves out dropout, the output softmax and shape-changing layers', () => {
    const { model } = skipSecondModel();
    expect(layerRemovalCandidates(model).map((c) => [c.name, c.kind, c.kind === 'branch' ? c.skip : -1])).toEqual([
      ['branch_in', 'layer', -1],
      ['branch_out', 'layer', -1],
      ['join', 'branch', 1],
      ['relu', 'layer', -1],
    ]);
    model.dispose();
  });

  it('gives an Add of two parallel paths (a projection shortcut) no branch candidate', () => {
    const input = tf.input({ shape: [4] });
    const left = tf.layers.dense({ units: 3, name: 'left' }).apply(input) as tf.SymbolicTensor;
    const right = tf.layers.dense({ units: 3, name: 'right' }).apply(input) as tf.SymbolicTensor;
    const sum = tf.layers.add({ name: 'sum' }).apply([left, right]) as tf.SymbolicTensor;
    const model = new PrunableModel(tf.model({ inputs: input, outputs: sum }));
    expect(layerRemovalCandidates(model)).toEqual([]);
    model.dispose();
  });
});

describe('forwardWithRemovals', () => {
  it('equals PrunableModel.forward with the same layers bypassed (the skip is the first Add input here)', async () => {
    const model = await functionalFixture();
    const { inputs, shape } = syntheticInputs(model.inputShape, 4, 0);
    const x = tf.tensor(inputs, shape);
    const before = tf.memory().numTensors;
    for (const removed of [[], ['stem_bn'], ['branch_sep', 'stem_relu'], ['residual_add'], ['residual_add', 'stem_bn']]) {
      const ours = forwardWithRemovals(model, x, new Set(removed));
      const theirs = model.forward(x, { bypass: new Set(removed) });
      expect(maxDifference(ours, theirs)).toBe(0);
      tf.dispose([ours, theirs]);
    }
    expect(tf.memory().numTensors).toBe(before);
    expect(() => forwardWithRemovals(model, x, new Set(['gap']))).toThrow(/cannot remove gap: not a removal candidate/);
    x.dispose();
    model.dispose();
  });

  it('removing a branch whose skip is the second Add input passes the skip value on, through forward({bypass}) too', () => {
    const { model, trunk, head } = skipSecondModel();
    const x = tf.tidy(() => tf.randomNormal([5, 6], 0, 1, 'float32', 7));
    const before = tf.memory().numTensors;
    const removed = forwardWithRemovals(model, x, new Set(['join']));
    const expected = tf.tidy(() => head.reduce((h, layer) => layer.apply(h) as tf.Tensor, trunk.apply(x) as tf.Tensor));
    expect(maxDifference(removed, expected)).toBeLessThan(1e-6);
    const dense = forwardWithRemovals(model, x, new Set());
    expect(maxDifference(dense, removed)).toBeGreaterThan(1e-3);
    const bypassed = model.forward(x, { bypass: new Set(['join']) });
    expect(maxDifference(bypassed, expected)).toBeLessThan(1e-6);
    tf.dispose([removed, expected, dense, bypassed]);
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
    model.dispose();
  });
});

describe('layersModelTarget', () => {
  it('gives log-probabilities for a softmax model, in batches, and runs the greedy search with stable tensor counts', async () => {
    const model = await functionalFixture();
    const data = syntheticInputs(model.inputShape, 5, 1);
    const target = layersModelTarget(model, data, { batchSize: 2 });
    expect(target.batches).toBe(3);
    const last = target.outputs(new Set(), 2);
    expect(last.shape).toEqual([1, 10]);
    expect(tf.tidy(() => last.exp().sum().dataSync()[0])).toBeCloseTo(1, 5);
    last.dispose();
    const before = tf.memory().numTensors;
    const result = await greedyRemoval(target, { metric: 'js' });
    expect(tf.memory().numTensors).toBe(before);
    expect(result.steps.map((s) => s.removed).sort()).toEqual(target.candidates().sort());
    expect(Object.keys(result.steps[0].scores)).toEqual(target.candidates());
    const whole = await greedyRemoval(layersModelTarget(model, data), { metric: 'js', steps: 1 });
    for (const [c, v] of Object.entries(whole.steps[0].scores)) expect(Math.abs(result.steps[0].scores[c] - v)).toBeLessThan(1e-6 + 1e-5 * v);
    expect(() => layersModelTarget(model, { inputs: new Float32Array(3), shape: [1, 16, 16, 3] })).toThrow(/has 3 values/);
    model.dispose();
  });
});
