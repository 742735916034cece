import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { PrunableModel } from '../model/runtime';
import { tinyFunctional } from '../model/testing';
import { dependencyGroups, groupsPreview } from './groups';
import { concatenated, convBnConv, convFlattenDense, denseChain, depthwiseMultiplier, digitsCnn, heldPerTest, residualBlock, separable } from './testing';
import type { ChannelGroup, ChannelSlice } from './types';

const held = heldPerTest();

function prunable(model: tf.LayersModel): PrunableModel {
  return held(new PrunableModel(model));
}

function group(groups: readonly ChannelGroup[], id: string): ChannelGroup {
  const found = groups.find((g) => g.id === id);
  if (found === undefined) throw new Error(`no group ${id} among ${groups.map((g) => g.id).join(', ')}`);
  return found;
}

function slice(g: ChannelGroup, weight: string, axis?: number): ChannelSlice {
  const found = g.slices.find((s) => s.weight === weight && (axis === undefined || s.axis === axis));
  if (found === undefined) throw new Error(`group ${g.id} has no slice of ${weight}: ${g.slices.map((s) => `${s.weight}[${s.axis}]`).join(', ')}`);
  return found;
}

const same = (n: number): number[][] => Array.from({ length: n }, (_, j) => [j]);

/** Builds a functional model from one block of layers on an input of `shape`. */
function functional(shape: number[], build: (input: tf.SymbolicTensor) => tf.SymbolicTensor): tf.LayersModel {
  const input = tf.input({ shape, name: 'x' });
  return tf.model({ inputs: input, outputs: build(input) });
}

function sym(layer: tf.layers.Layer, input: tf.SymbolicTensor | tf.SymbolicTensor[]): tf.SymbolicTensor {
  return layer.apply(input) as tf.SymbolicTensor;
}

describe('dependencyGroups', () => {
  it('Dense → Dense: a neuron takes its kernel column, its bias and the next kernel row', () => {
    const groups = dependencyGroups(prunable(denseChain()));
    expect(groups.map((g) => [g.id, g.channels, g.shrinkable])).toEqual([
      ['d1', 8, true],
      ['d2', 6, true],
      ['out', 3, false],
    ]);
    const d1 = group(groups, 'd1');
    expect(d1.slices.map((s) => [s.weight, s.axis, s.role])).toEqual([
      ['d1/kernel', 1, 'output'],
      ['d1/bias', 0, 'output'],
      ['d2/kernel', 0, 'input'],
    ]);
    expect(slice(d1, 'd2/kernel').indices).toEqual(same(8));
    expect(d1.consumers).toEqual(['d2']);
    expect(group(groups, 'out').reason).toMatch(/model output/);
  });

  it('Conv → BN → ReLU → Conv: BatchNorm vectors go with the first conv’s filters', () => {
    const c1 = group(dependencyGroups(prunable(convBnConv())), 'c1');
    expect(c1.shrinkable).toBe(true);
    expect(c1.slices.map((s) => `${s.weight}[${s.axis}] ${s.role}`)).toEqual([
      'c1/kernel[3] output',
      'c1/bias[0] output',
      'bn/gamma[0] channel',
      'bn/beta[0] channel',
      'bn/moving_mean[0] channel',
      'bn/moving_variance[0] channel',
      'c2/kernel[2] input',
    ]);
    expect(c1.consumers).toEqual(['bn', 'c2']);
  });

  it('Conv → Flatten → Dense: each filter owns H·W Dense rows, channels-last', () => {
    const conv = group(dependencyGroups(prunable(convFlattenDense())), 'conv');
    const rows = slice(conv, 'd1/kernel').indices;
    expect(rows).toHaveLength(4);
    expect(rows[1]).toEqual(Array.from({ length: 9 }, (_, p) => p * 4 + 1));
  });

  it('residual Add: both convs feeding it form one group, scored and cut together', () => {
    const groups = dependencyGroups(prunable(residualBlock()));
    expect(groups.map((g) => g.id)).toEqual(['stem', 'a', 'c', 'out']);
    const ab = group(groups, 'a');
    expect(ab.producers.map((p) => p.unit)).toEqual(['a', 'b']);
    expect(ab.couplings).toEqual(['add']);
    expect(ab.shrinkable).toBe(true);
    expect(slice(ab, 'c/kernel').indices).toEqual(same(4));
    expect(ab.slices.filter((s) => s.role === 'output').map((s) => s.weight)).toEqual(['a/kernel', 'a/bias', 'b/kernel', 'b/bias']);
    const stem = group(groups, 'stem');
    expect(stem.consumers).toEqual(['a', 'b']);
    expect(ab.description).toContain('coupled through add');
  });

  it('Concatenate along the channels maps each input by its offset', () => {
    const groups = dependencyGroups(prunable(concatenated()));
    const a = group(groups, 'a');
    const b = group(groups, 'b');
    expect(slice(a, 'bn/gamma').indices).toEqual(same(3));
    expect(slice(b, 'bn/gamma').indices).toEqual(same(5).map(([j]) => [3 + j]));
    expect(slice(b, 'out/kernel').indices[2]).toEqual(Array.from({ length: 16 }, (_, p) => p * 8 + 5));
  });

  it('Concatenate along another axis couples its inputs like Add', () => {
    const model = functional([4, 4, 2], (x) => {
      const a = sym(tf.layers.conv2d({ filters: 3, kernelSize: 1, name: 'a' }), x);
      const b = sym(tf.layers.conv2d({ filters: 3, kernelSize: 1, name: 'b' }), x);
      const joined = sym(tf.layers.concatenate({ axis: 1, name: 'rows' }), [a, b]);
      return sym(tf.layers.dense({ units: 2, name: 'out' }), sym(tf.layers.flatten({ name: 'flat' }), joined));
    });
    const ab = group(dependencyGroups(prunable(model)), 'a');
    expect(ab.producers.map((p) => p.unit)).toEqual(['a', 'b']);
    expect(ab.couplings).toEqual(['rows']);
    expect(ab.shrinkable).toBe(true);
  });

  it('SeparableConv2D: consumes through its depthwise and pointwise kernels, produces through the pointwise one', () => {
    const groups = dependencyGroups(prunable(separable()));
    expect(groups.map((g) => g.id)).toEqual(['c1', 'sep/pointwise', 'out']);
    const c1 = group(groups, 'c1');
    expect(slice(c1, 'sep/depthwise_kernel').indices).toEqual(same(4));
    expect(slice(c1, 'sep/pointwise_kernel', 2).indices).toEqual([
      [0, 1],
      [2, 3],
      [4, 5],
      [6, 7],
    ]);
    const sep = group(groups, 'sep/pointwise');
    expect(sep.slices.map((s) => `${s.weight}[${s.axis}] ${s.role}`)).toEqual([
      'sep/pointwise_kernel[3] output',
      'sep/bias[0] output',
      'dw/depthwise_kernel[2] channel',
      'dw/bias[0] channel',
      'out/kernel[0] input',
    ]);
  });

  it('DepthwiseConv2D with a multiplier: channel c owns outputs c·m … c·m + m − 1', () => {
    const c1 = group(dependencyGroups(prunable(depthwiseMultiplier())), 'c1');
    expect(slice(c1, 'dw/depthwise_kernel').indices).toEqual(same(3));
    expect(slice(c1, 'dw/bias').indices).toEqual([
      [0, 1],
      [2, 3],
      [4, 5],
    ]);
    expect(slice(c1, 'out/kernel').indices).toEqual([
      [0, 1],
      [2, 3],
      [4, 5],
    ]);
  });

  it('the demo CNN: conv1, conv2 and dense1 shrink, the softmax output does not', async () => {
    const model = held(await digitsCnn());
    const groups = dependencyGroups(model);
    expect(groups.map((g) => [g.id, g.channels, g.shrinkable])).toEqual([
      ['conv1', 16, true],
      ['conv2', 32, true],
      ['dense1', 64, true],
      ['dense2', 10, false],
    ]);
    expect(slice(group(groups, 'conv2'), 'dense1/kernel').indices[31]).toEqual(Array.from({ length: 25 }, (_, p) => p * 32 + 31));
    expect(group(groups, 'dense2').reason).toBe("Dense 'dense2' applies a softmax across its outputs; feeds the model output (from dense2)");
  });

  it('a nested model and a shared layer: coupled calls that pair different channels block the group', () => {
    const groups = dependencyGroups(prunable(tinyFunctional()));
    const conv = group(groups, 'conv');
    expect(conv.shrinkable).toBe(false);
    expect(conv.reason).toMatch(/shared pairs channels/);
    expect(group(groups, 'h1').shrinkable).toBe(true);
    expect(group(groups, 'shared').shrinkable).toBe(true);
    expect(group(groups, 'logits').reason).toMatch(/model output/);
  });

  describe('groups that cannot shrink say why', () => {
    const cases: [string, (x: tf.SymbolicTensor) => tf.SymbolicTensor, number[], string, RegExp][] = [
      [
        'a Reshape downstream',
        (x) =>
          sym(
            tf.layers.dense({ units: 2, name: 'out' }),
            sym(tf.layers.reshape({ targetShape: [16], name: 'r' }), sym(tf.layers.conv2d({ filters: 4, kernelSize: 1, name: 'conv' }), x)),
          ),
        [2, 2, 1],
        'conv',
        /Reshape 'r' reshapes its input/,
      ],
      [
        'a Conv2DTranspose downstream',
        (x) =>
          sym(
            tf.layers.dense({ units: 2, name: 'out' }),
            sym(
              tf.layers.flatten({}),
              sym(tf.layers.conv2dTranspose({ filters: 2, kernelSize: 2, name: 'up' }), sym(tf.layers.conv2d({ filters: 4, kernelSize: 1, name: 'conv' }), x)),
            ),
          ),
        [2, 2, 1],
        'conv',
        /Conv2DTranspose 'up' is a transposed convolution/,
      ],
      [
        'a Conv2DTranspose itself',
        (x) => sym(tf.layers.dense({ units: 2, name: 'out' }), sym(tf.layers.flatten({}), sym(tf.layers.conv2dTranspose({ filters: 2, kernelSize: 2, name: 'up' }), x))),
        [2, 2, 1],
        'up',
        /transposed convolution/,
      ],
      [
        'a LayerNormalization downstream',
        (x) => sym(tf.layers.dense({ units: 2, name: 'out' }), sym(tf.layers.layerNormalization({ name: 'ln' }), sym(tf.layers.dense({ units: 4, name: 'd' }), x))),
        [3],
        'd',
        /LayerNormalization 'ln' normalises across the channels/,
      ],
      [
        'a residual Add with the model input',
        (x) => sym(tf.layers.dense({ units: 2, name: 'out' }), sym(tf.layers.add({ name: 'skip' }), [x, sym(tf.layers.dense({ units: 3, name: 'd' }), x)])),
        [3],
        'd',
        /coupled to the model input 'x'/,
      ],
      [
        'a softmax across the channels',
        (x) => sym(tf.layers.dense({ units: 2, name: 'out' }), sym(tf.layers.dense({ units: 4, activation: 'softmax', name: 'd' }), x)),
        [3],
        'd',
        /softmax across its outputs/,
      ],
      [
        'an unknown layer downstream',
        (x) =>
          sym(
            tf.layers.dense({ units: 2, name: 'out' }),
            sym(tf.layers.flatten({}), sym(tf.layers.repeatVector({ n: 2, name: 'rep' }), sym(tf.layers.dense({ units: 4, name: 'd' }), x))),
          ),
        [3],
        'd',
        /RepeatVector 'rep' is not a layer whose channels can be followed/,
      ],
    ];
    for (const [title, build, shape, id, reason] of cases) {
      it(title, () => {
        const g = group(dependencyGroups(prunable(functional(shape, build))), id);
        expect(g.shrinkable).toBe(false);
        expect(g.reason).toMatch(reason);
        expect(g.description).toContain('cannot shrink');
      });
    }
  });

  it('leaves the tensor count unchanged', () => {
    const model = prunable(residualBlock());
    const before = tf.memory().numTensors;
    dependencyGroups(model);
    groupsPreview(model);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('groupsPreview', () => {
  it('is plain data with the parameters one channel takes away', () => {
    const preview = groupsPreview(prunable(convFlattenDense()));
    expect(JSON.parse(JSON.stringify(preview))).toEqual(preview);
    const conv = preview.find((g) => g.id === 'conv');
    // 3·3·1 kernel + 1 bias + 9 Dense rows of 5
    expect(conv?.paramsPerChannel).toBe(9 + 1 + 45);
    expect(conv?.weights).toEqual(['conv/kernel[3]', 'conv/bias[0]', 'd1/kernel[0]']);
    expect(conv?.producers).toEqual(['conv']);
  });
});
