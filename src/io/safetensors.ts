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

/** The JSON header's byte length from the file's first 8 bytes, checked against the file's size. */
function headerLengthOf(prefix: Uint8Array, fileBytes: number, file: string): number {
  if (fileBytes < 8 || prefix.byteLength < 8) {
    throw new SafetensorsError({ file, message: 'is too short for a safetensors header', expected: 'at least 8 bytes', actual: `${fileBytes} bytes` });
  }
  const view = new DataView(prefix.buffer, prefix.byteOffset, prefix.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  if (headerLength > fileBytes - 8 || headerLength > HEADER_LIMIT) {
    throw new SafetensorsError({
      file,
      message: 'declares a header longer than the file',
      expected: `at most ${Math.min(fileBytes - 8, HEADER_LIMIT)} bytes`,
      actual: `${headerLength} bytes`,
    });
  }
  return headerLength;
}

/** The header of a file of `fileBytes` bytes from its start (`prefix`: at least the length and the JSON). */
function headerOf(prefix: Uint8Array, fileBytes: number, file: string): SafetensorsHeader {
  const headerLength = headerLengthOf(prefix, fileBytes, file);
  const json = parseJsonBytes(prefix.subarray(8, 8 + headerLength));
  if (!isRecord(json)) {
    throw new SafetensorsError({ file, message: 'has a header that is not a JSON object', expected: 'safetensors (8-byte length + JSON header)' });
  }
  const dataStart = 8 + headerLength;
  const dataBytes = fileBytes - dataStart;
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

/**
 * Reads and checks the header of a safetensors file from `bytes`: the whole file, or (with
 * `fileSize`) only its first 8 + header-length bytes, for reading the tensors by byte range after.
 */
export function parseSafetensorsHeader(bytes: Uint8Array, file: string, fileSize = bytes.byteLength): SafetensorsHeader {
  return headerOf(bytes, fileSize, file);
}

/** The header's byte length, from a file's first 8 bytes; checked against the file's size. */
export function safetensorsHeaderLength(bytes: Uint8Array, file: string, fileSize = bytes.byteLength): number {
  return headerLengthOf(bytes, fileSize, file);
}

function checkDecodable(entry: SafetensorsEntry, file: string, name: string): void {
  if (!DECODED_DTYPES.has(entry.dtype)) {
    throw new UnsupportedDtypeError(file, name, `has dtype ${entry.dtype}, which Lopper cannot read`, {
      expected: 'F32, F16 or BF16',
      actual: entry.dtype,
    });
  }
}

/**
 * A tensor's little-endian bytes (exactly its data range) → float32 values. F32 bytes at a 4-byte
 * aligned address are viewed where they lie (the array shares `raw`'s buffer); misaligned ones are copied.
 */
function decodeRaw(raw: Uint8Array, entry: SafetensorsEntry, file: string, name: string): Float32Array {
  checkDecodable(entry, file, name);
  const elementBytes = DECODED_DTYPES.get(entry.dtype) ?? 4;
  const aligned = raw.byteOffset % elementBytes === 0 ? raw : raw.slice();
  const count = aligned.byteLength / elementBytes;
  if (entry.dtype === 'F32') return new Float32Array(aligned.buffer, aligned.byteOffset, count);
  const halves = new Uint16Array(aligned.buffer, aligned.byteOffset, count);
  if (entry.dtype === 'F16') return decodeFloat16(halves);
  const widened = new Uint32Array(count);
  for (let i = 0; i < count; i++) widened[i] = halves[i] << 16;
  return new Float32Array(widened.buffer);
}

/**
 * Little-endian bytes of one tensor → float32 values. An F32 tensor at a 4-byte aligned address of
 * `bytes` comes back as a view on `bytes` (no copy: it reads what `bytes` holds); others are decoded into an array of their own.
 */
export function decodeEntry(bytes: Uint8Array, entry: SafetensorsEntry, dataStart: number, file: string, name: string): Float32Array {
  return decodeRaw(bytes.subarray(dataStart + entry.begin, dataStart + entry.end), entry, file, name);
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
  /** Each tensor's `values` are decoded from its file whenever they are read (see `readSafetensorsCheckpoint`). */
  tensors: Map<string, NamedTensor>;
  /** Tensor name → path of the file that holds it. */
  sources: Map<string, string>;
  /** The files read, index first, shards in index order. */
  files: string[];
}

function inFolder(files: readonly InputFile[], folder: string): InputFile[] {
  return files.filter((file) => dirname(file.path) === folder);
}

/** A safetensors file opened for reading its tensors one at a time. */
interface OpenedShard {
  header: SafetensorsHeader;
  /** Bytes `begin…end` of the file. */
  read(begin: number, end: number): Uint8Array;
}

/**
 * The header of a checkpoint file and a way to read its tensors' bytes: by byte range from the file
 * where it reads synchronously (a file on disk: only the header is read now), else from its bytes,
 * read once and held (tensors are then views on them).
 */
async function openShard(file: InputFile): Promise<OpenedShard> {
  const { readRangeSync } = file;
  if (readRangeSync === undefined) {
    const bytes = await file.bytes();
    return { header: parseSafetensorsHeader(bytes, file.path), read: (begin, end) => bytes.subarray(begin, end) };
  }
  const read = (begin: number, end: number): Uint8Array => readRangeSync.call(file, begin, end);
  const headerLength = headerLengthOf(read(0, Math.min(8, file.size)), file.size, file.path);
  return { header: headerOf(read(0, 8 + headerLength), file.size, file.path), read };
}

/**
 * The tensors of `shard` that `include` takes, each decoded from the file whenever its `values` are
 * read: nothing decoded is kept, so a reader holds the array it got for as long as it needs it.
 */
function lazyTensors(shard: OpenedShard, file: string, include: (name: string) => boolean): Map<string, NamedTensor> {
  const tensors = new Map<string, NamedTensor>();
  const { dataStart, entries } = shard.header;
  for (const [name, entry] of entries) {
    if (!include(name)) continue;
    checkDecodable(entry, file, name);
    tensors.set(name, {
      shape: entry.shape,
      get values(): Float32Array {
        return decodeRaw(shard.read(dataStart + entry.begin, dataStart + entry.end), entry, file, name);
      },
    });
  }
  return tensors;
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
    const opened = await openShard(shard);
    const header = opened.header;
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
    for (const [name, tensor] of lazyTensors(opened, shard.path, include)) {
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
 * Headers are read and checked now; each tensor's values are decoded whenever they are read (by
 * byte range from files on disk, else from the files' bytes held once), so the contents hold no decoded copy.
 */
export async function readSafetensorsCheckpoint(files: readonly InputFile[], folder: string, options: ReadSafetensorsOptions = {}): Promise<CheckpointContents> {
  const siblings = inFolder(files, folder);
  const index = siblings.find((file) => basename(file.path) === SAFETENSORS_INDEX);
  if (index !== undefined) return readShardedCheckpoint(index, files, options);
  const shards = siblings.filter((file) => file.path.toLowerCase().endsWith('.safetensors'));
  const tensors = new Map<string, NamedTensor>();
  const sources = new Map<string, string>();
  for (const shard of shards) {
    const shardTensors = lazyTensors(await openShard(shard), shard.path, (name) => options.include?.(name) ?? true);
    for (const [name, tensor] of shardTensors) {
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
