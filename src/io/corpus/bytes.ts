import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { crc32, deflateRawSync, constants as zlibConstants } from 'node:zlib';
import { zipSync } from 'fflate';

/** The repository root, where the valid bases of the corpus live (e2e/fixtures, public/models). */
export const REPO_ROOT = join(import.meta.dirname, '..', '..', '..');

export type FileMap = Record<string, Uint8Array>;

const encoder = new TextEncoder();

/** The files of a committed folder (not recursive), by name; `skip` leaves out reference outputs and notes. */
export function baseFiles(folder: string, skip: readonly string[] = ['README.md', 'reference.json', 'expected.json', 'eval.json', 'eval.txt']): FileMap {
  const dir = join(REPO_ROOT, folder);
  const files: FileMap = {};
  for (const name of readdirSync(dir).sort()) {
    if (skip.includes(name) || !statSync(join(dir, name)).isFile()) continue;
    files[name] = new Uint8Array(readFileSync(join(dir, name)));
  }
  return files;
}

export function text(value: string): Uint8Array {
  return encoder.encode(value);
}

export function json(value: unknown): Uint8Array {
  return text(JSON.stringify(value, null, 1));
}

export function parse<T = Record<string, unknown>>(bytes: Uint8Array | undefined): T {
  if (bytes === undefined) throw new Error('corpus: base file missing');
  return JSON.parse(new TextDecoder().decode(bytes)) as T;
}

/** A copy of a base's files with its JSON file `name` rewritten by `edit` (which may mutate in place). */
export function withJson<T = Record<string, unknown>>(files: FileMap, name: string, edit: (value: T) => T | void): FileMap {
  const value = parse<T>(files[name]);
  return { ...files, [name]: json(edit(value) ?? value) };
}

/** Float32 values written into a copy of `bytes` at element `index`, little-endian. */
export function withFloats(bytes: Uint8Array, byteOffset: number, values: readonly number[]): Uint8Array {
  const copy = bytes.slice();
  const view = new DataView(copy.buffer);
  values.forEach((value, i) => view.setFloat32(byteOffset + 4 * i, value, true));
  return copy;
}

/** A zip of `files` (paths inside the archive), stored with a fixed timestamp so the bytes repeat. */
export function zip(files: FileMap): Uint8Array {
  const entries: Record<string, [Uint8Array, { mtime: Date }]> = {};
  for (const [path, bytes] of Object.entries(files)) entries[path] = [bytes, { mtime: new Date(Date.UTC(2024, 0, 1)) }];
  return zipSync(entries, { level: 6 });
}

/** Sets every size field of a one-entry zip (local header, central directory) to `declared` uncompressed bytes. */
export function withDeclaredSize(archive: Uint8Array, declared: number): Uint8Array {
  const copy = archive.slice();
  const view = new DataView(copy.buffer);
  for (let i = 0; i + 4 <= copy.length; i++) {
    const signature = view.getUint32(i, true);
    if (signature === 0x04034b50) view.setUint32(i + 22, declared, true);
    if (signature === 0x02014b50) view.setUint32(i + 24, declared, true);
  }
  return copy;
}

/**
 * A real deflate bomb: one zip entry `name` of `chunks` × 64 MiB of zeros (honest sizes in its
 * headers), about 65 kB of compressed data per chunk. The chunks are independent deflate blocks
 * (full flush), so the 64 MiB of zeros are compressed once and repeated.
 */
export function zeroBombZip(name: string, chunks: number): Uint8Array {
  const chunkBytes = 64 * 1024 * 1024;
  const block = deflateRawSync(new Uint8Array(chunkBytes), { level: 9, finishFlush: zlibConstants.Z_FULL_FLUSH });
  const finalBlock = Uint8Array.of(0x03, 0x00);
  const compressed = block.length * chunks + finalBlock.length;
  const size = chunkBytes * chunks;
  const nameBytes = text(name);
  const zeroChunk = new Uint8Array(1024 * 1024);
  let crc = 0;
  for (let i = 0; i < 64 * chunks; i++) crc = crc32(zeroChunk, crc);
  const local = new DataView(new ArrayBuffer(30));
  local.setUint32(0, 0x04034b50, true);
  local.setUint16(4, 20, true);
  local.setUint16(8, 8, true);
  local.setUint32(14, crc, true);
  local.setUint32(18, compressed, true);
  local.setUint32(22, size >>> 0, true);
  local.setUint16(26, nameBytes.length, true);
  const central = new DataView(new ArrayBuffer(46));
  central.setUint32(0, 0x02014b50, true);
  central.setUint16(4, 20, true);
  central.setUint16(6, 20, true);
  central.setUint16(10, 8, true);
  central.setUint32(16, crc, true);
  central.setUint32(20, compressed, true);
  central.setUint32(24, size >>> 0, true);
  central.setUint16(28, nameBytes.length, true);
  const centralStart = 30 + nameBytes.length + compressed;
  const end = new DataView(new ArrayBuffer(22));
  end.setUint32(0, 0x06054b50, true);
  end.setUint16(8, 1, true);
  end.setUint16(10, 1, true);
  end.setUint32(12, 46 + nameBytes.length, true);
  end.setUint32(16, centralStart, true);
  const out = new Uint8Array(centralStart + 46 + nameBytes.length + 22);
  out.set(new Uint8Array(local.buffer), 0);
  out.set(nameBytes, 30);
  for (let i = 0; i < chunks; i++) out.set(block, 30 + nameBytes.length + i * block.length);
  out.set(finalBlock, 30 + nameBytes.length + chunks * block.length);
  out.set(new Uint8Array(central.buffer), centralStart);
  out.set(nameBytes, centralStart + 46);
  out.set(new Uint8Array(end.buffer), centralStart + 46 + nameBytes.length);
  return out;
}

interface SafetensorsParts {
  header: Record<string, Record<string, unknown>>;
  data: Uint8Array;
}

export function splitSafetensors(bytes: Uint8Array): SafetensorsParts {
  const length = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  return { header: parse(bytes.subarray(8, 8 + length)), data: bytes.subarray(8 + length) };
}

/** A safetensors file from a header (serialised as given, padded to 8 bytes) and a data section. */
export function joinSafetensors({ header, data }: SafetensorsParts): Uint8Array {
  let headerText = JSON.stringify(header);
  headerText += ' '.repeat((8 - (text(headerText).length % 8)) % 8);
  const headerBytes = text(headerText);
  const out = new Uint8Array(8 + headerBytes.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  out.set(data, 8 + headerBytes.length);
  return out;
}

/** A copy of a safetensors file whose header `edit` has rewritten (the data section kept). */
export function withSafetensorsHeader(bytes: Uint8Array, edit: (header: Record<string, Record<string, unknown>>) => void): Uint8Array {
  const parts = splitSafetensors(bytes);
  edit(parts.header);
  return joinSafetensors(parts);
}
