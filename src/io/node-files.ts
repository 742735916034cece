import { closeSync, fstatSync, openSync, readSync, type Stats } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { LopperInputError } from './errors';
import { parseJsonBytes } from './input-file';
import { modelJsonKind } from './manifest';
import type { InputFile } from './types';
import { expandZip } from './zip';

/** The most bytes one `readSync` call is asked for (the call takes at most 2 GiB). */
const READ_CHUNK = 2 ** 30;

/**
 * Bytes `begin…end` of the file at `absolutePath`, into an array of their own (its buffer starts at
 * them, so a float32 tensor read this way needs no copy to be viewed). The file must still have the
 * size and modification time it had when listed: a model overwritten since is not read half old, half new.
 */
function readRange(absolutePath: string, path: string, listed: Stats, begin: number, end: number): Uint8Array {
  if (!Number.isInteger(begin) || !Number.isInteger(end) || begin < 0 || end < begin || end > listed.size) {
    throw new RangeError(`${path}: bytes ${begin}…${end} are outside the file (${listed.size} bytes)`);
  }
  const out = new Uint8Array(end - begin);
  const fd = openSync(absolutePath, 'r');
  try {
    const now = fstatSync(fd);
    if (now.size !== listed.size || now.mtimeMs !== listed.mtimeMs)
      throw new LopperInputError({ file: path, message: 'changed on disk since it was opened: open the model again' });
    let done = 0;
    while (done < out.length) {
      const read = readSync(fd, out, done, Math.min(out.length - done, READ_CHUNK), begin + done);
      if (read === 0) throw new LopperInputError({ file: path, message: `ended at byte ${begin + done}, before ${end}` });
      done += read;
    }
  } finally {
    closeSync(fd);
  }
  return out;
}

function fileOnDisk(absolutePath: string, path: string, info: Stats): InputFile {
  return {
    path,
    size: info.size,
    bytes: async () => {
      const buffer = await readFile(absolutePath);
      return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
    },
    readRangeSync: (begin, end) => readRange(absolutePath, path, info, begin, end),
  };
}

const byName = (a: { name: string }, b: { name: string }): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/** The files under `folder` (hidden ones skipped), with paths `<prefix>/<path below root>`. */
async function filesBelow(folder: string, root: string, prefix: string, recursive: boolean): Promise<InputFile[]> {
  const files: InputFile[] = [];
  for (const entry of (await readdir(folder, { withFileTypes: true })).sort(byName)) {
    if (entry.name.startsWith('.')) continue;
    const absolute = join(folder, entry.name);
    if (entry.isDirectory() && recursive) files.push(...(await filesBelow(absolute, root, prefix, true)));
    else if (entry.isFile()) {
      const path = `${prefix}/${relative(root, absolute).split(sep).join('/')}`;
      files.push(fileOnDisk(absolute, path, await stat(absolute)));
    }
  }
  return files;
}

/**
 * The InputFiles for a path given on the command line: a folder gives its files (recursively), a
 * model.json the files beside it, a `.zip` its contents, any other file itself. Paths start with
 * the folder's own name, as a folder dropped on the page does (`my-model/model.json`).
 */
export async function filesFromPath(path: string): Promise<InputFile[]> {
  const absolute = resolve(path);
  const info = await stat(absolute);
  if (info.isDirectory()) return filesBelow(absolute, absolute, basename(absolute), true);
  const name = basename(absolute);
  const file = fileOnDisk(absolute, name, info);
  if (name.toLowerCase().endsWith('.zip')) return expandZip(file);
  if (name.toLowerCase().endsWith('.json') && modelJsonKind(parseJsonBytes(await file.bytes())) !== undefined) {
    const folder = dirname(absolute);
    return filesBelow(folder, folder, basename(folder), false);
  }
  return [file];
}
