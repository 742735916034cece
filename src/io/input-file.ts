import type { InputFile } from './types';

/** An InputFile over bytes already in memory (zip entries, tests). */
export function inputFileFromBytes(path: string, bytes: Uint8Array): InputFile {
  return { path, size: bytes.byteLength, bytes: async () => bytes };
}

/** `a/b/model.json` → `model.json`; also strips `./` and tolerates `\` separators. */
export function basename(path: string): string {
  const parts = path.split(/[\\/]/);
  return parts[parts.length - 1] ?? path;
}

/** `a/b/model.json` → `a/b`; `model.json` → ``. */
export function dirname(path: string): string {
  const normalized = path.replace(/\\/g, '/');
  const slash = normalized.lastIndexOf('/');
  return slash < 0 ? '' : normalized.slice(0, slash);
}

/** `model.json` → `model`, `weights` → `weights`. */
export function stripExtension(name: string): string {
  const dot = name.lastIndexOf('.');
  return dot > 0 ? name.slice(0, dot) : name;
}

export function hasExtension(path: string, extension: string): boolean {
  return path.toLowerCase().endsWith(extension.toLowerCase());
}

const decoder = new TextDecoder('utf-8');

/** Parses a file as JSON; `undefined` when the bytes are not JSON. */
export function parseJsonBytes(bytes: Uint8Array): unknown {
  try {
    return JSON.parse(decoder.decode(bytes)) as unknown;
  } catch {
    return undefined;
  }
}

/** The offset of the first byte that does not start or continue a UTF-8 sequence, or -1. */
function firstNonUtf8Byte(bytes: Uint8Array): number {
  for (let i = 0; i < bytes.length;) {
    const lead = bytes[i];
    const continuation = lead < 0x80 ? 0 : lead >= 0xc2 && lead <= 0xdf ? 1 : lead >= 0xe0 && lead <= 0xef ? 2 : lead >= 0xf0 && lead <= 0xf4 ? 3 : -1;
    if (continuation < 0) return i;
    for (let k = 1; k <= continuation; k++) if (i + k >= bytes.length || (bytes[i + k] & 0xc0) !== 0x80) return i;
    i += continuation + 1;
  }
  return -1;
}

/**
 * Why bytes that `parseJsonBytes` refused are not JSON, as `message` (and `actual`) of an input
 * error. The parser's own words are left out: they differ between JavaScript engines, and the page
 * and the command line must say the same.
 */
export function whyNotJson(bytes: Uint8Array): { message: string; actual?: string } {
  if (bytes.byteLength === 0) return { message: 'is empty', actual: '0 bytes' };
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    const at = firstNonUtf8Byte(bytes);
    return { message: 'is not UTF-8 text', actual: at < 0 ? 'bytes that are not UTF-8' : `a byte 0x${bytes[at].toString(16).padStart(2, '0')} at offset ${at}` };
  }
  return { message: 'is not valid JSON' };
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const parsedJson = new WeakMap<InputFile, Promise<unknown>>();

/** The parsed JSON of a file (`undefined` if it is not JSON), parsed once per InputFile. */
export function readJson(file: InputFile): Promise<unknown> {
  let parsed = parsedJson.get(file);
  if (parsed === undefined) {
    parsed = file.bytes().then(parseJsonBytes);
    parsedJson.set(file, parsed);
  }
  return parsed;
}
