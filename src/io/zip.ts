import { Unzip, UnzipInflate, unzipSync } from 'fflate';
import { ArchiveError } from './errors';
import { basename, dirname, hasExtension, inputFileFromBytes, stripExtension } from './input-file';
import type { InputFile } from './types';

export function isZip(file: InputFile): boolean {
  return hasExtension(file.path, '.zip');
}

/** What the files inside the zips of one drop may add up to, as their headers declare them, before anything is inflated (2 GiB). */
export const ZIP_INFLATED_LIMIT = 2 * 1024 ** 3;

/** How deep zips may sit in zips: a dropped zip is level 1. */
export const ZIP_NESTING_LIMIT = 4;

/** Bytes the zips of one drop may still inflate to. */
interface InflateBudget {
  left: number;
}

function unsafePath(name: string): boolean {
  return name.startsWith('/') || /^[A-Za-z]:/.test(name) || name.split(/[\\/]/).includes('..');
}

function keepEntry(name: string): boolean {
  if (name.endsWith('/')) return false;
  if (name.startsWith('__MACOSX/') || name.includes('/__MACOSX/')) return false;
  return basename(name) !== '.DS_Store';
}

/** The declared (uncompressed) bytes of each entry kept, read from the central directory without inflating; unsafe paths refused. */
function declaredSizes(file: InputFile, bytes: Uint8Array): Map<string, number> {
  const declared = new Map<string, number>();
  try {
    unzipSync(bytes, {
      filter: (entry) => {
        if (unsafePath(entry.name)) {
          throw new ArchiveError({ file: file.path, message: `holds "${entry.name}", a path outside the archive`, expected: 'paths inside the archive', actual: entry.name });
        }
        if (keepEntry(entry.name)) declared.set(entry.name, entry.originalSize);
        return false;
      },
    });
  } catch (error) {
    if (error instanceof ArchiveError) throw error;
    throw new ArchiveError({ file: file.path, message: 'is not a readable zip archive', actual: error instanceof Error ? error.message : String(error) });
  }
  return declared;
}

/**
 * Inflates the entries `declared` names chunk by chunk, each held to the size its header declares:
 * an entry whose data inflates past it (a header that lies) is refused as soon as it does, before
 * more is held in memory.
 */
function inflateEntries(file: InputFile, bytes: Uint8Array, declared: ReadonlyMap<string, number>): Record<string, Uint8Array> {
  const entries: Record<string, Uint8Array> = {};
  let failure: ArchiveError | undefined;
  const unzipper = new Unzip((stream) => {
    const limit = declared.get(stream.name);
    if (limit === undefined || failure !== undefined) return;
    const chunks: Uint8Array[] = [];
    let size = 0;
    stream.ondata = (error, chunk, final) => {
      if (failure !== undefined) return;
      if (error !== null) {
        failure = new ArchiveError({ file: file.path, message: 'is not a readable zip archive', actual: error.message });
        return;
      }
      size += chunk.byteLength;
      if (size > limit) {
        failure = new ArchiveError({
          file: file.path,
          message: `holds "${stream.name}", whose data inflates past the size its header declares`,
          expected: `at most ${limit} bytes`,
          actual: `more than ${limit} bytes`,
        });
        stream.terminate();
        return;
      }
      chunks.push(chunk);
      if (!final) return;
      const joined = new Uint8Array(size);
      let at = 0;
      for (const part of chunks) {
        joined.set(part, at);
        at += part.byteLength;
      }
      entries[stream.name] = joined;
    };
    stream.start();
  });
  unzipper.register(UnzipInflate);
  try {
    unzipper.push(bytes, true);
  } catch (error) {
    failure ??= new ArchiveError({ file: file.path, message: 'is not a readable zip archive', actual: error instanceof Error ? error.message : String(error) });
  }
  if (failure !== undefined) throw failure;
  const missing = [...declared.keys()].filter((name) => entries[name] === undefined);
  if (missing.length > 0) throw new ArchiveError({ file: file.path, message: 'is not a readable zip archive', actual: `no data for ${missing.slice(0, 3).join(', ')}` });
  return entries;
}

async function expandZipAt(file: InputFile, level: number, budget: InflateBudget): Promise<InputFile[]> {
  if (level > ZIP_NESTING_LIMIT) {
    throw new ArchiveError({
      file: file.path,
      message: `is a zip nested ${level} levels deep`,
      expected: `at most ${ZIP_NESTING_LIMIT} levels of zips in zips`,
    });
  }
  const bytes = await file.bytes();
  const sizes = declaredSizes(file, bytes);
  const declared = [...sizes.values()].reduce((sum, size) => sum + size, 0);
  if (declared > budget.left) {
    throw new ArchiveError({
      file: file.path,
      message: 'would inflate to more than Lopper opens at once',
      expected: `at most ${budget.left} bytes of files`,
      actual: `${declared} bytes declared`,
    });
  }
  budget.left -= declared;
  const entries = inflateEntries(file, bytes, sizes);
  const names = Object.keys(entries).sort();
  const topFolders = new Set(names.map((name) => name.split('/')[0]));
  const wrapped = names.length > 0 && names.every((name) => name.includes('/')) && topFolders.size === 1;
  const parent = dirname(file.path);
  const root = wrapped ? parent : [parent, stripExtension(basename(file.path))].filter((part) => part !== '').join('/');
  const files: InputFile[] = [];
  for (const name of names) {
    const inner = inputFileFromBytes(root === '' ? name : `${root}/${name}`, entries[name] ?? new Uint8Array(0));
    if (isZip(inner)) files.push(...(await expandZipAt(inner, level + 1, budget)));
    else files.push(inner);
  }
  return files;
}

/**
 * The files inside a zip, zips inside it expanded too (up to ZIP_NESTING_LIMIT levels). They sit
 * where the zip sat; when the archive does not already wrap everything in one folder, they go into
 * a folder named after the zip (so `m.zip` gives `m/model.json`). The sizes its headers declare
 * are checked against ZIP_INFLATED_LIMIT before anything is inflated, and each entry is inflated
 * in chunks held to its declared size.
 */
export function expandZip(file: InputFile): Promise<InputFile[]> {
  return expandZipAt(file, 1, { left: ZIP_INFLATED_LIMIT });
}

const byPath = (a: InputFile, b: InputFile): number => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);

/**
 * Replaces each `.zip` in a set by the files it holds (nested zips too); other files pass through.
 * The zips share one size budget. The result is ordered by path, so that what a drop gives (in the
 * browser's order) and what a folder on disk gives are read, checked and named in one order.
 */
export async function expandZips(files: readonly InputFile[]): Promise<InputFile[]> {
  const budget: InflateBudget = { left: ZIP_INFLATED_LIMIT };
  const expanded: InputFile[] = [];
  for (const file of files) {
    if (isZip(file)) expanded.push(...(await expandZipAt(file, 1, budget)));
    else expanded.push(file);
  }
  return expanded.sort(byPath);
}
