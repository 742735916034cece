import type * as tf from '@tensorflow/tfjs';
import { dequantizeWeights } from '../dequantize';
import { isRecord } from '../input-file';
import { elementCount, type OpaqueDtype, type StoredDtype, type WeightSpec } from '../manifest';
import type { OpenedModel } from '../types';
import { encodeFloat16 } from './float16';
import { GENERATED_BY } from './version';

/** One weight's values, row-major in its Keras layout. Float32Array → float32, Int32Array → int32, Uint8Array → bool. */
export interface WeightValues {
  shape: number[];
  values: Float32Array | Int32Array | Uint8Array;
  /** A GraphModel's string or complex64 weight: `values` are its bytes as stored, carried along untouched. */
  opaque?: OpaqueDtype;
}

export type WeightValuesMap = ReadonlyMap<string, WeightValues>;

export interface ExportFile {
  /** Path inside the export (no folders): `model.json`, `group1-shard1of2.bin`, `recipe.json`. */
  path: string;
  bytes: Uint8Array;
}

export interface WriteLayersOptions {
  /** Store float32 weights as IEEE half floats (`quantization: {dtype: 'float16'}`), as `--quantize_float16` does. */
  float16?: boolean;
  /** Bytes per shard file; the last shard holds the rest. 4 MiB, as the TF.js converter. */
  shardBytes?: number;
  /** Stored at `userDefinedMetadata.lopper`. */
  recipe?: unknown;
  /** A replacement Keras model config `{class_name, config, ...}`, when layers were removed or shrunk. */
  topology?: unknown;
}

/** A weight of the model.json Lopper writes; the TF.js converter's float16 entry carries `original_dtype`. */
export interface WrittenWeightSpec {
  name: string;
  shape: number[];
  dtype: StoredDtype;
  quantization?: { dtype: 'float16'; original_dtype: 'float32' };
}

export const DEFAULT_SHARD_BYTES = 4 * 1024 * 1024;

/** The export is inconsistent (a weight missing, misshapen or of an unsupported dtype); nothing is written. */
export class ExportError extends Error {
  override name = 'ExportError';
}

interface DecodedWeight {
  name: string;
  shape: number[];
  dtype: StoredDtype;
  values: Float32Array | Int32Array | Uint8Array;
}

function dtypeOf(values: WeightValues['values']): StoredDtype {
  if (values instanceof Float32Array) return 'float32';
  return values instanceof Int32Array ? 'int32' : 'bool';
}

function joinBuffers(data: tf.io.WeightData): Uint8Array {
  if (!Array.isArray(data)) return new Uint8Array(data);
  const out = new Uint8Array(data.reduce((sum, buffer) => sum + buffer.byteLength, 0));
  let offset = 0;
  for (const buffer of data) {
    out.set(new Uint8Array(buffer), offset);
    offset += buffer.byteLength;
  }
  return out;
}

function typedValues(dtype: StoredDtype, buffer: ArrayBuffer, byteOffset: number, count: number): DecodedWeight['values'] {
  if (dtype === 'float32') return new Float32Array(buffer.slice(byteOffset, byteOffset + count * 4));
  if (dtype === 'int32') return new Int32Array(buffer.slice(byteOffset, byteOffset + count * 4));
  return new Uint8Array(buffer.slice(byteOffset, byteOffset + count));
}

/** The weights held by tfjs artifacts (quantized ones decoded), by name. */
function weightsOfArtifacts(artifacts: tf.io.ModelArtifacts): Map<string, WeightValues> {
  const specs = (artifacts.weightSpecs ?? []).map((entry): WeightSpec => {
    if (entry.dtype !== 'float32' && entry.dtype !== 'int32' && entry.dtype !== 'bool') {
      throw new ExportError(`weight "${entry.name}" has dtype ${entry.dtype}; a LayersModel export holds float32, int32 or bool weights`);
    }
    const spec: WeightSpec = { name: entry.name, shape: [...entry.shape], dtype: entry.dtype };
    if (entry.quantization !== undefined) spec.quantization = { ...entry.quantization };
    return spec;
  });
  const decoded = dequantizeWeights(specs, joinBuffers(artifacts.weightData ?? new ArrayBuffer(0)));
  const weights = new Map<string, WeightValues>();
  let offset = 0;
  for (const spec of decoded.specs) {
    const count = elementCount(spec.shape);
    weights.set(spec.name, { shape: spec.shape, values: typedValues(spec.dtype, decoded.data, offset, count) });
    offset += count * (spec.dtype === 'bool' ? 1 : 4);
  }
  return weights;
}

function isWeightMap(weights: WeightValuesMap | tf.io.ModelArtifacts): weights is WeightValuesMap {
  return weights instanceof Map;
}

const sameShape = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((d, i) => d === b[i]);

/**
 * The weights to write, in the source manifest's order (new names after, in the order given).
 * Without a replacement topology every source weight must be there with its shape.
 */
function orderedWeights(source: OpenedModel, weights: WeightValuesMap, topologyReplaced: boolean): DecodedWeight[] {
  const original = source.artifacts.weightSpecs ?? [];
  const originalNames = new Set(original.map((spec) => spec.name));
  if (!topologyReplaced) {
    for (const spec of original) {
      const weight = weights.get(spec.name);
      if (weight === undefined) throw new ExportError(`weight "${spec.name}" of ${source.name} is missing from the export`);
      if (!sameShape(weight.shape, spec.shape)) {
        throw new ExportError(
          `weight "${spec.name}" has shape [${weight.shape.join(', ')}] but the topology of ${source.name} needs [${spec.shape.join(', ')}]; pass the shrunk topology`,
        );
      }
    }
  }
  const names = [...original.map((spec) => spec.name).filter((name) => weights.has(name)), ...[...weights.keys()].filter((name) => !originalNames.has(name))];
  return names.map((name) => {
    const { shape, values } = weights.get(name) as WeightValues;
    if (values.length !== elementCount(shape)) {
      throw new ExportError(`weight "${name}" has ${values.length} values but shape [${shape.join(', ')}] needs ${elementCount(shape)}`);
    }
    return { name, shape: [...shape], dtype: dtypeOf(values), values };
  });
}

function storedBytes(weight: DecodedWeight, float16: boolean): Uint8Array {
  const values = float16 && weight.values instanceof Float32Array ? encodeFloat16(weight.values) : weight.values;
  return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
}

function splitShards(data: Uint8Array, shardBytes: number): ExportFile[] {
  const count = Math.ceil(data.byteLength / shardBytes);
  return Array.from({ length: count }, (_, i) => ({
    path: `group1-shard${i + 1}of${count}.bin`,
    bytes: data.slice(i * shardBytes, Math.min(data.byteLength, (i + 1) * shardBytes)),
  }));
}

function metadata(source: OpenedModel, recipe: unknown): Record<string, unknown> | undefined {
  const existing: unknown = source.artifacts.userDefinedMetadata;
  const kept: Record<string, unknown> = isRecord(existing) ? { ...existing } : {};
  delete kept['lopper'];
  if (recipe !== undefined) kept['lopper'] = recipe;
  return Object.keys(kept).length > 0 ? kept : undefined;
}

/**
 * A TF.js LayersModel export: `model.json` (first) and its shards, weights in the source
 * manifest's order, laid out and named as `tensorflowjs_converter` does (one group,
 * `group1-shard<i>of<n>.bin`). `weights` are the values to store, by manifest name.
 */
export function writeLayersModel(source: OpenedModel, weights: WeightValuesMap | tf.io.ModelArtifacts, options: WriteLayersOptions = {}): { files: ExportFile[] } {
  if (source.format !== 'layers-model') throw new ExportError(`${source.name} is a ${source.format}, not a TF.js LayersModel`);
  const shardBytes = options.shardBytes ?? DEFAULT_SHARD_BYTES;
  if (!Number.isInteger(shardBytes) || shardBytes <= 0) throw new ExportError(`shardBytes must be a positive integer, got ${shardBytes}`);
  const values = isWeightMap(weights) ? weights : weightsOfArtifacts(weights);
  const ordered = orderedWeights(source, values, options.topology !== undefined);
  const float16 = options.float16 === true;

  const chunks = ordered.map((weight) => storedBytes(weight, float16));
  const data = new Uint8Array(chunks.reduce((sum, chunk) => sum + chunk.byteLength, 0));
  let offset = 0;
  for (const chunk of chunks) {
    data.set(chunk, offset);
    offset += chunk.byteLength;
  }
  const shards = splitShards(data, shardBytes);
  const specs = ordered.map((weight): WrittenWeightSpec => {
    const spec: WrittenWeightSpec = { name: weight.name, shape: weight.shape, dtype: weight.dtype };
    if (float16 && weight.dtype === 'float32') spec.quantization = { dtype: 'float16', original_dtype: 'float32' };
    return spec;
  });

  const modelJson: Record<string, unknown> = {
    format: 'layers-model',
    generatedBy: GENERATED_BY,
    convertedBy: null,
    modelTopology: options.topology ?? source.artifacts.modelTopology,
    weightsManifest: [{ paths: shards.map((shard) => shard.path), weights: specs }],
  };
  if (source.artifacts.trainingConfig !== undefined) modelJson['trainingConfig'] = source.artifacts.trainingConfig;
  const userDefinedMetadata = metadata(source, options.recipe);
  if (userDefinedMetadata !== undefined) modelJson['userDefinedMetadata'] = userDefinedMetadata;
  const json = new TextEncoder().encode(JSON.stringify(modelJson));
  return { files: [{ path: 'model.json', bytes: json }, ...shards] };
}
