import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { densePlan, type PruningPlan } from '../../core/plan';
import { filesFromPath } from '../../io/node-files';
import { openModel } from '../../io/open';
import { recipeFromPlan } from '../../io/recipe';
import type { OpenedModel } from '../../io/types';
import type { KindModel } from '../kind';
import { cutChannels, shrunkTopology } from './channel-shrink';
import { GRAPH_MODEL_KIND, GraphKindModel } from './kind';
import { b64, constant, convAttrs, loadExport, openTestGraph, placeholder, seededValues, T, type TestNode, type TestWeight } from './testing';
import { writeGraphModel } from './writer';

const CNN = join(import.meta.dirname, '..', '..', '..', 'e2e', 'fixtures', 'graph-cnn');

beforeAll(async () => {
  await tf.setBackend('cpu');
});

function fused(ops: string[], args: number): Record<string, unknown> {
  return { fused_ops: { list: { s: ops.map(b64) } }, num_args: { i: String(args) }, epsilon: { f: 0 }, leakyrelu_alpha: { f: 0.2 } };
}

/**
 * image [-1, 6, 6, 3] → c1 (_FusedConv2D BiasAdd+Relu, 6) → dw (FusedDepthwiseConv2dNative BiasAdd) → c2 (Conv2D, 6);
 * res = c1 + c2 → c3 (Conv2D, 4) → bn (FusedBatchNormV3) → Relu6; res → c4 (Conv2D, 5) → × per-channel scale;
 * ConcatV2 on channels → Mean over H, W → fc (_FusedMatMul BiasAdd+Relu, 8) → fc2 (MatMul transpose_b, 5) → Softmax `probs`;
 * c3's output also feeds a Reshape `flat` (a second output).
 */
function channelGraph(withReshape: boolean): { nodes: TestNode[]; weights: TestWeight[] } {
  const weights: TestWeight[] = [
    { name: 'c1/filter', shape: [3, 3, 3, 6], values: seededValues(11, 162, 0.5) },
    { name: 'c1/bias', shape: [6], values: seededValues(12, 6, 0.2) },
    { name: 'dw/filter', shape: [3, 3, 6, 1], values: seededValues(13, 54, 0.5) },
    { name: 'dw/bias', shape: [6], values: seededValues(14, 6, 0.2) },
    { name: 'c2/filter', shape: [1, 1, 6, 6], values: seededValues(15, 36, 0.5) },
    { name: 'c3/filter', shape: [3, 3, 6, 4], values: seededValues(16, 216, 0.3) },
    { name: 'bn/scale', shape: [4], values: seededValues(17, 4, 1).map((v) => 1 + v / 2) },
    { name: 'bn/offset', shape: [4], values: seededValues(18, 4, 0.3) },
    { name: 'bn/mean', shape: [4], values: seededValues(19, 4, 0.3) },
    { name: 'bn/variance', shape: [4], values: seededValues(20, 4, 0.5).map((v) => 1 + Math.abs(v)) },
    { name: 'c4/filter', shape: [1, 1, 6, 5], values: seededValues(21, 30, 0.5) },
    { name: 'scale/y', shape: [5], values: seededValues(22, 5, 1) },
    { name: 'pool/axes', shape: [2], values: [1, 2], dtype: 'int32' },
    { name: 'concat/axis', shape: [], values: [-1], dtype: 'int32' },
    { name: 'fc/weights', shape: [9, 8], values: seededValues(23, 72, 0.5) },
    { name: 'fc/bias', shape: [8], values: seededValues(24, 8, 0.2) },
    { name: 'fc2/weights', shape: [5, 8], values: seededValues(25, 40, 0.5) },
    ...(withReshape ? [{ name: 'flat/shape', shape: [2], values: [-1, 144], dtype: 'int32' as const }] : []),
  ];
  const nodes: TestNode[] = [
    placeholder('image', [-1, 6, 6, 3]),
    ...weights.map((w) => constant(w.name, w.shape, w.dtype === 'int32' ? 'DT_INT32' : 'DT_FLOAT')),
    { name: 'c1', op: '_FusedConv2D', input: ['image', 'c1/filter', 'c1/bias'], attr: convAttrs([1, 1, 1, 1], 'SAME', fused(['BiasAdd', 'Relu'], 1)) },
    { name: 'dw', op: 'FusedDepthwiseConv2dNative', input: ['c1', 'dw/filter', 'dw/bias'], attr: convAttrs([1, 1, 1, 1], 'SAME', fused(['BiasAdd'], 1)) },
    { name: 'c2', op: 'Conv2D', input: ['dw', 'c2/filter'], attr: convAttrs([1, 1, 1, 1], 'SAME') },
    { name: 'res', op: 'AddV2', input: ['c1', 'c2'], attr: T },
    { name: 'c3', op: 'Conv2D', input: ['res', 'c3/filter'], attr: convAttrs([1, 1, 1, 1], 'SAME') },
    {
      name: 'bn',
      op: 'FusedBatchNormV3',
      input: ['c3', 'bn/scale', 'bn/offset', 'bn/mean', 'bn/variance'],
      attr: { ...T, U: { type: 'DT_FLOAT' }, epsilon: { f: 0.001 }, data_format: { s: b64('NHWC') }, is_training: { b: false } },
    },
    { name: 'act', op: 'Relu6', input: ['bn'], attr: T },
    { name: 'c4', op: 'Conv2D', input: ['res', 'c4/filter'], attr: convAttrs([1, 1, 1, 1], 'SAME') },
    { name: 'scale', op: 'Mul', input: ['c4', 'scale/y'], attr: T },
    { name: 'concat', op: 'ConcatV2', input: ['act', 'scale', 'concat/axis'], attr: { ...T, N: { i: '2' }, Tidx: { type: 'DT_INT32' } } },
    { name: 'pool', op: 'Mean', input: ['concat', 'pool/axes'], attr: { ...T, Tidx: { type: 'DT_INT32' }, keep_dims: { b: false } } },
    {
      name: 'fc',
      op: '_FusedMatMul',
      input: ['pool', 'fc/weights', 'fc/bias'],
      attr: { ...T, transpose_a: { b: false }, transpose_b: { b: false }, ...fused(['BiasAdd', 'Relu'], 1) },
    },
    { name: 'fc2', op: 'MatMul', input: ['fc', 'fc2/weights'], attr: { ...T, transpose_a: { b: false }, transpose_b: { b: true } } },
    { name: 'probs', op: 'Softmax', input: ['fc2'], attr: T },
    ...(withReshape ? [{ name: 'flat', op: 'Reshape', input: ['c3', 'flat/shape'], attr: { ...T, Tshape: { type: 'DT_INT32' } } }] : []),
  ];
  return { nodes, weights };
}

async function openChannelGraph(withReshape = false): Promise<OpenedModel> {
  const { nodes, weights } = channelGraph(withReshape);
  const outputs = withReshape ? ['probs', 'flat'] : ['probs'];
  return openTestGraph(nodes, weights, {
    signature: {
      inputs: { image: { name: 'image:0', dtype: 'DT_FLOAT', tensorShape: { dim: [-1, 6, 6, 3].map((d) => ({ size: String(d) })) } } },
      outputs: Object.fromEntries(outputs.map((o) => [o, { name: `${o}:0`, dtype: 'DT_FLOAT' }])),
    },
  });
}

function planFor(kind: KindModel, changes: Partial<PruningPlan>): PruningPlan {
  return {
    ...densePlan(
      kind.prunable.units().map((u) => u.name),
      'synthetic:0:8',
    ),
    granularity: 'channels',
    ...changes,
  };
}

function uniform(kind: KindModel, s: number): Record<string, number> {
  return Object.fromEntries(kind.prunable.units().map((u) => [u.name, s]));
}

/** Outputs of exported files run by stock tfjs on `input`, flat. */
async function stockOutputs(files: Parameters<typeof loadExport>[0], input: tf.Tensor, outputs: string[]): Promise<Float32Array[]> {
  const model = await loadExport(files);
  try {
    const out = model.execute({ image: input }, outputs);
    const list = Array.isArray(out) ? out : [out];
    const values = await Promise.all(list.map(async (t) => (await t.data()) as Float32Array));
    tf.dispose(list);
    return values;
  } finally {
    model.dispose();
  }
}

function worstDifference(a: readonly Float32Array[], b: readonly Float32Array[]): number {
  expect(a.map((x) => x.length)).toEqual(b.map((x) => x.length));
  let worst = 0;
  a.forEach((x, k) => x.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - b[k][i])))));
  return worst;
}

describe('GraphModel channel groups', () => {
  it('graph-cnn: conv1 shrinks into conv2, conv3 through the flatten into fc; the others reach an output, which they name', async () => {
    const opened = await openModel((await filesFromPath(CNN)).filter((f) => !f.path.endsWith('expected.json')));
    const kind = await GRAPH_MODEL_KIND.open(opened);
    try {
      const groups = kind.channels?.groups() ?? [];
      expect(groups.map((g) => [g.id, g.channels, g.shrinkable])).toEqual([
        ['conv1/filter', 4, true],
        ['conv2/filter', 4, false],
        ['conv3/filter', 3, true],
        ['fc/weights', 5, false],
      ]);
      expect(groups[0]).toMatchObject({ producers: ['conv1/filter'], consumers: ['conv2'], weights: ['conv1/filter[3]', 'conv2/filter[2]'] });
      expect(groups[0].paramsPerChannel).toBe(18 + 36);
      expect(groups[1].couplings).toEqual(['res']);
      expect(groups[1].weights).toEqual(['conv2/filter[3]', 'conv2/bias[0]', 'dw/filter[2]', 'conv3/filter[2]']);
      expect(groups[1].reason).toBe('its channels reach the model output features');
      // conv3's 2 × 2 × 3 output is flattened into fc's 12 inputs: channel c is row p·3 + c of each of the 4 positions.
      expect(groups[2]).toMatchObject({ consumers: ['fc'], weights: ['conv3/filter[3]', 'fc/weights[1]'], paramsPerChannel: 36 + 5 * 4 });
      const rows = (kind as GraphKindModel).channelGroups()[2];
      expect(rows.slices.find((s) => s.weight === 'fc/weights')?.indices).toEqual([
        [0, 3, 6, 9],
        [1, 4, 7, 10],
        [2, 5, 8, 11],
      ]);
      expect(rows.reshapes).toEqual([{ weight: 'flatten/shape', index: 1, perChannel: 4 }]);
      expect(groups[3].reason).toBe('Lopper cannot slice Softmax node scores');
    } finally {
      kind.dispose();
    }
  });

  it('follows fused biases, depthwise convs, a residual add, BatchNorm, per-channel scales, ConcatV2 offsets and matmuls', async () => {
    const kind = await GRAPH_MODEL_KIND.open(await openChannelGraph(true));
    try {
      const groups = kind.channels?.groups() ?? [];
      expect(groups.map((g) => [g.id, g.producers, g.channels, g.shrinkable])).toEqual([
        ['c1/filter', ['c1/filter', 'c2/filter'], 6, true],
        ['c3/filter', ['c3/filter'], 4, false],
        ['c4/filter', ['c4/filter'], 5, true],
        ['fc/weights', ['fc/weights'], 8, true],
        ['fc2/weights', ['fc2/weights'], 5, false],
      ]);
      const [res, c3, c4, fc] = groups;
      expect(res.couplings).toEqual(['res']);
      expect(new Set(res.weights)).toEqual(new Set(['c1/filter[3]', 'c1/bias[0]', 'dw/filter[2]', 'dw/bias[0]', 'c2/filter[2]', 'c2/filter[3]', 'c3/filter[2]', 'c4/filter[2]']));
      expect(c3.reason).toBe('its channels reach the model output flat');
      expect(c4.weights).toEqual(['c4/filter[3]', 'scale/y[0]', 'fc/weights[0]']);
      expect(c4.couplings).toEqual(['concat']);
      expect(fc.weights).toEqual(['fc/weights[1]', 'fc/bias[0]', 'fc2/weights[1]']);
    } finally {
      kind.dispose();
    }
  });

  it("slices the concatenated rows of the matmul at each group's offset", async () => {
    const kind = await GRAPH_MODEL_KIND.open(await openChannelGraph(false));
    try {
      const groups = (kind as GraphKindModel).channelGroups();
      const rows = (id: string) => groups.find((g) => g.id === id)?.slices.find((s) => s.weight === 'fc/weights' && s.axis === 0)?.indices;
      expect(rows('c3/filter')).toEqual([[0], [1], [2], [3]]);
      expect(rows('c4/filter')).toEqual([[4], [5], [6], [7], [8]]);
      expect(groups.find((g) => g.id === 'c3/filter')?.shrinkable).toBe(true);
    } finally {
      kind.dispose();
    }
  });
});

describe('a GraphModel channels plan', () => {
  let opened: OpenedModel;
  let kind: KindModel;
  let tensors: number;
  let input: tf.Tensor;

  beforeAll(async () => {
    opened = await openChannelGraph(false);
    kind = await GRAPH_MODEL_KIND.open(opened);
    input = tf.randomUniform([3, 6, 6, 3], 0, 1, 'float32', 7);
    tensors = tf.memory().numTensors;
  });

  afterAll(() => {
    input.dispose();
    kind.dispose();
  });

  for (const criterion of ['magnitude', 'wanda', 'random'] as const) {
    it(`${criterion} at 0.5: the shrunk export stock tfjs runs equals the zeroed-channel model within 1e-5`, async () => {
      const channels = kind.channels;
      if (channels === undefined) throw new Error('no channels');
      const batches = [tf.randomUniform([4, 6, 6, 3], 0, 1, 'float32', 3)];
      const shrunk = await channels.shrink(planFor(kind, { criterion, sparsity: uniform(kind, 0.5) }), batches);
      tf.dispose(batches);
      expect(shrunk.skipped).toEqual([{ unit: 'fc2/weights', reason: 'Lopper cannot slice Softmax node probs' }]);
      expect(shrunk.weights.get('c1/filter')?.shape).toEqual([3, 3, 3, 3]);
      expect(shrunk.weights.get('c2/filter')?.shape).toEqual([1, 1, 3, 3]);
      expect(shrunk.weights.get('dw/filter')?.shape).toEqual([3, 3, 3, 1]);
      expect(shrunk.weights.get('c3/filter')?.shape).toEqual([3, 3, 3, 2]);
      expect(shrunk.weights.get('bn/variance')?.shape).toEqual([2]);
      expect(shrunk.weights.get('c4/filter')?.shape).toEqual([1, 1, 3, 3]);
      expect(shrunk.weights.get('fc/weights')?.shape).toEqual([5, 4]);
      expect(shrunk.weights.get('fc2/weights')?.shape).toEqual([5, 4]);
      expect(shrunk.achieved['c1/filter']).toBe(0.5);
      expect(shrunk.achieved['fc2/weights']).toBe(0);
      expect(shrunk.overall).toBeGreaterThan(0.3);
      expect(shrunk.params).toBeLessThan(kind.prunable.units().reduce((n, u) => n + u.size, 0));

      const groups = (kind as GraphKindModel).channelGroups();
      const keep = (shrunk as unknown as { keep: Map<string, Uint8Array> }).keep;
      const masked = writeGraphModel(opened, cutChannels(await kind.weightValues(), groups, keep, 'zero')).files;
      const want = await stockOutputs(masked, input, ['probs']);
      const got = await stockOutputs(shrunk.write({ float16: false }), input, ['probs']);
      expect(worstDifference(got, want)).toBeLessThanOrEqual(1e-5);
      const dense = await stockOutputs(writeGraphModel(opened, await kind.weightValues()).files, input, ['probs']);
      expect(worstDifference(got, dense)).toBeGreaterThan(1e-4);

      const recipe = recipeFromPlan(planFor(kind, { criterion }), opened, { dense: {}, pruned: {} });
      const half = shrunk.write({ float16: true, recipe });
      const json = JSON.parse(new TextDecoder().decode(half[0].bytes)) as { weightsManifest: { weights: { name: string; shape: number[] }[] }[]; userDefinedMetadata: unknown };
      expect(json.weightsManifest[0].weights.find((w) => w.name === 'c3/filter')?.shape).toEqual([3, 3, 3, 2]);
      expect(json.userDefinedMetadata).toEqual({ lopper: recipe });
      expect(worstDifference(await stockOutputs(half, input, ['probs']), got)).toBeLessThan(1e-2);
      expect(tf.memory().numTensors).toBe(tensors);
    });
  }

  it('keeps at least one channel, shrinks nothing at sparsity 0 and refuses SparseGPT', async () => {
    const channels = kind.channels;
    if (channels === undefined) throw new Error('no channels');
    const all = await channels.shrink(planFor(kind, { sparsity: uniform(kind, 1) }), []);
    expect(all.weights.get('c1/filter')?.shape).toEqual([3, 3, 3, 1]);
    const none = await channels.shrink(planFor(kind, { sparsity: uniform(kind, 0) }), []);
    expect(none.overall).toBe(0);
    expect(none.weights.get('fc/weights')?.shape).toEqual([9, 8]);
    await expect(channels.shrink(planFor(kind, { criterion: 'sparsegpt', sparsity: uniform(kind, 0.5) }), [])).rejects.toThrow(/sparsegpt/);
    expect(tf.memory().numTensors).toBe(tensors);
  });
});

describe('shrunkTopology', () => {
  const outputShapes = (...dims: number[]) => ({ list: { shape: [{ dim: dims.map((d) => ({ size: String(d) })) }] } });
  it('writes the cut constants’ shapes and drops the stale `_output_shapes` of what they compute; the rest keeps its own', () => {
    const nodes: TestNode[] = [
      { ...placeholder('x', [-1, 4]), attr: { ...placeholder('x', [-1, 4]).attr, _output_shapes: outputShapes(-1, 4) } },
      { ...constant('w', [4, 6]), attr: { ...constant('w', [4, 6]).attr, _output_shapes: outputShapes(4, 6) } },
      { ...constant('v', [6, 2]), attr: { ...constant('v', [6, 2]).attr, _output_shapes: outputShapes(6, 2) } },
      { name: 'h', op: 'MatMul', input: ['x', 'w'], attr: { ...T, _output_shapes: outputShapes(-1, 6) } },
      { name: 'y', op: 'MatMul', input: ['h', 'v'], attr: { ...T, _output_shapes: outputShapes(-1, 2) } },
      { name: 'side', op: 'Relu', input: ['x'], attr: { ...T, _output_shapes: outputShapes(-1, 4) } },
    ];
    const topology = { node: nodes, library: {}, versions: {} } as unknown as Parameters<typeof shrunkTopology>[0];
    const weights = new Map([
      ['w', { shape: [4, 3], values: new Float32Array(12) }],
      ['v', { shape: [3, 2], values: new Float32Array(6) }],
    ]);
    const shrunk = shrunkTopology(topology, weights);
    const byName = new Map(shrunk.node.map((node) => [node.name, node]));
    const attr = (name: string): Record<string, unknown> => byName.get(name)?.attr ?? {};
    expect(attr('w')['_output_shapes']).toEqual(outputShapes(4, 3));
    expect((attr('w')['value'] as { tensor: { tensorShape: unknown } }).tensor.tensorShape).toEqual({ dim: [{ size: '4' }, { size: '3' }] });
    expect(attr('v')['_output_shapes']).toEqual(outputShapes(3, 2));
    expect(attr('h')).not.toHaveProperty('_output_shapes');
    expect(attr('y')).not.toHaveProperty('_output_shapes');
    expect(attr('side')['_output_shapes']).toEqual(outputShapes(-1, 4));
    expect(attr('x')['_output_shapes']).toEqual(outputShapes(-1, 4));
    // The source topology is not touched.
    expect(nodes[3].attr?.['_output_shapes']).toEqual(outputShapes(-1, 6));
  });
});
