import * as tf from '@tensorflow/tfjs';
import { isRecord } from '../../io/input-file';
import { inputNodeName } from '../../io/tfjs-graph';
import { shapeAttr, tfjsDtype, typeAttr } from './attrs';
import type { GraphIndex } from './graph';

/** Where an input's shape came from. */
export type InputShapeSource = 'signature' | 'placeholder' | 'default' | 'option';

/** One model input, with every dimension resolved. */
export interface GraphInputSpec {
  /** The Placeholder node fed with it. */
  name: string;
  /** The signature's key for it, when the model has a signature. */
  signatureKey?: string;
  dtype: 'float32' | 'int32' | 'bool';
  /** Resolved shape; `null` for a dynamic batch dimension (the first). */
  shape: (number | null)[];
  /** The declared batch size when the first dimension is fixed (e.g. 1), else `null`. */
  fixedBatch: number | null;
  /** As declared (`-1` unknown), or `undefined` for unknown rank. */
  declared: number[] | undefined;
  source: InputShapeSource;
  /** Which dimensions were filled in, e.g. `dims 1, 2 = 224 (image default)`. */
  defaulted?: string;
  /**
   * Int inputs: synthetic values are drawn from [0, `valueRange`) — the rows of the table the ids
   * index (a Gather's params, a OneHot's depth) where the model says, else 2 — and `valueNote`
   * says which, so that a user knows when a dataset is needed for meaningful values.
   */
  valueRange?: number;
  valueNote?: string;
}

export interface GraphInputOptions {
  /** Height and width for image inputs (rank 4, float) with dynamic spatial dimensions: 224. */
  imageSize?: number;
  /** Any other dynamic non-batch dimension: 16. */
  length?: number;
  /** Placeholder name (or signature key) → full shape without the batch, overriding everything. */
  shapes?: Readonly<Record<string, readonly number[]>>;
}

/** Values one sample of an input may hold when its shape is set by an option: 2²⁵ (128 MiB of float32). */
export const MAX_INPUT_VALUES = 2 ** 25;

/** An input shape given as an option that the model cannot take. */
export class InputShapeError extends Error {
  override name = 'InputShapeError';
}

const formatShape = (shape: readonly number[]): string => `[${shape.map((d) => (d < 0 ? '?' : String(d))).join(', ')}]`;

/** Throws unless `shape` (without the batch) can feed an input declared as `declared` (with the batch). */
function checkOverride(name: string, shape: readonly number[], declared: readonly number[] | undefined): void {
  if (shape.length === 0 || shape.some((d) => !Number.isInteger(d) || d < 1)) {
    throw new InputShapeError(`input ${name}: a shape is a list of positive integers per sample, got ${formatShape(shape)}`);
  }
  if (declared !== undefined) {
    const dims = declared.slice(1);
    if (dims.length !== shape.length) {
      throw new InputShapeError(`input ${name} takes ${formatShape(dims)} per sample (${dims.length} dimensions), got ${formatShape(shape)}`);
    }
    const fixed = dims.findIndex((d, i) => d >= 0 && d !== shape[i]);
    if (fixed >= 0) throw new InputShapeError(`input ${name}: dimension ${fixed + 1} is fixed at ${dims[fixed]} by the model, got ${shape[fixed]}`);
  }
  const values = shape.reduce((a, b) => a * b, 1);
  if (values > MAX_INPUT_VALUES) throw new InputShapeError(`input ${name}: ${formatShape(shape)} is ${values} values per sample, more than the ${MAX_INPUT_VALUES} Lopper allows`);
}

interface SignatureEntry {
  key: string;
  name: string;
  dtype?: string;
  shape?: number[];
}

function signatureEntries(signature: unknown, side: 'inputs' | 'outputs'): SignatureEntry[] {
  if (!isRecord(signature) || !isRecord(signature[side])) return [];
  return Object.entries(signature[side] as Record<string, unknown>).flatMap(([key, value]) => {
    if (!isRecord(value) || typeof value['name'] !== 'string') return [];
    const entry: SignatureEntry = { key, name: value['name'] };
    if (typeof value['dtype'] === 'string') entry.dtype = value['dtype'];
    const tensorShape = value['tensorShape'];
    if (isRecord(tensorShape) && tensorShape['unknownRank'] !== true) {
      const dims = tensorShape['dim'];
      entry.shape = Array.isArray(dims) ? dims.map((d: unknown) => (isRecord(d) && d['size'] !== undefined ? Number(d['size']) : -1)) : [];
    }
    return [entry];
  });
}

/** The signature as tfjs-converter reads it: `signature`, or `userDefinedMetadata.signature` when that is set. */
export function modelSignature(artifacts: tf.io.ModelArtifacts): unknown {
  const metadata: unknown = artifacts.userDefinedMetadata;
  if (isRecord(metadata) && metadata['signature'] != null) return metadata['signature'];
  return artifacts.signature;
}

/** The model's outputs as `execute` names them: signature output names, else nodes nobody reads. */
export function outputNames(graph: GraphIndex, signature: unknown): string[] {
  const entries = signatureEntries(signature, 'outputs').filter((entry) => graph.nodes.has(inputNodeName(entry.name)));
  if (entries.length > 0) return entries.map((entry) => entry.name);
  return graph.topology.node.filter((node) => (graph.consumers.get(node.name) ?? []).length === 0 && node.op !== 'Const' && node.op !== 'NoOp').map((node) => node.name);
}

function merged(signatureShape: number[] | undefined, placeholderShape: number[] | undefined): number[] | undefined {
  if (signatureShape === undefined) return placeholderShape;
  if (placeholderShape === undefined || placeholderShape.length !== signatureShape.length) return signatureShape;
  return signatureShape.map((d, i) => (d >= 0 ? d : placeholderShape[i]));
}

/**
 * The model's inputs (signature inputs, else its Placeholders), each dimension resolved: as declared
 * where it is known, else an override, else a default — 224×224 (×3 channels) for image inputs,
 * `length` otherwise. The first dimension is the batch when it is dynamic.
 */
export function graphInputSpecs(graph: GraphIndex, signature: unknown, options: GraphInputOptions = {}): GraphInputSpec[] {
  const imageSize = options.imageSize ?? 224;
  const length = options.length ?? 16;
  const fromSignature = signatureEntries(signature, 'inputs').filter((entry) => graph.nodes.get(inputNodeName(entry.name))?.op === 'Placeholder');
  const placeholders =
    fromSignature.length > 0
      ? fromSignature.map((entry) => ({ node: graph.node(inputNodeName(entry.name)), entry }))
      : graph.topology.node.filter((node) => node.op === 'Placeholder').map((node) => ({ node, entry: undefined }));
  const known = new Set(placeholders.flatMap(({ node, entry }) => [node.name, ...(entry ? [entry.key] : [])]));
  const unknown = Object.keys(options.shapes ?? {}).filter((name) => !known.has(name));
  if (unknown.length > 0) {
    throw new InputShapeError(
      `no input named ${unknown.join(', ')}; the model's inputs are ${placeholders.map(({ node, entry }) => entry?.key ?? node.name).join(', ') || 'none'}`,
    );
  }
  return placeholders.map(({ node, entry }) => {
    const dtype = tfjsDtype(entry?.dtype ?? typeAttr(node, 'dtype')) ?? 'float32';
    if (dtype === 'string') throw new Error(`input ${node.name} takes strings, which Lopper cannot synthesise`);
    const placeholderShape = shapeAttr(node, 'shape');
    const declared = merged(entry?.shape, placeholderShape);
    const override = options.shapes?.[node.name] ?? (entry === undefined ? undefined : options.shapes?.[entry.key]);
    const spec: GraphInputSpec = { name: node.name, dtype, shape: [], fixedBatch: null, declared, source: entry?.shape !== undefined ? 'signature' : 'placeholder' };
    if (entry !== undefined) spec.signatureKey = entry.key;
    if (override !== undefined) {
      checkOverride(entry?.key ?? node.name, override, declared);
      const first = declared?.[0];
      spec.fixedBatch = first !== undefined && first > 0 ? first : null;
      spec.shape = [spec.fixedBatch, ...override];
      spec.source = 'option';
      return spec;
    }
    const dims = declared ?? (dtype === 'float32' ? [-1, -1, -1, 3] : [-1, -1]);
    if (declared === undefined) spec.source = 'default';
    const filled: string[] = [];
    spec.fixedBatch = dims.length > 0 && dims[0] > 0 ? dims[0] : null;
    spec.shape = dims.map((d, i) => {
      if (i === 0) return d > 0 ? d : null;
      if (d >= 0) return d;
      const image = dims.length === 4 && dtype === 'float32';
      const value = image ? (i === 3 ? 3 : imageSize) : length;
      filled.push(`dim ${i} = ${value}${image ? (i === 3 ? ' (channels default)' : ' (image default)') : ' (length default)'}`);
      return value;
    });
    if (filled.length > 0) {
      spec.defaulted = filled.join(', ');
      if (spec.source !== 'default') spec.source = 'default';
    }
    return spec;
  });
}

/** Ops an id passes through unchanged on its way to the table it indexes. */
const ID_PASSTHROUGH = new Set(['Identity', 'Cast', 'Reshape', 'ExpandDims', 'Squeeze', 'StridedSlice', 'Slice', 'Transpose', 'Tile']);
const GATHER_OPS = new Set(['GatherV2', 'Gather', 'ResourceGather']);

/**
 * The number of distinct ids an int input may hold, as the model says it: the rows of the
 * smallest constant table a Gather looks the input up in, or the depth of a OneHot it feeds
 * (following Identity, Cast, Reshape and similar); `undefined` when nothing says.
 */
export function idRange(
  graph: GraphIndex,
  input: string,
  constantShape: (name: string) => readonly number[] | undefined,
  intValues: (name: string) => readonly number[] | undefined,
): { range: number; why: string } | undefined {
  let best: { range: number; why: string } | undefined;
  const seen = new Set([input]);
  const stack = [input];
  while (stack.length > 0) {
    const current = stack.pop() as string;
    for (const consumer of graph.consumers.get(current) ?? []) {
      const node = graph.node(consumer);
      const inputs = graph.dataInputs(consumer).map(inputNodeName);
      let found: { range: number; why: string } | undefined;
      if (GATHER_OPS.has(node.op) && inputs[1] === current) {
        const table = graph.constantBehind(graph.dataInputs(consumer)[0] ?? '');
        const rows = table === undefined ? undefined : constantShape(table)?.[0];
        if (rows !== undefined && rows > 0) found = { range: rows, why: `the ${rows} rows of ${table} that ${node.op} ${consumer} looks it up in` };
      } else if (node.op === 'OneHot' && inputs[0] === current) {
        const depth = graph.constantBehind(graph.dataInputs(consumer)[1] ?? '');
        const value = depth === undefined ? undefined : intValues(depth)?.[0];
        if (value !== undefined && value > 0) found = { range: value, why: `the depth ${value} of OneHot ${consumer}` };
      } else if (ID_PASSTHROUGH.has(node.op) && inputs[0] === current && !seen.has(consumer)) {
        seen.add(consumer);
        stack.push(consumer);
      }
      if (found !== undefined && (best === undefined || found.range < best.range)) best = found;
    }
  }
  return best;
}

/** Sets an int input's synthetic value range from what the model says (`idRange`), or to 0/1 with a note that a dataset is needed. */
export function withValueRange(spec: GraphInputSpec, range: { range: number; why: string } | undefined): GraphInputSpec {
  if (spec.dtype !== 'int32') return spec;
  if (range === undefined)
    return { ...spec, valueRange: 2, valueNote: 'synthetic values are 0 and 1: the model names no range for this int input, so drop a dataset for meaningful ones' };
  return { ...spec, valueRange: range.range, valueNote: `synthetic ids in [0, ${range.range}): ${range.why}` };
}

/** A seeded generator (mulberry32) for synthetic inputs. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Synthetic values for one input and `batch` samples: uniform in [0, 1) for floats, integers in
 * [0, `intMax`) (the input's `valueRange`, else 2) for int inputs, `false`/`true` at random for bool ones.
 */
export function syntheticInput(spec: GraphInputSpec, batch: number, seed = 0, intMax = spec.valueRange ?? 2): tf.Tensor {
  const shape = spec.shape.map((d, i) => (i === 0 ? batch : (d ?? 1)));
  const size = shape.reduce((a, b) => a * b, 1);
  const next = random(seed);
  if (spec.dtype === 'float32') return tf.tensor(Float32Array.from({ length: size }, next), shape, 'float32');
  if (spec.dtype === 'int32')
    return tf.tensor(
      Int32Array.from({ length: size }, () => Math.floor(next() * intMax)),
      shape,
      'int32',
    );
  return tf.tensor(
    Uint8Array.from({ length: size }, () => (next() < 0.5 ? 0 : 1)),
    shape,
    'bool',
  );
}
