import * as tf from '@tensorflow/tfjs';
import type { ExportFile } from '../../io/export/tfjs-layers-writer';
import { openModel } from '../../io/open';
import { memoryFiles } from '../../io/test-support';
import type { OpenedModel } from '../../io/types';

/** Test helpers: GraphDef nodes written the way tensorflowjs_converter writes them, and loading exports with stock tfjs. */

export type Attr = Record<string, unknown>;
export interface TestNode {
  name: string;
  op: string;
  input?: string[];
  attr?: Attr;
}

export const b64 = (text: string): string => btoa(text);
export const dims = (shape: readonly number[]): { dim: { size: string }[] } => ({ dim: shape.map((d) => ({ size: String(d) })) });
export const T: Attr = { T: { type: 'DT_FLOAT' } };

export function placeholder(name: string, shape: number[], type = 'DT_FLOAT'): TestNode {
  return { name, op: 'Placeholder', attr: { dtype: { type }, shape: { shape: dims(shape) } } };
}

export function constant(name: string, shape: number[], type = 'DT_FLOAT'): TestNode {
  return { name, op: 'Const', attr: { dtype: { type }, value: { tensor: { dtype: type, tensorShape: dims(shape) } } } };
}

export function convAttrs(strides: number[], padding: string, extra: Attr = {}): Attr {
  return {
    ...T,
    strides: { list: { i: strides.map(String) } },
    padding: { s: b64(padding) },
    data_format: { s: b64('NHWC') },
    dilations: { list: { i: ['1', '1', '1', '1'] } },
    ...extra,
  };
}

export interface TestWeight {
  name: string;
  shape: number[];
  values: number[];
  dtype?: 'float32' | 'int32';
}

/** Opens an in-memory GraphModel (model.json + one shard) through the reader, as a drop would. */
export async function openTestGraph(nodes: TestNode[], weights: TestWeight[], extra: Record<string, unknown> = {}): Promise<OpenedModel> {
  const bytes = new Uint8Array(weights.reduce((sum, w) => sum + w.values.length * 4, 0));
  let offset = 0;
  for (const w of weights) {
    const array = w.dtype === 'int32' ? Int32Array.from(w.values) : Float32Array.from(w.values);
    bytes.set(new Uint8Array(array.buffer), offset);
    offset += array.byteLength;
  }
  const modelJson = {
    format: 'graph-model',
    modelTopology: { node: nodes, library: {}, versions: { producer: 1286 } },
    weightsManifest: [{ paths: ['group1-shard1of1.bin'], weights: weights.map((w) => ({ name: w.name, shape: w.shape, dtype: w.dtype ?? 'float32' })) }],
    ...extra,
  };
  return openModel(memoryFiles({ 'm/model.json': modelJson, 'm/group1-shard1of1.bin': bytes }));
}

/** Loads exported files with stock `tf.loadGraphModel` (tfjs parses model.json and the shards itself). */
export async function loadExport(files: readonly ExportFile[]): Promise<tf.GraphModel> {
  const byPath = new Map(files.map((file) => [file.path, file.bytes]));
  const modelJson = JSON.parse(new TextDecoder().decode(byPath.get('model.json'))) as tf.io.ModelJSON;
  const artifacts = await tf.io.getModelArtifactsForJSON(modelJson, async (manifest) => {
    const specs = manifest.flatMap((group) => group.weights);
    const shards = manifest.flatMap((group) => group.paths.map((path) => byPath.get(path) as Uint8Array));
    const data = new Uint8Array(shards.reduce((sum, shard) => sum + shard.byteLength, 0));
    let offset = 0;
    for (const shard of shards) {
      data.set(shard, offset);
      offset += shard.byteLength;
    }
    return [specs, data.buffer];
  });
  return tf.loadGraphModel({ load: async () => artifacts });
}

/** Seeded values in [-scale, scale), multiples of 1/64. */
export function seededValues(seed: number, count: number, scale = 1): number[] {
  let a = seed >>> 0;
  return Array.from({ length: count }, () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.round(((((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1) * scale * 64) / 64;
  });
}

/** x [-1, 2] → MatMul w → y, beside a string table (as a hash table's keys) and a complex64 constant nothing reads: model.json and its one shard `w.bin`. */
export function stringConstantModel(): { modelJson: Record<string, unknown>; bin: Uint8Array } {
  const words = ['whale', 'ship', 'Ahab'].map((w) => new TextEncoder().encode(w));
  const strings = new Uint8Array(words.reduce((n, w) => n + 4 + w.byteLength, 0));
  let at = 0;
  for (const word of words) {
    new DataView(strings.buffer).setUint32(at, word.byteLength, true);
    strings.set(word, at + 4);
    at += 4 + word.byteLength;
  }
  const w = new Uint8Array(Float32Array.from([1, 2, 3, 4]).buffer);
  const complex = new Uint8Array(Float32Array.from([1, -1, 0.5, 2]).buffer);
  const bin = new Uint8Array(w.byteLength + strings.byteLength + complex.byteLength);
  bin.set(w, 0);
  bin.set(strings, w.byteLength);
  bin.set(complex, w.byteLength + strings.byteLength);
  const modelJson = {
    format: 'graph-model',
    modelTopology: {
      node: [
        placeholder('x', [-1, 2]),
        constant('w', [2, 2]),
        constant('vocab', [3], 'DT_STRING'),
        constant('phase', [2], 'DT_COMPLEX64'),
        { name: 'y', op: 'MatMul', input: ['x', 'w'], attr: { ...T, transpose_a: { b: false }, transpose_b: { b: false } } },
      ],
      library: {},
      versions: { producer: 1286 },
    },
    weightsManifest: [
      {
        paths: ['w.bin'],
        weights: [
          { name: 'w', shape: [2, 2], dtype: 'float32' },
          { name: 'vocab', shape: [3], dtype: 'string' },
          { name: 'phase', shape: [2], dtype: 'complex64' },
        ],
      },
    ],
  };
  return { modelJson, bin };
}
