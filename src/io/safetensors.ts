import { decodeFloat16 } from './dequantize';
import { LopperInputError, UnsupportedDtypeError, listForMessage } from './errors';
import { basename, dirname, isRecord, parseJsonBytes } from './input-file';
import type { InputFile } from './types';
import type { NamedTensor } from '../core/transformer/parameters';

/**
 * safetensors: an 8-byte little-endian header length N, N bytes of JSON
 * `{name: {dtype, shape, data_offsets: [begin, end]}, __metadata__?: {string: string}}`,
 * then the raw little-endian data, offsets relative to its start.
 */

export type { NamedTensor };

export interface SafetensorsEntry {
  dtype: string;
  shape: number[];
  /** Byte range inside the data section. */
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  metadata: Record<string, string>;
  entries: Map<string, SafetensorsEntry>;
  /** Byte offset of the data section in the file. */
  dataStart: number;
}

export interface SafetensorsContents {
  metadata: Record<string, string>;
  tensors: Map<string, NamedTensor>;
}

/** A safetensors file (or its index) whose bytes or JSON do not have the expected structure. */
export class SafetensorsError extends LopperInputError {
  override name = 'SafetensorsError';
}

/** Bytes per element of the dtypes Lopper decodes. */
const DECODED_DTYPES: ReadonlyMap<string, number> = new Map([
  ['F32', 4],
  ['F16', 2],
  ['BF16', 2],
]);

/** Bytes per element of every dtype safetensors defines (for checking offsets of tensors that are skipped). */
const ELEMENT_BYTES: ReadonlyMap<string, number> = new Map([
  ...DECODED_DTYPES,
  ['F64', 8],
  ['I64', 8],
  ['U64', 8],
  ['I32', 4],
  ['U32', 4],
  ['I16', 2],
  ['U16', 2],
  ['I8', 1],
  ['U8', 1],
  ['BOOL', 1],
  ['F8_E4M3', 1],
  ['F8_E5M2', 1],
]);

const HEADER_LIMIT = 100_000_000;

function isShape(value: unknown): value is number[] {
  return Array.isArray(value) && value.every((d) => Number.isInteger(d) && (d as number) >= 0);
}

function parseEntry(file: string, name: string, value: unknown, dataBytes: number): SafetensorsEntry {
  const fail = (message: string, expected?: string, actual?: string): SafetensorsError => new SafetensorsError({ file, message: `tensor "${name}" ${message}`, expected, actual });
  if (!isRecord(value)) throw fail('is not an object in the header', '{dtype, shape, data_offsets}', JSON.stringify(value));
  const { dtype, shape, data_offsets: offsets } = value;
  if (typeof dtype !== 'string') throw fail('has no dtype', 'a dtype string such as "F32"', JSON.stringify(dtype));
  if (!isShape(shape)) throw fail('has an invalid shape', 'an array of non-negative integers', JSON.stringify(shape));
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isInteger(o) && (o as number) >= 0)) {
    throw fail('has invalid data_offsets', '[begin, end]', JSON.stringify(offsets));
  }
  const [begin, end] = offsets as [number, number];
  if (begin > end || end > dataBytes) {
    throw fail('has data_offsets out of range', `0 ≤ begin ≤ end ≤ ${dataBytes}`, `[${begin}, ${end}]`);
  }
  const elementBytes = ELEMENT_BYTES.get(dtype);
  if (elementBytes !== undefined) {
    const needed = shape.reduce((a, b) => a * b, 1) * elementBytes;
    if (end - begin !== needed) {
      throw fail(`of shape [${shape.join(', ')}] and dtype ${dtype} has the wrong byte count`, `${needed} bytes`, `${end - begin} bytes`);
    }
  }
  return { dtype, shape: [...shape], begin, end };
}

/** Reads and checks the header of a safetensors file. */
/** The format's rule: the tensors' byte ranges are disjoint and together cover the data buffer, with no holes. */
function checkRanges(file: string, entries: ReadonlyMap<string, SafetensorsEntry>, dataBytes: number): void {
  const ranges = [...entries].map(([name, entry]) => ({ name, begin: entry.begin, end: entry.end })).sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  let previous: string | undefined;
  for (const range of ranges) {
    if (range.begin < covered) {
      throw new SafetensorsError({
        file,
        message: `tensors "${previous}" and "${range.name}" share bytes`,
        expected: 'disjoint data_offsets',
        actual: `"${range.name}" begins at ${range.begin}, before ${covered}`,
      });
    }
    if (range.begin > covered) {
      throw new SafetensorsError({
        file,
        message: `bytes ${covered}…${range.begin} of the data belong to no tensor`,
        expected: 'data_offsets that cover the data without holes',
        actual: `a hole before "${range.name}"`,
      });
    }
    covered = range.end;
    previous = range.name;
  }
  if (covered !== dataBytes) {
    throw new SafetensorsError({
      file,
      message: `the tensors cover ${covered} of the ${dataBytes} data bytes`,
      expected: 'data_offsets that cover the data without holes',
      actual: `${dataBytes - covered} bytes after the last tensor`,
    });
  }
}

/** The header's byte length, from a file's first 8 bytes; checked against the file's size. */
export function safetensorsHeaderLength(bytes: Uint8Array, file: string, fileSize = bytes.byteLength): number {
  if (bytes.byteLength < 8 || fileSize < 8) {
    throw new SafetensorsError({ file, message: 'is too short for a safetensors header', expected: 'at least 8 bytes', actual: `${Math.min(bytes.byteLength, fileSize)} bytes` });
  }
  const headerLength = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  if (headerLength > fileSize - 8 || headerLength > HEADER_LIMIT) {
    throw new SafetensorsError({
      file,
      message: 'declares a header longer than the file',
      expected: `at most ${Math.min(fileSize - 8, HEADER_LIMIT)} bytes`,
      actual: `${headerLength} bytes`,
    });
  }
  return headerLength;
}

/**
 * Reads and checks the header of a safetensors file from `bytes`: the whole file, or (with
 * `fileSize`) only its first 8 + header-length bytes, for reading the tensors by byte range after.
 */
export function parseSafetensorsHeader(bytes: Uint8Array, file: string, fileSize = bytes.byteLength): SafetensorsHeader {
  const headerLength = safetensorsHeaderLength(bytes, file, fileSize);
  if (bytes.byteLength < 8 + headerLength) {
    throw new SafetensorsError({ file, message: 'was read short of its header', expected: `${8 + headerLength} bytes`, actual: `${bytes.byteLength} bytes` });
  }
  const json = parseJsonBytes(bytes.subarray(8, 8 + headerLength));
  if (!isRecord(json)) {
    throw new SafetensorsError({ file, message: 'has a header that is not a JSON object', expected: 'safetensors (8-byte length + JSON header)' });
  }
  const dataStart = 8 + headerLength;
  const dataBytes = fileSize - dataStart;
  const metadata: Record<string, string> = {};
  const entries = new Map<string, SafetensorsEntry>();
  for (const [name, value] of Object.entries(json)) {
    if (name === '__metadata__') {
      if (!isRecord(value)) throw new SafetensorsError({ file, message: '__metadata__ is not an object of strings' });
      for (const [key, text] of Object.entries(value)) if (typeof text === 'string') metadata[key] = text;
      continue;
    }
    entries.set(name, parseEntry(file, name, value, dataBytes));
  }
  checkRanges(file, entries, dataBytes);
  return { metadata, entries, dataStart };
}

/** Little-endian bytes of one tensor → float32 values. */
export function decodeEntry(bytes: Uint8Array, entry: SafetensorsEntry, dataStart: number, file: string, name: string): Float32Array {
  if (!DECODED_DTYPES.has(entry.dtype)) {
    throw new UnsupportedDtypeError(file, name, `has dtype ${entry.dtype}, which Lopper cannot read`, {
      expected: 'F32, F16 or BF16',
      actual: entry.dtype,
    });
  }
  const copy = bytes.slice(dataStart + entry.begin, dataStart + entry.end);
  if (entry.dtype === 'F32') return new Float32Array(copy.buffer);
  const halves = new Uint16Array(copy.buffer);
  if (entry.dtype === 'F16') return decodeFloat16(halves);
  const widened = new Uint32Array(halves.length);
  for (let i = 0; i < halves.length; i++) widened[i] = halves[i] << 16;
  return new Float32Array(widened.buffer);
}

export interface ReadSafetensorsOptions {
  /** Tensors to decode (all by default); the others are only checked in the header. */
  include?(name: string): boolean;
}

function decodeTensors(bytes: Uint8Array, header: SafetensorsHeader, file: string, options: ReadSafetensorsOptions): Map<string, NamedTensor> {
  const tensors = new Map<string, NamedTensor>();
  for (const [name, entry] of header.entries) {
    if (options.include && !options.include(name)) continue;
    tensors.set(name, { shape: entry.shape, values: decodeEntry(bytes, entry, header.dataStart, file, name) });
  }
  return tensors;
}

/** Parses a whole safetensors file, decoding F32/F16/BF16 tensors to float32. */
export function readSafetensors(bytes: Uint8Array, file: string, options: ReadSafetensorsOptions = {}): SafetensorsContents {
  const header = parseSafetensorsHeader(bytes, file);
  return { metadata: header.metadata, tensors: decodeTensors(bytes, header, file, options) };
}

export const SAFETENSORS_INDEX = 'model.safetensors.index.json';

/** `weight_map` of a `model.safetensors.index.json`: tensor name → shard file name. */
export function parseSafetensorsIndex(json: unknown, file: string): Map<string, string> {
  if (!isRecord(json) || !isRecord(json['weight_map'])) {
    throw new SafetensorsError({ file, message: 'has no weight_map', expected: '{"weight_map": {tensor: shard file}}' });
  }
  const map = new Map<string, string>();
  for (const [name, shard] of Object.entries(json['weight_map'])) {
    if (typeof shard !== 'string') {
      throw new SafetensorsError({ file, message: `weight_map["${name}"] is not a file name`, actual: JSON.stringify(shard) });
    }
    map.set(name, shard);
  }
  return map;
}

export interface CheckpointContents {
  tensors: Map<string, NamedTensor>;
  /** Tensor name → path of the file that holds it. */
  sources: Map<string, string>;
  /** The files read, index first, shards in index order. */
  files: string[];
}

function inFolder(files: readonly InputFile[], folder: string): InputFile[] {
  return files.filter((file) => dirname(file.path) === folder);
}

async function readShardedCheckpoint(indexFile: InputFile, files: readonly InputFile[], options: ReadSafetensorsOptions): Promise<CheckpointContents> {
  const weightMap = parseSafetensorsIndex(parseJsonBytes(await indexFile.bytes()), indexFile.path);
  const siblings = inFolder(files, dirname(indexFile.path));
  const shardNames = [...new Set(weightMap.values())];
  const tensors = new Map<string, NamedTensor>();
  const sources = new Map<string, string>();
  const read: string[] = [indexFile.path];
  for (const shardName of shardNames) {
    const shard = siblings.find((file) => basename(file.path) === shardName);
    if (shard === undefined) {
      throw new SafetensorsError({
        file: indexFile.path,
        message: `weight_map lists "${shardName}" but no such file was dropped (got: ${listForMessage(siblings.map((f) => basename(f.path)))})`,
        expected: shardName,
        mismatchInMessage: true,
      });
    }
    const listed = new Set([...weightMap].filter(([, s]) => s === shardName).map(([name]) => name));
    const bytes = await shard.bytes();
    const header = parseSafetensorsHeader(bytes, shard.path);
    const missing = [...listed].filter((name) => !header.entries.has(name));
    if (missing.length > 0) {
      throw new SafetensorsError({
        file: shard.path,
        message: `does not hold ${listForMessage(missing)}, which ${basename(indexFile.path)} places in it`,
        expected: [...listed].join(', '),
        actual: [...header.entries.keys()].join(', '),
        mismatchInMessage: true,
      });
    }
    const include = (name: string): boolean => listed.has(name) && (options.include?.(name) ?? true);
    for (const [name, tensor] of decodeTensors(bytes, header, shard.path, { include })) {
      tensors.set(name, tensor);
      sources.set(name, shard.path);
    }
    read.push(shard.path);
  }
  return { tensors, sources, files: read };
}

/**
 * Reads the weights of a Hugging Face checkpoint folder: the shards named by
 * `model.safetensors.index.json` if there is one, else every `*.safetensors` file in `folder`.
 */
export async function readSafetensorsCheckpoint(files: readonly InputFile[], folder: string, options: ReadSafetensorsOptions = {}): Promise<CheckpointContents> {
  const siblings = inFolder(files, folder);
  const index = siblings.find((file) => basename(file.path) === SAFETENSORS_INDEX);
  if (index !== undefined) return readShardedCheckpoint(index, files, options);
  const shards = siblings.filter((file) => file.path.toLowerCase().endsWith('.safetensors'));
  const tensors = new Map<string, NamedTensor>();
  const sources = new Map<string, string>();
  for (const shard of shards) {
    const contents = readSafetensors(await shard.bytes(), shard.path, options);
    for (const [name, tensor] of contents.tensors) {
      if (tensors.has(name)) {
        throw new SafetensorsError({ file: shard.path, message: `tensor "${name}" is also in another .safetensors file of the folder` });
      }
      tensors.set(name, tensor);
      sources.set(name, shard.path);
    }
  }
  return { tensors, sources, files: shards.map((file) => file.path) };
}

/** A float32 safetensors file of `tensors` (in map order), header padded to 8 bytes. */
export function encodeSafetensors(tensors: ReadonlyMap<string, NamedTensor>, metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata !== undefined) header['__metadata__'] = metadata;
  let offset = 0;
  for (const [name, tensor] of tensors) {
    const size = tensor.shape.reduce((a, b) => a * b, 1);
    if (size !== tensor.values.length) throw new Error(`tensor ${name}: shape [${tensor.shape.join(', ')}] needs ${size} values, got ${tensor.values.length}`);
    header[name] = { dtype: 'F32', shape: tensor.shape, data_offsets: [offset, offset + 4 * size] };
    offset += 4 * size;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (new TextEncoder().encode(json).length % 8)) % 8);
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let position = 8 + headerBytes.length;
  for (const tensor of tensors.values()) {
    out.set(new Uint8Array(tensor.values.buffer, tensor.values.byteOffset, tensor.values.byteLength), position);
    position += tensor.values.byteLength;
  }
  return out;
}
