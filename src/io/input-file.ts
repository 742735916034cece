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
