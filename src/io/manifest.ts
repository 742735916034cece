import { ManifestError, UnsupportedDtypeError, UnsupportedFormatError } from './errors';
import { isRecord } from './input-file';

export type StoredDtype = 'float32' | 'int32' | 'bool' | OpaqueDtype;
/** Dtypes GraphModels may hold (hash-table keys, complex constants) that Lopper carries along untouched. */
export type OpaqueDtype = 'string' | 'complex64';
export type QuantizationDtype = 'uint8' | 'uint16' | 'float16';

export interface WeightQuantization {
  dtype: QuantizationDtype;
  scale?: number;
  min?: number;
}

/** One entry of `weightsManifest[i].weights`, validated. */
export interface WeightSpec {
  name: string;
  shape: number[];
  dtype: StoredDtype;
  quantization?: WeightQuantization;
  group?: 'model' | 'optimizer';
}

export interface WeightsGroup {
  paths: string[];
  weights: WeightSpec[];
}

/** The Keras model config as tfjs-layers reads it: `{class_name, config}` plus version tags. */
export interface KerasModelTopology {
  class_name: string;
  config: unknown;
  keras_version?: string;
  backend?: string;
}

/** A validated LayersModel `model.json`, normalised so `modelTopology` is the model config. */
export interface ModelJson {
  format: 'layers-model';
  modelTopology: KerasModelTopology;
  weightsManifest: WeightsGroup[];
  /** True for files written before `format` existed (Keras converter output with `model_config`). */
  legacy: boolean;
  trainingConfig?: unknown;
  generatedBy?: string;
  convertedBy?: string | null;
  userDefinedMetadata?: Record<string, unknown>;
}

export type ModelJsonKind = 'layers-model' | 'graph-model';

/** Bytes per element; a string element takes its 4-byte length and then its bytes, so 4 is its least. */
const BYTES_PER_ELEMENT: Record<StoredDtype | QuantizationDtype, number> = {
  float32: 4,
  int32: 4,
  bool: 1,
  complex64: 8,
  string: 4,
  uint8: 1,
  uint16: 2,
  float16: 2,
};

/** The most elements one weight may have: tfjs indexes tensors with 32-bit integers. */
export const MAX_WEIGHT_ELEMENTS = 2 ** 31 - 1;

/** What a parsed JSON file is, judged by its structure; `undefined` for anything else. */
export function modelJsonKind(json: unknown): ModelJsonKind | undefined {
  if (!isRecord(json) || !isRecord(json['modelTopology'])) return undefined;
  const format = json['format'];
  if (format === 'graph-model') return 'graph-model';
  if (format === 'layers-model') return 'layers-model';
  if (format !== undefined) return undefined;
  const topology = json['modelTopology'];
  if (Array.isArray(topology['node'])) return 'graph-model';
  if ('keras_version' in topology || 'model_config' in topology || 'class_name' in topology) return 'layers-model';
  return undefined;
}

export function elementCount(shape: readonly number[]): number {
  return shape.reduce((product, dim) => product * dim, 1);
}

/**
 * Bytes a weight occupies in the shards starting at `offset` of `data`: elements × bytes of the
 * stored dtype, or for strings each element's 4-byte little-endian length plus its bytes (as tfjs
 * writes them). Throws a RangeError when a string runs past the end of `data`.
 */
export function weightByteLengthAt(spec: Pick<WeightSpec, 'name' | 'shape' | 'dtype' | 'quantization'>, data: Uint8Array, offset: number): number {
  if (spec.dtype !== 'string' || spec.quantization !== undefined) return storedByteLength(spec);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  let at = offset;
  for (let i = 0, n = elementCount(spec.shape); i < n; i++) {
    if (at + 4 > data.byteLength) throw new RangeError(`string weight "${spec.name}" runs past the end of the weight data (${data.byteLength} bytes)`);
    at += 4 + view.getUint32(at, true);
  }
  if (at > data.byteLength) throw new RangeError(`string weight "${spec.name}" runs past the end of the weight data (${data.byteLength} bytes)`);
  return at - offset;
}

/** True when a group's byte count is known only once its strings are read. */
export function hasStrings(weights: readonly Pick<WeightSpec, 'dtype' | 'quantization'>[]): boolean {
  return weights.some((w) => w.dtype === 'string' && w.quantization === undefined);
}

/** Bytes a weight occupies in the shards: elements × bytes of the stored (quantized, if so) dtype; for strings the least they take. */
export function storedByteLength(spec: Pick<WeightSpec, 'shape' | 'dtype'> & Partial<WeightSpec>): number {
  return elementCount(spec.shape) * BYTES_PER_ELEMENT[spec.quantization?.dtype ?? spec.dtype];
}

/** A GraphModel handed to the LayersModel parser: the graph reader (`tfjs-graph.ts`) opens those. */
export function graphModelNotLayers(file: string): UnsupportedFormatError {
  return new UnsupportedFormatError({
    file,
    message: 'is a TF.js GraphModel, not a LayersModel; open it with the GraphModel reader',
    expected: 'format "layers-model"',
    actual: 'format "graph-model"',
  });
}

/** Validates a parsed model.json (`file` names it in errors) and normalises legacy layouts. */
export function parseModelJson(json: unknown, file: string): ModelJson {
  if (!isRecord(json)) {
    throw new ManifestError({ file, message: 'is not a JSON object', expected: 'a model.json object', actual: describe(json) });
  }
  const kind = modelJsonKind(json);
  if (kind === 'graph-model') throw graphModelNotLayers(file);
  const topology = json['modelTopology'];
  if (!isRecord(topology)) {
    throw new ManifestError({ file, message: 'has no modelTopology', expected: 'a modelTopology object', actual: describe(topology) });
  }
  if (kind === undefined) {
    throw new ManifestError({
      file,
      message: 'is not a TF.js LayersModel',
      expected: 'format "layers-model", or a modelTopology with keras_version or model_config',
      actual: json['format'] === undefined ? `modelTopology keys: ${Object.keys(topology).join(', ')}` : `format ${JSON.stringify(json['format'])}`,
    });
  }
  const modelConfig = isRecord(topology['model_config']) ? topology['model_config'] : topology;
  const className = modelConfig['class_name'];
  if (typeof className !== 'string' || !('config' in modelConfig)) {
    throw new ManifestError({
      file,
      message: 'modelTopology has no Keras model config',
      expected: '{class_name, config}',
      actual: `keys: ${Object.keys(modelConfig).join(', ') || 'none'}`,
    });
  }
  const modelTopology: KerasModelTopology = { class_name: className, config: modelConfig['config'] };
  const kerasVersion = modelConfig['keras_version'] ?? topology['keras_version'];
  const backend = modelConfig['backend'] ?? topology['backend'];
  if (typeof kerasVersion === 'string') modelTopology.keras_version = kerasVersion;
  if (typeof backend === 'string') modelTopology.backend = backend;

  const parsed: ModelJson = {
    format: 'layers-model',
    modelTopology,
    weightsManifest: parseWeightsManifest(json['weightsManifest'], file),
    legacy: json['format'] === undefined,
  };
  const trainingConfig = json['trainingConfig'] ?? topology['training_config'];
  if (trainingConfig !== undefined) parsed.trainingConfig = trainingConfig;
  if (typeof json['generatedBy'] === 'string') parsed.generatedBy = json['generatedBy'];
  const convertedBy = json['convertedBy'];
  if (typeof convertedBy === 'string' || convertedBy === null) parsed.convertedBy = convertedBy;
  if (isRecord(json['userDefinedMetadata'])) parsed.userDefinedMetadata = json['userDefinedMetadata'];
  return parsed;
}

/** Validates `weightsManifest` (shared by the LayersModel and GraphModel readers). */
/** `opaque`: string and complex64 weights are accepted (GraphModels). */
export function parseWeightsManifest(manifest: unknown, file: string, options: { opaque?: boolean } = {}): WeightsGroup[] {
  if (!Array.isArray(manifest)) {
    throw new ManifestError({
      file,
      message: 'has no weightsManifest list',
      expected: 'weightsManifest: [{paths, weights}]',
      actual: describe(manifest),
    });
  }
  const seen = new Set<string>();
  return manifest.map((group: unknown, index) => {
    const where = `weightsManifest[${index}]`;
    if (!isRecord(group) || !Array.isArray(group['paths']) || !Array.isArray(group['weights'])) {
      throw new ManifestError({
        file,
        message: `${where} is not a weight group`,
        expected: '{paths: string[], weights: [...]}',
        actual: describe(group),
      });
    }
    const paths = group['paths'].map((path: unknown) => {
      if (typeof path !== 'string' || path === '') {
        throw new ManifestError({ file, message: `${where}.paths holds a non-path`, expected: 'a file name', actual: describe(path) });
      }
      return path;
    });
    const weights = group['weights'].map((entry: unknown) => parseWeightSpec(entry, `${where}.weights`, file, options.opaque === true));
    for (const weight of weights) {
      if (seen.has(weight.name)) throw new ManifestError({ file, message: `weight "${weight.name}" is listed twice` });
      seen.add(weight.name);
    }
    if (paths.length === 0 && weights.some((w) => storedByteLength(w) > 0)) {
      throw new ManifestError({
        file,
        message: `${where} lists weights but no shard paths`,
        expected: 'at least one path',
        actual: 'paths: []',
      });
    }
    return { paths, weights };
  });
}

function parseWeightSpec(entry: unknown, where: string, file: string, opaque: boolean): WeightSpec {
  if (!isRecord(entry) || typeof entry['name'] !== 'string') {
    throw new ManifestError({
      file,
      message: `${where} holds an entry without a name`,
      expected: '{name, shape, dtype}',
      actual: describe(entry),
    });
  }
  const name = entry['name'];
  const shape = entry['shape'];
  if (!Array.isArray(shape) || !shape.every((dim: unknown) => typeof dim === 'number' && Number.isInteger(dim) && dim >= 0)) {
    throw new ManifestError({
      file,
      message: `weight "${name}" has an invalid shape`,
      expected: 'a list of non-negative integers',
      actual: JSON.stringify(shape),
    });
  }
  const elements = elementCount(shape as number[]);
  if (elements > MAX_WEIGHT_ELEMENTS) {
    throw new ManifestError({
      file,
      message: `weight "${name}" has shape [${shape.join(', ')}], more elements than one weight can hold`,
      expected: `at most ${MAX_WEIGHT_ELEMENTS} elements`,
      actual: String(elements),
    });
  }
  const dtype = entry['dtype'];
  const opaqueDtype = opaque && (dtype === 'string' || dtype === 'complex64');
  if (dtype !== 'float32' && dtype !== 'int32' && dtype !== 'bool' && !opaqueDtype) {
    throw new UnsupportedDtypeError(file, name, 'has an unsupported dtype', {
      expected: opaque ? 'float32, int32, bool, string or complex64' : 'float32, int32 or bool',
      actual: String(dtype),
    });
  }
  const spec: WeightSpec = { name, shape: shape as number[], dtype };
  const group = entry['group'];
  if (group === 'model' || group === 'optimizer') spec.group = group;
  if (entry['quantization'] !== undefined) spec.quantization = parseQuantization(entry['quantization'], spec, file);
  return spec;
}

function parseQuantization(value: unknown, spec: WeightSpec, file: string): WeightQuantization {
  if (!isRecord(value)) {
    throw new UnsupportedDtypeError(file, spec.name, 'has an unreadable quantization', { expected: '{dtype, scale?, min?}', actual: describe(value) });
  }
  const dtype = value['dtype'];
  if (dtype !== 'uint8' && dtype !== 'uint16' && dtype !== 'float16') {
    throw new UnsupportedDtypeError(file, spec.name, 'has an unsupported quantization dtype', { expected: 'uint8, uint16 or float16', actual: String(dtype) });
  }
  if (dtype === 'float16') {
    if (spec.dtype !== 'float32') {
      throw new UnsupportedDtypeError(file, spec.name, 'is float16-quantized but not a float32 weight', { expected: 'dtype float32', actual: spec.dtype });
    }
    return { dtype };
  }
  if (spec.dtype === 'bool') {
    throw new UnsupportedDtypeError(file, spec.name, `is a bool weight quantized to ${dtype}`, { expected: 'float32 or int32', actual: 'bool' });
  }
  const scale = value['scale'];
  const min = value['min'];
  if (typeof scale !== 'number' || typeof min !== 'number' || !Number.isFinite(scale) || !Number.isFinite(min)) {
    throw new UnsupportedDtypeError(file, spec.name, `is ${dtype}-quantized without a numeric scale and min`, {
      expected: 'numbers scale and min',
      actual: `scale ${JSON.stringify(scale)}, min ${JSON.stringify(min)}`,
    });
  }
  return { dtype, scale, min };
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  if (value === null) return 'null';
  return typeof value === 'object' ? 'an object' : JSON.stringify(value);
}
