import { readFile } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs';
import { unzipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PrunableModel } from '../../core/model/runtime';
import { decodeFloat16 } from '../dequantize';
import { inputFileFromBytes } from '../input-file';
import { parseModelJson } from '../manifest';
import { filesFromPath } from '../node-files';
import { openModel } from '../open';
import { fixtureFiles } from '../test-support';
import type { OpenedModel } from '../types';
import { encodeFloat16 } from './float16';
import { ExportError, writeLayersModel, type ExportFile, type WeightValues } from './tfjs-layers-writer';
import { GENERATED_BY } from './version';
import { weightsOf } from './weights-of';
import { exportZip } from './zip-export';

const DEMO_DIR = decodeURIComponent(new URL('../../../public/models/digits-cnn/', import.meta.url).pathname);
const SAMPLES = 64;

interface Digits {
  inputs: Float32Array;
  shape: number[];
}

function bytesOf(data: tf.io.WeightData | undefined): Uint8Array {
  if (data === undefined) return new Uint8Array(0);
  if (!Array.isArray(data)) return new Uint8Array(data);
  return new Uint8Array(tf.io.concatenateArrayBuffers(data));
}

/** The written files as a dropped folder named `folder`. */
function asDrop(files: readonly ExportFile[], folder: string): ReturnType<typeof inputFileFromBytes>[] {
  return files.map((file) => inputFileFromBytes(`${folder}/${file.path}`, file.bytes));
}

function modelJsonOf(files: readonly ExportFile[]): Record<string, unknown> {
  const file = files.find((f) => f.path === 'model.json');
  if (file === undefined) throw new Error('no model.json written');
  return JSON.parse(new TextDecoder().decode(file.bytes)) as Record<string, unknown>;
}

/** Stock TF.js: an IOHandler that reads model.json and its shards as `tf.io.http` does, no Lopper code involved. */
function stockHandler(files: readonly ExportFile[]): tf.io.IOHandler {
  const byPath = new Map(files.map((file) => [file.path, file.bytes]));
  return {
    load: async () => {
      const modelJson = JSON.parse(new TextDecoder().decode(byPath.get('model.json'))) as tf.io.ModelJSON;
      return tf.io.getModelArtifactsForJSON(modelJson, async (manifest) => {
        const buffers = manifest.flatMap((group) => group.paths.map((path) => (byPath.get(path) as Uint8Array).slice().buffer));
        return [tf.io.getWeightSpecs(manifest), tf.io.concatenateArrayBuffers(buffers)];
      });
    },
  };
}

function predictions(model: tf.LayersModel | PrunableModel, digits: Digits): Float32Array {
  return tf.tidy(() => {
    const x = tf.tensor(digits.inputs, [SAMPLES, ...digits.shape.slice(1)]);
    const y = model instanceof PrunableModel ? model.forward(x) : (model.predict(x) as tf.Tensor);
    return y.dataSync() as Float32Array;
  });
}

describe('writeLayersModel on the digits demo', () => {
  let source: OpenedModel;
  let model: PrunableModel;
  let weights: Map<string, WeightValues>;
  let digits: Digits;

  beforeAll(async () => {
    source = await openModel(await filesFromPath(DEMO_DIR));
    model = await PrunableModel.fromArtifacts(source.artifacts);
    weights = await weightsOf(model);
    const dataset = JSON.parse(await readFile(`${DEMO_DIR}eval.json`, 'utf8')) as { inputs: number[]; shape: number[] };
    const size = dataset.shape.slice(1).reduce((a, b) => a * b, 1);
    digits = { inputs: Float32Array.from(dataset.inputs.slice(0, SAMPLES * size)), shape: dataset.shape };
  });

  afterAll(() => model.dispose());

  it('takes the weights under their manifest names, in manifest order, without leaking tensors', async () => {
    const before = tf.memory().numTensors;
    const again = await weightsOf(model);
    expect(tf.memory().numTensors).toBe(before);
    expect([...again.keys()]).toEqual(source.artifacts.weightSpecs?.map((spec) => spec.name));
    expect([...weights.values()].map((w) => w.shape)).toEqual(source.artifacts.weightSpecs?.map((spec) => spec.shape));
  });

  it('round-trips bit for bit in float32 and predicts the same', async () => {
    const { files } = writeLayersModel(source, weights);
    expect(files.map((f) => f.path)).toEqual(['model.json', 'group1-shard1of1.bin']);
    const json = modelJsonOf(files);
    expect(json['format']).toBe('layers-model');
    expect(json['generatedBy']).toBe(GENERATED_BY);
    expect(json['convertedBy']).toBeNull();

    const reopened = await openModel(asDrop(files, 'digits-cnn'));
    expect(reopened.name).toBe('digits-cnn');
    expect(reopened.artifacts.weightSpecs).toEqual(source.artifacts.weightSpecs);
    expect(reopened.artifacts.modelTopology).toEqual(source.artifacts.modelTopology);
    expect(bytesOf(reopened.artifacts.weightData)).toEqual(bytesOf(source.artifacts.weightData));

    const copy = await PrunableModel.fromArtifacts(reopened.artifacts);
    expect(predictions(copy, digits)).toEqual(predictions(model, digits));
    copy.dispose();
  });

  it('takes the weights from tfjs artifacts as well', () => {
    const fromMap = writeLayersModel(source, weights).files;
    const fromArtifacts = writeLayersModel(source, source.artifacts).files;
    expect(fromArtifacts).toEqual(fromMap);
  });

  it('splits the weights into shards of the given size, across weight boundaries', async () => {
    const { files } = writeLayersModel(source, weights, { shardBytes: 100_000 });
    expect(files.map((f) => [f.path, f.bytes.byteLength])).toEqual([
      ['model.json', files[0].bytes.byteLength],
      ['group1-shard1of3.bin', 100_000],
      ['group1-shard2of3.bin', 100_000],
      ['group1-shard3of3.bin', 226_856 - 200_000],
    ]);
    const reopened = await openModel(asDrop(files, 'digits-cnn'));
    expect(bytesOf(reopened.artifacts.weightData)).toEqual(bytesOf(source.artifacts.weightData));
  });

  it('stores float16 as the TF.js converter does and decodes to the float16-rounded weights', async () => {
    const { files } = writeLayersModel(source, weights, { float16: true });
    const manifest = parseModelJson(modelJsonOf(files), 'model.json').weightsManifest;
    const raw = modelJsonOf(files)['weightsManifest'] as { weights: Record<string, unknown>[] }[];
    expect(raw[0].weights[0]).toEqual({ name: 'conv1/kernel', shape: [3, 3, 1, 16], dtype: 'float32', quantization: { dtype: 'float16', original_dtype: 'float32' } });
    expect(manifest[0].weights.every((w) => w.quantization?.dtype === 'float16')).toBe(true);
    expect(files[1].bytes.byteLength).toBe(226_856 / 2);

    const reopened = await openModel(asDrop(files, 'digits-cnn'));
    const decoded = new Float32Array(bytesOf(reopened.artifacts.weightData).buffer);
    const original = new Float32Array(bytesOf(source.artifacts.weightData).buffer);
    expect(decoded).toEqual(decodeFloat16(encodeFloat16(original)));
    expect(decoded).not.toEqual(original);

    const stock = await tf.loadLayersModel(stockHandler(files));
    const rounded = await PrunableModel.fromArtifacts(reopened.artifacts);
    expect(predictions(stock, digits)).toEqual(predictions(rounded, digits));
    stock.dispose();
    rounded.dispose();
  });

  it('loads with stock tf.loadLayersModel and predicts what Lopper predicts', async () => {
    const stock = await tf.loadLayersModel(stockHandler(writeLayersModel(source, weights).files));
    expect(predictions(stock, digits)).toEqual(predictions(model, digits));
    expect(stock.weights.map((w) => w.originalName)).toEqual([...weights.keys()]);
    stock.dispose();
  });

  it('keeps the recipe at userDefinedMetadata.lopper', () => {
    const recipe = { lopper: '0.1.0', target: 0.5 };
    const json = modelJsonOf(writeLayersModel(source, weights, { recipe }).files);
    expect(json['userDefinedMetadata']).toEqual({ lopper: recipe });
    expect(parseModelJson(json, 'model.json').userDefinedMetadata).toEqual({ lopper: recipe });
    expect('userDefinedMetadata' in modelJsonOf(writeLayersModel(source, weights).files)).toBe(false);
  });

  it('writes a shrunk model under a replacement topology', async () => {
    const topology = structuredClone(source.artifacts.modelTopology) as { config: { layers: { config: Record<string, unknown> }[] } };
    const dense1 = topology.config.layers.find((layer) => layer.config['name'] === 'dense1');
    if (dense1 === undefined) throw new Error('no dense1');
    dense1.config['units'] = 32;
    const shrunk = new Map(weights);
    const kernel = weights.get('dense1/kernel') as WeightValues;
    const keep = (values: Float32Array, rows: number, cols: number, kept: number): Float32Array =>
      Float32Array.from({ length: rows * kept }, (_, i) => values[Math.floor(i / kept) * cols + (i % kept)]);
    shrunk.set('dense1/kernel', { shape: [800, 32], values: keep(kernel.values as Float32Array, 800, 64, 32) });
    shrunk.set('dense1/bias', { shape: [32], values: (weights.get('dense1/bias')?.values as Float32Array).slice(0, 32) });
    shrunk.set('dense2/kernel', { shape: [32, 10], values: (weights.get('dense2/kernel')?.values as Float32Array).slice(0, 320) });

    expect(() => writeLayersModel(source, shrunk)).toThrow(/dense1\/kernel.*shape \[800, 32\].*needs \[800, 64\]/);
    const { files } = writeLayersModel(source, shrunk, { topology });
    const stock = await tf.loadLayersModel(stockHandler(files));
    expect(stock.countParams()).toBe(56_714 - 32 * 800 - 32 - 32 * 10);
    const reopened = await openModel(asDrop(files, 'digits-cnn'));
    expect(reopened.artifacts.weightSpecs?.map((s) => s.name)).toEqual([...weights.keys()]);
    stock.dispose();
  });

  it('refuses a missing weight and a non-LayersModel source', () => {
    const partial = new Map(weights);
    partial.delete('conv2/bias');
    expect(() => writeLayersModel(source, partial)).toThrow(ExportError);
    expect(() => writeLayersModel(source, partial)).toThrow(/conv2\/bias/);
    expect(() => writeLayersModel({ ...source, format: 'hf-transformer' }, weights)).toThrow(/not a TF.js LayersModel/);
    const wrongLength = new Map(weights).set('conv1/bias', { shape: [16], values: new Float32Array(15) });
    expect(() => writeLayersModel(source, wrongLength)).toThrow(/15 values/);
  });

  it('zips model.json, the shards and recipe.json at the root, and the zip opens', async () => {
    const { files } = writeLayersModel(source, weights, { shardBytes: 150_000 });
    const recipe = {
      lopper: '0.1.0',
      model: { format: 'layers-model' as const, name: 'digits-cnn', sha256: source.sha256 },
      criterion: 'magnitude' as const,
      granularity: 'unstructured' as const,
      allocation: 'uniform' as const,
      target: 0,
      sparsity: {},
      removed: [],
      seed: 0,
      dataHash: 'synthetic:0:32',
      metrics: { dense: { accuracy: 0.982 }, pruned: { accuracy: 0.982 } },
    };
    const zip = exportZip(files, recipe);
    expect(exportZip(files, recipe)).toEqual(zip);
    expect(Object.keys(unzipSync(zip)).sort()).toEqual(['group1-shard1of2.bin', 'group1-shard2of2.bin', 'model.json', 'recipe.json']);
    expect(JSON.parse(new TextDecoder().decode(unzipSync(zip)['recipe.json']))).toEqual(recipe);

    const reopened = await openModel([inputFileFromBytes('digits-cnn-pruned.zip', zip)]);
    expect(reopened.name).toBe('digits-cnn-pruned');
    expect(bytesOf(reopened.artifacts.weightData)).toEqual(bytesOf(source.artifacts.weightData));
    expect(() => exportZip([...files, { path: 'recipe.json', bytes: new Uint8Array(1) }], recipe)).toThrow(/twice/);
    expect(() => exportZip([{ path: 'sub/model.json', bytes: new Uint8Array(1) }])).toThrow(/zip root/);
  });
});

describe('writeLayersModel on other fixtures', () => {
  it('round-trips the functional fixture, whose manifest puts BatchNorm statistics last', async () => {
    const source = await openModel(await fixtureFiles('functional'));
    const model = await PrunableModel.fromArtifacts(source.artifacts);
    const weights = await weightsOf(model);
    expect([...weights.keys()]).toEqual(source.artifacts.weightSpecs?.map((spec) => spec.name));
    const reopened = await openModel(asDrop(writeLayersModel(source, weights).files, 'functional'));
    expect(reopened.artifacts.weightSpecs).toEqual(source.artifacts.weightSpecs);
    expect(bytesOf(reopened.artifacts.weightData)).toEqual(bytesOf(source.artifacts.weightData));
    model.dispose();
  });

  it('re-encodes the float16 fixture to the converter’s own bytes', async () => {
    const source = await openModel(await fixtureFiles('quantized-float16'));
    const { files } = writeLayersModel(source, source.artifacts, { float16: true });
    const fixtureShard = (await fixtureFiles('quantized-float16')).find((f) => f.path.endsWith('group1-shard1of1.bin'));
    expect(files[1].bytes).toEqual(await fixtureShard?.bytes());
  });
});
