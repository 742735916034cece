import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prunableRemovalTarget } from '../../core/pipeline/removal';
import { greedyRemoval } from '../../core/removal';
import { outputChange } from '../../core/transformer/output-change';
import { openModel } from '../../io/open';
import { fixtureFiles, fixturePath, memoryFiles } from '../../io/test-support';
import type { OpenedModel } from '../../io/types';
import { graphKernelToMatrix, type GraphUnitLayout } from './layout';
import { GRAPH_MODEL_CAPABILITIES, GraphModelPrunable } from './prunable';
import { graphCnnReference, matmul, samples, type Image } from './reference';
import { loadExport, seededValues } from './testing';

let cnn: OpenedModel;
let control: OpenedModel;
let weights: Record<string, number[]>;
let start = 0;

beforeAll(async () => {
  await tf.setBackend('cpu');
  start = tf.memory().numTensors;
  cnn = await openModel(await fixtureFiles('graph-cnn'));
  control = await openModel(await fixtureFiles('graph-control'));
  weights = (JSON.parse(await readFile(join(fixturePath('graph-cnn'), 'expected.json'), 'utf8')) as { weights: Record<string, number[]> }).weights;
});

afterAll(() => {
  expect(tf.memory().numTensors).toBe(start);
});

const image = (n: number, seed = 7): Image => ({ n, h: 6, w: 6, c: 2, data: seededValues(seed, n * 72).map((v) => (v + 1) / 2) });
const tensorOf = (x: Image): tf.Tensor => tf.tensor(x.data, [x.n, x.h, x.w, x.c]);

/** Rows of the outputs joined per sample (frees the join, not the outputs). */
async function joinedRows(tensors: tf.Tensor[]): Promise<number[][]> {
  const joined = tf.concat(tensors, 1);
  try {
    return await rows(joined);
  } finally {
    joined.dispose();
  }
}

async function rows(tensor: tf.Tensor): Promise<number[][]> {
  const values = [...(await tensor.data())];
  const width = tensor.size / tensor.shape[0];
  return Array.from({ length: tensor.shape[0] }, (_, i) => values.slice(i * width, (i + 1) * width));
}

function expectClose(actual: number[][], expected: number[][], tolerance = 1e-5): void {
  expect(actual.length).toBe(expected.length);
  actual.forEach((row, i) => {
    expect(row.length).toBe(expected[i].length);
    row.forEach((v, j) => expect(Math.abs(v - expected[i][j]), `[${i}][${j}] ${v} vs ${expected[i][j]}`).toBeLessThanOrEqual(tolerance));
  });
}

async function withKind<T>(opened: OpenedModel, body: (kind: GraphModelPrunable) => Promise<T>): Promise<T> {
  const kind = await GraphModelPrunable.create(opened);
  try {
    return await body(kind);
  } finally {
    kind.dispose();
  }
}

describe('GraphModelPrunable on graph-cnn', () => {
  it('lists units, layouts, inputs, outputs, candidates and the layer table', async () => {
    await withKind(cnn, async (kind) => {
      expect(kind.kind).toBe('graph-model');
      expect(kind.name).toBe('graph-cnn');
      expect(kind.requiresAsync).toBe(false);
      expect(kind.units()).toEqual([
        { name: 'conv1/filter', layer: 'conv1/filter', weight: 'conv1/filter', shape: [3, 3, 2, 4], size: 72 },
        { name: 'conv2/filter', layer: 'conv2/filter', weight: 'conv2/filter', shape: [3, 3, 4, 4], size: 144 },
        { name: 'dw/filter', layer: 'dw/filter', weight: 'dw/filter', shape: [3, 3, 4, 1], size: 36 },
        { name: 'conv3/filter', layer: 'conv3/filter', weight: 'conv3/filter', shape: [3, 3, 4, 3], size: 108 },
        { name: 'fc/weights', layer: 'fc/weights', weight: 'fc/weights', shape: [5, 12], size: 60 },
      ]);
      expect(kind.layout('conv1/filter')).toEqual({ kind: 'conv', rows: 4, cols: 18 });
      expect(kind.layout('dw/filter')).toEqual({ kind: 'depthwise', rows: 4, cols: 9, channels: 4 });
      expect(kind.layout('fc/weights')).toEqual({ kind: 'dense', rows: 5, cols: 12, transposed: true });
      expect(kind.unitDetails('conv2/filter')).toMatchObject({ node: 'conv2', op: '_FusedConv2D', weightIndex: 1, dataInput: 'conv1' });
      expect(kind.inputSpecs()).toEqual([
        { name: 'image', signatureKey: 'image', dtype: 'float32', shape: [null, 6, 6, 2], fixedBatch: null, declared: [-1, 6, 6, 2], source: 'signature' },
      ]);
      expect(kind.outputNames()).toEqual(['scores:0', 'features:0']);
      expect(kind.removalCandidates()).toEqual(['res']);
      expect(kind.removalCandidateDetails()).toEqual([{ name: 'res', skip: 'conv2', branch: 'dw', units: ['dw/filter'] }]);
      expect(kind.outputsAreProbabilities()).toBe(false);
      expect(kind.capabilities()).toBe(GRAPH_MODEL_CAPABILITIES);
      expect(GRAPH_MODEL_CAPABILITIES.granularities).toContain('channels');

      const table = kind.layers();
      expect(table.map((row) => [row.name, row.type, row.outputShape, row.params, row.flops, row.prunable])).toEqual([
        ['conv1/filter', 'Conv2D', [null, 6, 6, 4], 72, 2 * 72 * 36, true],
        ['conv2/filter', '_FusedConv2D', [null, 6, 6, 4], 148, 2 * 144 * 36 + 144, true],
        ['dw/filter', 'DepthwiseConv2dNative', [null, 6, 6, 4], 36, 2 * 36 * 36, true],
        ['res', 'AddV2', [null, 6, 6, 4], 0, 144, false],
        ['conv3/filter', 'Conv2D', [null, 2, 2, 3], 108, 2 * 108 * 4, true],
        ['flatten', 'Reshape', [null, 12], 0, 0, false],
        ['fc/weights', 'MatMul', [null, 5], 60, 2 * 60, true],
        ['scores', 'Softmax', [null, 5], 0, 0, false],
        ['features', 'Mean', [null, 4], 0, 144, false],
      ]);
      // int32 constants (the Reshape shape, the Mean axes) are not parameters
      expect(kind.totals()).toEqual({ totalParams: 424, totalFlops: table.reduce((s, r) => s + r.flops, 0), prunableParams: 420, sparsity: 0 });
      expect(kind.totals(new Map([['fc/weights', 30]])).sparsity).toBeCloseTo(30 / 420);
    });
  });

  it('computes what plain loops compute, through forward and forwardAsync', async () => {
    await withKind(cnn, async (kind) => {
      const x = image(3);
      const input = tensorOf(x);
      const before = tf.memory().numTensors;
      const output = kind.forward(input);
      expect(output.shape).toEqual([3, 9]);
      expectClose(await rows(output), graphCnnReference(x, weights).output);
      const asynchronous = await kind.forwardAsync(input);
      expectClose(await rows(asynchronous), graphCnnReference(x, weights).output);
      tf.dispose([output, asynchronous]);
      expect(tf.memory().numTensors).toBe(before);
      input.dispose();
    });
  });

  it('stores a pruned kernel, and substitutes kernels for one pass only', async () => {
    await withKind(cnn, async (kind) => {
      const x = image(2, 3);
      const input = tensorOf(x);
      // magnitude 50%: the 30 smallest |w| of fc/weights go to zero
      const fc = weights['fc/weights'];
      const order = fc.map((v, i) => [Math.abs(v), i] as const).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
      const pruned = [...fc];
      for (const [, i] of order.slice(0, 30)) pruned[i] = 0;
      const before = tf.memory().numTensors;
      kind.setKernel('fc/weights', Float32Array.from(pruned));
      expect(tf.memory().numTensors).toBe(before);
      const stored = kind.getKernel('fc/weights');
      expect([...(await stored.data())]).toEqual([...Float32Array.from(pruned)]);
      stored.dispose();
      const out = kind.forward(input);
      expectClose(await rows(out), graphCnnReference(x, { ...weights, 'fc/weights': pruned }).output);

      const zeros = tf.zeros([3, 3, 2, 4]);
      const substituted = kind.forward(input, { kernels: new Map([['conv1/filter', zeros]]) });
      expectClose(await rows(substituted), graphCnnReference(x, { ...weights, 'fc/weights': pruned, 'conv1/filter': new Array(72).fill(0) }).output);
      const again = kind.forward(input);
      expectClose(await rows(again), await rows(out));
      const wrong = tf.zeros([3, 3, 2, 5]);
      expect(() => kind.forward(input, { kernels: new Map([['conv1/filter', wrong]]) })).toThrow(
        'kernel conv1/filter: expected float32 [3, 3, 2, 4], received float32 [3, 3, 2, 5]',
      );
      wrong.dispose();
      expect(() => kind.setKernel('fc/weights', new Float32Array(3))).toThrow('expected 60 values, received 3');
      expect(() => kind.getKernel('flatten/shape')).toThrow('no prunable unit named flatten/shape');
      tf.dispose([out, substituted, again, zeros, input]);
    });
  });

  it('bypasses the residual branch', async () => {
    await withKind(cnn, async (kind) => {
      const x = image(2, 11);
      const input = tensorOf(x);
      const out = kind.forward(input, { bypass: new Set(['res']) });
      expectClose(await rows(out), graphCnnReference(x, weights, true).output);
      const plain = kind.forward(input);
      expectClose(await rows(plain), graphCnnReference(x, weights).output);
      expect(kind.liveUnits(['res']).map((u) => u.name)).toEqual(['conv1/filter', 'conv2/filter', 'conv3/filter', 'fc/weights']);
      expect(kind.liveUnits([]).length).toBe(5);
      expect(() => kind.forward(input, { bypass: new Set(['conv1']) })).toThrow(/cannot bypass conv1: it is not a residual add of graph-cnn \(candidates: res\)/);
      const seen: string[] = [];
      kind.forward(input, { bypass: new Set(['res']), onUnitInput: (unit) => seen.push(unit) }).dispose();
      expect(seen).toEqual(['conv1/filter', 'conv2/filter', 'conv3/filter', 'fc/weights']);
      const observed: string[] = [];
      kind.forward(input, { observe: new Set(['conv3/filter', 'dw/filter']), onUnitInput: (unit) => observed.push(unit) }).dispose();
      expect(observed).toEqual(['dw/filter', 'conv3/filter']);
      tf.dispose([out, plain, input]);
    });
  });

  it('hands each unit its input, and inputRows turns it into X with X·Wᵀ = the op', async () => {
    await withKind(cnn, async (kind) => {
      const x = image(2, 5);
      const ref = graphCnnReference(x, weights);
      const input = tensorOf(x);
      const products = new Map<string, number[][]>();
      const shapes = new Map<string, number[]>();
      const out = kind.forward(input, {
        onUnitInput: (unit, tensor) => {
          shapes.set(unit, [...tensor.shape]);
          const layout = kind.layout(unit) as GraphUnitLayout;
          const kernel = kind.getKernel(unit);
          const w = graphKernelToMatrix(layout, kernel.dataSync() as Float32Array);
          kernel.dispose();
          const rowsX = kind.inputRows(unit, tensor);
          const X = rowsX.arraySync();
          rowsX.dispose();
          if (layout.kind === 'depthwise') {
            const taps = layout.cols;
            products.set(
              unit,
              X.map((row) => Array.from({ length: layout.rows }, (_, r) => Array.from({ length: taps }, (_, t) => row[r * taps + t] * w[r * taps + t]).reduce((a, b) => a + b, 0))),
            );
          } else {
            products.set(
              unit,
              X.map((row) => Array.from({ length: layout.rows }, (_, r) => row.reduce((sum, v, c) => sum + v * w[r * layout.cols + c], 0))),
            );
          }
        },
      });
      expect(Object.fromEntries(shapes)).toEqual({
        'conv1/filter': [2, 6, 6, 2],
        'conv2/filter': [2, 6, 6, 4],
        'dw/filter': [2, 6, 6, 4],
        'conv3/filter': [2, 6, 6, 4],
        'fc/weights': [2, 12],
      });
      const positions = (img: Image): number[][] => Array.from({ length: img.n * img.h * img.w }, (_, p) => img.data.slice(p * img.c, (p + 1) * img.c));
      expectClose(products.get('conv1/filter') ?? [], positions(ref.conv1));
      expectClose(products.get('conv2/filter') ?? [], positions(ref.conv2Linear));
      expectClose(products.get('dw/filter') ?? [], positions(ref.dw));
      expectClose(products.get('conv3/filter') ?? [], positions(ref.conv3));
      expectClose(products.get('fc/weights') ?? [], ref.fc);
      tf.dispose([out, input]);
    });
  });

  it('exports a model stock tf.loadGraphModel runs with the same outputs, pruned, bypassed and in float16', async () => {
    await withKind(cnn, async (kind) => {
      const x = image(3, 2);
      const input = tensorOf(x);
      const recipe = { lopper: '0.1.0', removed: ['res'] };

      const dense = await loadExport(await kind.exportFiles({ recipe }));
      const stock = dense.execute({ image: input }, ['scores', 'features']) as tf.Tensor[];
      const ours = kind.forward(input);
      expectClose(await joinedRows(stock), await rows(ours), 1e-6);
      tf.dispose([...stock, ours]);
      dense.dispose();

      const pruned = weights['conv3/filter'].map((v, i) => (i % 2 === 0 ? 0 : v));
      kind.setKernel('conv3/filter', Float32Array.from(pruned));
      const files = await kind.exportFiles({ removed: ['res'], recipe });
      const json = JSON.parse(new TextDecoder().decode(files[0].bytes)) as {
        modelTopology: { node: { name: string; input?: string[] }[] };
        weightsManifest: { weights: { name: string; dtype: string }[] }[];
        userDefinedMetadata: unknown;
      };
      const names = json.modelTopology.node.map((n) => n.name);
      expect(names).not.toContain('dw');
      expect(names).not.toContain('dw/filter');
      expect(names).not.toContain('res');
      expect(json.modelTopology.node.find((n) => n.name === 'conv3')?.input).toEqual(['conv2', 'conv3/filter']);
      expect(json.weightsManifest[0].weights.map((w) => `${w.name}:${w.dtype}`)).toEqual([
        'conv1/filter:float32',
        'conv2/filter:float32',
        'conv2/bias:float32',
        'conv3/filter:float32',
        'flatten/shape:int32',
        'features/axes:int32',
        'fc/weights:float32',
      ]);
      expect(json.userDefinedMetadata).toEqual({ source: 'scripts/make-graph-fixtures.ts', lopper: recipe });
      const bypassed = await loadExport(files);
      const stockOut = bypassed.execute({ image: input }, ['scores', 'features']) as tf.Tensor[];
      const expected = graphCnnReference(x, { ...weights, 'conv3/filter': pruned }, true).output;
      expectClose(await joinedRows(stockOut), expected);
      const oursBypassed = kind.forward(input, { bypass: new Set(['res']) });
      expectClose(await rows(oursBypassed), expected);
      tf.dispose([...stockOut, oursBypassed]);
      bypassed.dispose();

      // the export opens again in Lopper, as a user's drop
      const reopened = await openModel(memoryFiles(Object.fromEntries(files.map((f) => [`again/${f.path}`, f.bytes]))));
      expect(reopened.artifacts.userDefinedMetadata).toMatchObject({ lopper: recipe });
      await withKind(reopened, async (again) => {
        expect(again.removalCandidates()).toEqual([]);
        const out = again.forward(input);
        expectClose(await rows(out), expected);
        out.dispose();
      });

      const halfFiles = await kind.exportFiles({ float16: true });
      const halfJson = JSON.parse(new TextDecoder().decode(halfFiles[0].bytes)) as { weightsManifest: { weights: { name: string; quantization?: { dtype: string } }[] }[] };
      expect(halfJson.weightsManifest[0].weights.filter((w) => w.quantization?.dtype === 'float16').map((w) => w.name)).toEqual([
        'conv1/filter',
        'conv2/filter',
        'conv2/bias',
        'dw/filter',
        'conv3/filter',
        'fc/weights',
      ]);
      const half = await loadExport(halfFiles);
      const halfOut = half.execute({ image: input }, ['scores', 'features']) as tf.Tensor[];
      const full = kind.forward(input);
      expectClose(await joinedRows(halfOut), await rows(full), 2e-3);
      tf.dispose([...halfOut, full, input]);
      half.dispose();
    });
  });
});

describe('GraphModelPrunable on graph-control', () => {
  const relu = (m: number[][]): number[][] => m.map((row) => row.map((v) => Math.max(0, v)));
  const add = (a: number[][], b: number[][]): number[][] => a.map((row, i) => row.map((v, j) => v + b[i][j]));

  it('runs a Switch/Merge graph through forwardAsync only, and sees the unconditional units', async () => {
    await withKind(control, async (kind) => {
      const expected = (JSON.parse(await readFile(join(fixturePath('graph-control'), 'expected.json'), 'utf8')) as { weights: Record<string, number[]> }).weights;
      expect(kind.requiresAsync).toBe(true);
      expect(kind.units().map((u) => u.name)).toEqual(['w0', 'w_res', 'w_true', 'w_false']);
      expect(kind.observedUnits()).toEqual(['w0', 'w_res']);
      expect(kind.removalCandidates()).toEqual(['res']);
      expect(kind.inputSpecs()[0]).toMatchObject({ name: 'x', shape: [null, 3], source: 'placeholder' });
      const x = [
        [1, 2, 3],
        [0.5, -1, 0.25],
      ];
      const input = tf.tensor(x);
      expect(() => kind.forward(input)).toThrow('graph-control has control flow or dynamic shapes: use forwardAsync');
      const seen: string[] = [];
      const out = await kind.forwardAsync(input, { onUnitInput: (unit) => seen.push(unit) });
      const h = matmul(x, expected['w0'], 3);
      const reference = matmul(add(h, relu(matmul(h, expected['w_res'], 3))), expected['w_true'], 2);
      expectClose(await rows(out), reference);
      expect(seen).toEqual(['w0', 'w_res']);
      const bypassed = await kind.forwardAsync(input, { bypass: new Set(['res']) });
      expectClose(await rows(bypassed), matmul(h, expected['w_true'], 2));
      const stock = await loadExport(await kind.exportFiles());
      const stockOut = (await stock.executeAsync({ x: input })) as tf.Tensor;
      expectClose(await rows(stockOut), reference);
      const rewired = await loadExport(await kind.exportFiles({ removed: ['res'] }));
      const rewiredOut = (await rewired.executeAsync({ x: input })) as tf.Tensor;
      expectClose(await rows(rewiredOut), matmul(h, expected['w_true'], 2));
      tf.dispose([out, bypassed, stockOut, rewiredOut, input]);
      stock.dispose();
      rewired.dispose();
    });
  });

  it('is a FinerCut removal target through executeAsync: the score of removing the branch is the divergence it makes', async () => {
    await withKind(control, async (kind) => {
      const data = { kind: 'samples' as const, source: 'test', hash: 'h', inputs: Float32Array.from(seededValues(3, 24)), shape: [8, 3], synthetic: true };
      const target = prunableRemovalTarget(kind, data, { async: true });
      expect(() => target.outputs(new Set())).toThrow(/use forwardAsync/);
      const result = await greedyRemoval(target, { metric: 'logits', steps: 1 });
      expect(result.steps.map((step) => step.removed)).toEqual(['res']);
      const input = tf.tensor(data.inputs, [8, 3]);
      const dense = await kind.forwardAsync(input);
      const bypassed = await kind.forwardAsync(input, { bypass: new Set(['res']) });
      const expected = tf.tidy(() => outputChange('logits', dense, bypassed));
      expect(result.steps[0].scores['res']).toBeCloseTo((await expected.data())[0], 6);
      expect(result.steps[0].scores['res']).toBeGreaterThan(0);
      tf.dispose([input, dense, bypassed, expected]);
    });
  });
});

describe('GraphModelPrunable on the old graph-model fixture', () => {
  it('opens, has one MatMul unit and runs', async () => {
    const opened = await openModel(await fixtureFiles('graph-model'));
    await withKind(opened, async (kind) => {
      expect(kind.units().map((u) => [u.name, kind.layout(u.name)])).toEqual([['w', { kind: 'dense', rows: 2, cols: 4 }]]);
      const input = kind.syntheticBatch(4, 1);
      expect(input.shape).toEqual([4, 4]);
      const out = kind.forward(input);
      const w = kind.getKernel('w');
      expectClose(await rows(out), matmul(await rows(input), [...(await w.data())], 2));
      tf.dispose([out, input, w]);
    });
  });
});

describe('samples helper', () => {
  it('flattens per sample', () => {
    expect(samples({ n: 2, h: 1, w: 1, c: 2, data: [1, 2, 3, 4] })).toEqual([
      [1, 2],
      [3, 4],
    ]);
  });
});
