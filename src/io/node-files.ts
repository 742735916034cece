import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { parseJsonBytes } from './input-file';
import { modelJsonKind } from './manifest';
import type { InputFile } from './types';
import { expandZip } from './zip';

function fileOnDisk(absolutePath: string, path: string, size: number): InputFile {
  return {
    path,
    size,
    bytes: async () => {
      const buffer = await readFile(absolutePath);
      return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
    },
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
      files.push(fileOnDisk(absolute, path, (await stat(absolute)).size));
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
  const file = fileOnDisk(absolute, name, info.size);
  if (name.toLowerCase().endsWith('.zip')) return expandZip(file);
  if (name.toLowerCase().endsWith('.json') && modelJsonKind(parseJsonBytes(await file.bytes())) !== undefined) {
    const folder = dirname(absolute);
    return filesBelow(folder, folder, basename(folder), false);
  }
  return [file];
}
