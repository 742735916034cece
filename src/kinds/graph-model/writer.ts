import { encodeFloat16 } from '../../io/export/float16';
import { DEFAULT_SHARD_BYTES, ExportError, type ExportFile, type WeightValuesMap, type WrittenWeightSpec } from '../../io/export/tfjs-layers-writer';
import { GENERATED_BY } from '../../io/export/version';
import { isRecord } from '../../io/input-file';
import type { StoredDtype } from '../../io/manifest';
import type { GraphTopology } from '../../io/tfjs-graph';
import type { OpenedModel } from '../../io/types';
import { GraphIndex } from './graph';
import { modelSignature, outputNames } from './inputs';
import { bypassTopology } from './residual';

export interface WriteGraphOptions {
  /** Store float32 weights as IEEE half floats (`quantization: {dtype: 'float16'}`); int32 and bool weights stay as they are. */
  float16?: boolean;
  /** Bytes per shard file (4 MiB, as the TF.js converter); the last shard holds the rest. */
  shardBytes?: number;
  /** Stored at `userDefinedMetadata.lopper`. */
  recipe?: unknown;
  /** Bypassed residual adds → their skip input: the adds' consumers read the skip input and the dead branches go. */
  bypass?: ReadonlyMap<string, string>;
}

const sameShape = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((d, i) => d === b[i]);

function dtypeOf(values: Float32Array | Int32Array | Uint8Array): StoredDtype {
  if (values instanceof Float32Array) return 'float32';
  return values instanceof Int32Array ? 'int32' : 'bool';
}

function metadata(source: OpenedModel, recipe: unknown): Record<string, unknown> | undefined {
  const existing: unknown = source.artifacts.userDefinedMetadata;
  const kept: Record<string, unknown> = isRecord(existing) ? { ...existing } : {};
  delete kept['lopper'];
  if (recipe !== undefined) kept['lopper'] = recipe;
  return Object.keys(kept).length > 0 ? kept : undefined;
}

/**
 * A TF.js GraphModel export: `model.json` (first) and its shards `group1-shard<i>of<n>.bin`. The
 * topology is the source's, rewired where adds were bypassed (their consumers read the skip input,
 * an add that is a model output becomes an Identity, nodes that no longer reach an output are
 * dropped with their weights). `weights` hold every weight of the source by name (its manifest
 * order is kept), in the dtype it has: Float32Array, Int32Array or Uint8Array (bool).
 */
export function writeGraphModel(source: OpenedModel, weights: WeightValuesMap, options: WriteGraphOptions = {}): { files: ExportFile[] } {
  if (source.format !== 'graph-model') throw new ExportError(`${source.name} is a ${source.format}, not a TF.js GraphModel`);
  const shardBytes = options.shardBytes ?? DEFAULT_SHARD_BYTES;
  if (!Number.isInteger(shardBytes) || shardBytes <= 0) throw new ExportError(`shardBytes must be a positive integer, got ${shardBytes}`);
  const graph = new GraphIndex(source.artifacts.modelTopology as unknown as GraphTopology);
  let topology: GraphTopology = graph.topology;
  let dead = new Set<string>();
  if (options.bypass !== undefined && options.bypass.size > 0) {
    for (const name of options.bypass.keys()) if (!graph.nodes.has(name)) throw new ExportError(`cannot bypass ${name}: no such node in ${source.name}`);
    const rewired = bypassTopology(graph, options.bypass, outputNames(graph, modelSignature(source.artifacts)), true);
    topology = rewired.topology;
    dead = rewired.deadNodes;
  }
  const float16 = options.float16 === true;
  const specs: WrittenWeightSpec[] = [];
  const chunks: Uint8Array[] = [];
  for (const spec of source.artifacts.weightSpecs ?? []) {
    if (dead.has(spec.name) && graph.nodes.get(spec.name)?.op === 'Const') continue;
    const weight = weights.get(spec.name);
    if (weight === undefined) throw new ExportError(`weight "${spec.name}" of ${source.name} is missing from the export`);
    if (!sameShape(weight.shape, spec.shape)) {
      throw new ExportError(`weight "${spec.name}" has shape [${weight.shape.join(', ')}] but ${source.name} needs [${spec.shape.join(', ')}]`);
    }
    const dtype = weight.opaque ?? dtypeOf(weight.values);
    if (dtype !== spec.dtype) throw new ExportError(`weight "${spec.name}" holds ${dtype} values but ${source.name} stores it as ${spec.dtype}`);
    const written: WrittenWeightSpec = { name: spec.name, shape: [...spec.shape], dtype };
    const stored = float16 && dtype === 'float32' && weight.values instanceof Float32Array ? encodeFloat16(weight.values) : weight.values;
    if (float16 && dtype === 'float32') written.quantization = { dtype: 'float16', original_dtype: 'float32' };
    specs.push(written);
    chunks.push(new Uint8Array(stored.buffer, stored.byteOffset, stored.byteLength));
  }
  const data = new Uint8Array(chunks.reduce((sum, chunk) => sum + chunk.byteLength, 0));
  let offset = 0;
  for (const chunk of chunks) {
    data.set(chunk, offset);
    offset += chunk.byteLength;
  }
  const count = Math.max(1, Math.ceil(data.byteLength / shardBytes));
  const shards: ExportFile[] = Array.from({ length: count }, (_, i) => ({
    path: `group1-shard${i + 1}of${count}.bin`,
    bytes: data.slice(i * shardBytes, Math.min(data.byteLength, (i + 1) * shardBytes)),
  }));

  const artifacts = source.artifacts;
  const modelJson: Record<string, unknown> = {
    format: 'graph-model',
    generatedBy: GENERATED_BY,
    convertedBy: artifacts.convertedBy ?? null,
    modelTopology: topology,
    weightsManifest: [{ paths: shards.map((shard) => shard.path), weights: specs }],
  };
  if (artifacts.signature !== undefined) modelJson['signature'] = artifacts.signature;
  const userDefinedMetadata = metadata(source, options.recipe);
  if (userDefinedMetadata !== undefined) modelJson['userDefinedMetadata'] = userDefinedMetadata;
  if (artifacts.modelInitializer !== undefined) modelJson['modelInitializer'] = artifacts.modelInitializer;
  if (artifacts.initializerSignature !== undefined) modelJson['initializerSignature'] = artifacts.initializerSignature;
  return { files: [{ path: 'model.json', bytes: new TextEncoder().encode(JSON.stringify(modelJson)) }, ...shards] };
}
