import { readFile, readdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ManifestError, MissingShardError, ShardSizeError, UnsupportedDtypeError, UnsupportedOpError } from './errors';
import { openModel } from './open';
import { fixtureFiles, fixturePath, float32Bytes, memoryFiles } from './test-support';
import { parseGraphModelJson, tfjsGraphFormat } from './tfjs-graph';
import { EXECUTABLE_GRAPH_OPS } from './tfjs-graph-ops';
import type { OpenedModel } from './types';

/** Every decoded weight of an opened model by name, as plain numbers. */
function decodedWeights(opened: OpenedModel): Map<string, { dtype: string; values: number[] }> {
  const data = opened.artifacts.weightData as ArrayBuffer;
  const out = new Map<string, { dtype: string; values: number[] }>();
  let offset = 0;
  for (const spec of opened.artifacts.weightSpecs ?? []) {
    const count = spec.shape.reduce((a, b) => a * b, 1);
    const bytes = spec.dtype === 'bool' ? count : count * 4;
    const slice = data.slice(offset, offset + bytes);
    const values = spec.dtype === 'float32' ? new Float32Array(slice) : spec.dtype === 'int32' ? new Int32Array(slice) : new Uint8Array(slice);
    out.set(spec.name, { dtype: spec.dtype, values: [...values] });
    offset += bytes;
  }
  return out;
}

const tinyGraph = (extra: Record<string, unknown> = {}, nodes?: unknown[]): Record<string, unknown> => ({
  format: 'graph-model',
  modelTopology: {
    node: nodes ?? [
      { name: 'x', op: 'Placeholder', attr: { dtype: { type: 'DT_FLOAT' } } },
      { name: 'w', op: 'Const', attr: { dtype: { type: 'DT_FLOAT' } } },
      { name: 'y', op: 'MatMul', input: ['x', 'w'] },
    ],
    versions: { producer: 1286 },
  },
  weightsManifest: [{ paths: ['group1-shard1of1.bin'], weights: [{ name: 'w', shape: [2, 1], dtype: 'float32' }] }],
  ...extra,
});

describe('tfjsGraphFormat', () => {
  it('opens graph-cnn: two shards, uint8 and float16 weights decoded, int32 constants kept', async () => {
    const opened = await openModel(await fixtureFiles('graph-cnn'));
    expect(opened.format).toBe('graph-model');
    expect(opened.name).toBe('graph-cnn');
    expect(opened.files).toEqual(['graph-cnn/model.json', 'graph-cnn/group1-shard1of2.bin', 'graph-cnn/group1-shard2of2.bin']);
    expect(opened.artifacts.format).toBe('graph-model');
    expect(opened.artifacts.signature).toMatchObject({ outputs: { scores: { name: 'scores:0' } } });
    expect(opened.artifacts.userDefinedMetadata).toEqual({ source: 'scripts/make-graph-fixtures.ts' });
    expect(opened.artifacts.weightSpecs?.every((spec) => spec.quantization === undefined)).toBe(true);
    const expected = JSON.parse(await readFile(join(fixturePath('graph-cnn'), 'expected.json'), 'utf8')) as { weights: Record<string, number[]> };
    const weights = decodedWeights(opened);
    for (const [name, values] of Object.entries(expected.weights)) {
      const decoded = weights.get(name);
      expect(decoded, name).toBeDefined();
      expect(decoded?.values.map((v, i) => Math.abs(v - (values[i] ?? NaN)))).toSatisfy((diffs: number[]) => diffs.every((d) => d <= 1e-6));
    }
    expect(weights.get('flatten/shape')).toEqual({ dtype: 'int32', values: [-1, 12] });
    expect(opened.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('opens graph-control with its bool constant as bool', async () => {
    const opened = await openModel(await fixtureFiles('graph-control'));
    expect(decodedWeights(opened).get('pred')).toEqual({ dtype: 'bool', values: [1] });
  });

  it('opens a model.json without format whose topology is a GraphDef, and float16 written as a dtype', async () => {
    const legacy = tinyGraph({ format: undefined });
    const opened = await openModel(memoryFiles({ 'old/model.json': legacy, 'old/group1-shard1of1.bin': float32Bytes([1, 2]) }));
    expect(opened.format).toBe('graph-model');
    const halfs = tinyGraph({ weightsManifest: [{ paths: ['w.bin'], weights: [{ name: 'w', shape: [2, 1], dtype: 'float16' }] }] });
    const half = await openModel(memoryFiles({ 'h/model.json': halfs, 'h/w.bin': new Uint8Array(new Uint16Array([0x3c00, 0xc000]).buffer) }));
    expect(decodedWeights(half).get('w')).toEqual({ dtype: 'float32', values: [1, -2] });
  });

  it('names the node and op tfjs cannot execute', async () => {
    const nodes = [
      { name: 'x', op: 'Placeholder' },
      { name: 'w', op: 'Const' },
      { name: 'fancy', op: 'MyCustomOp', input: ['x', 'w'] },
    ];
    const open = openModel(memoryFiles({ 'g/model.json': tinyGraph({}, nodes), 'g/group1-shard1of1.bin': float32Bytes([1, 2]) }));
    await expect(open).rejects.toBeInstanceOf(UnsupportedOpError);
    await expect(open).rejects.toMatchObject({ op: 'MyCustomOp', node: 'fancy', file: 'g/model.json' });
    await expect(open).rejects.toThrow(
      'g/model.json: node "fancy" is a MyCustomOp, which TensorFlow.js cannot execute (expected an op tfjs-converter registers, got "MyCustomOp")',
    );
  });

  it('checks ops inside library functions too', () => {
    const json = tinyGraph();
    (json['modelTopology'] as Record<string, unknown>)['library'] = {
      function: [{ signature: { name: 'body', inputArg: [{ name: 'a' }] }, nodeDef: [{ name: 'n', op: 'Frobnicate', input: ['a'] }] }],
    };
    expect(() => parseGraphModelJson(json, 'f/model.json')).toThrow('f/model.json: function "body" node "n" is a Frobnicate');
  });

  it('says what is wrong with a broken graph', () => {
    const dangling = [
      { name: 'x', op: 'Placeholder' },
      { name: 'w', op: 'Const' },
      { name: 'y', op: 'MatMul', input: ['x', 'v:0'] },
    ];
    expect(() => parseGraphModelJson(tinyGraph({}, dangling), 'model.json')).toThrow(
      'model.json: node "y" reads "v:0", which is not a node of the graph (expected a node name, got v)',
    );
    const twice = [
      { name: 'x', op: 'Placeholder' },
      { name: 'x', op: 'Placeholder' },
      { name: 'w', op: 'Const' },
    ];
    expect(() => parseGraphModelJson(tinyGraph({}, twice), 'model.json')).toThrow('the graph has two nodes named "x"');
    const unnamed = [{ op: 'Placeholder' }];
    expect(() => parseGraphModelJson(tinyGraph({}, unnamed), 'model.json')).toThrow(ManifestError);
    const noValue = [
      { name: 'x', op: 'Placeholder' },
      { name: 'w', op: 'Const' },
      { name: 'b', op: 'Const' },
      { name: 'y', op: 'AddV2', input: ['x', 'b'] },
    ];
    expect(() => parseGraphModelJson(tinyGraph({}, noValue), 'model.json')).toThrow('node "b" is a Const whose value is not in weightsManifest');
    expect(() => parseGraphModelJson({ format: 'layers-model', modelTopology: {} }, 'model.json')).toThrow(/is not a TF\.js GraphModel/);
    const badDtype = tinyGraph({ weightsManifest: [{ paths: ['a'], weights: [{ name: 'w', shape: [2, 1], dtype: 'float64' }] }] });
    expect(() => parseGraphModelJson(badDtype, 'model.json')).toThrow(UnsupportedDtypeError);
  });

  it('names a cycle among the nodes, but not the back edge of a while loop', () => {
    const cyclic = [
      { name: 'x', op: 'Placeholder' },
      { name: 'w', op: 'Const' },
      { name: 'y', op: 'MatMul', input: ['relu', 'w'] },
      { name: 'relu', op: 'Relu', input: ['y'] },
    ];
    expect(() => parseGraphModelJson(tinyGraph({}, cyclic), 'model.json')).toThrow(
      /^model\.json: the nodes of the graph form a cycle: y ← relu ← y \(expected each node reading only from nodes computed before it/,
    );
    const loop = [
      { name: 'x', op: 'Placeholder' },
      { name: 'w', op: 'Const' },
      { name: 'enter', op: 'Enter', input: ['x'] },
      { name: 'merge', op: 'Merge', input: ['enter', 'next'] },
      { name: 'body', op: 'MatMul', input: ['merge', 'w'] },
      { name: 'next', op: 'NextIteration', input: ['body'] },
    ];
    expect(parseGraphModelJson(tinyGraph({}, loop), 'model.json').modelTopology.node).toHaveLength(6);
  });

  it('reports missing shards and wrong byte counts as for LayersModels', async () => {
    await expect(openModel(memoryFiles({ 'g/model.json': tinyGraph() }))).rejects.toBeInstanceOf(MissingShardError);
    const short = openModel(memoryFiles({ 'g/model.json': tinyGraph(), 'g/group1-shard1of1.bin': float32Bytes([1]) }));
    await expect(short).rejects.toBeInstanceOf(ShardSizeError);
    await expect(short).rejects.toThrow('g/model.json: shard "group1-shard1of1.bin" holds 4 bytes but the weights listed for it need 8');
  });

  it('matches GraphModels only with a context that shows their content', async () => {
    const files = await fixtureFiles('graph-cnn');
    expect(tfjsGraphFormat.match(files)).toBe(false);
    expect(tfjsGraphFormat.match(files, { json: (path) => (path.endsWith('model.json') ? { format: 'graph-model', modelTopology: { node: [] } } : undefined) })).toBe(true);
  });
});

describe('EXECUTABLE_GRAPH_OPS', () => {
  it('is the op list the installed tfjs-converter maps', async () => {
    const require = createRequire(import.meta.url);
    const root = dirname(require.resolve('@tensorflow/tfjs-converter/package.json'));
    const operations = join(root, 'dist', 'operations');
    const mapper = await readFile(join(operations, 'operation_mapper.js'), 'utf8');
    const lists = [...mapper.matchAll(/from '\.\/op_list\/(\w+)'/g)].map((m) => m[1]);
    expect(lists.length).toBeGreaterThan(10);
    expect((await readdir(join(operations, 'op_list'))).length).toBeGreaterThan(lists.length);
    const ops = new Set<string>();
    for (const list of lists) {
      for (const match of (await readFile(join(operations, 'op_list', `${list}.js`), 'utf8')).matchAll(/'tfOpName': '([^']+)'/g)) ops.add(match[1]);
    }
    expect([...EXECUTABLE_GRAPH_OPS].sort()).toEqual([...ops].sort());
  });
});
