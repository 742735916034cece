import { unzipSync } from 'fflate';
import { ArchiveError } from './errors';
import { basename, dirname, hasExtension, inputFileFromBytes, stripExtension } from './input-file';
import type { InputFile } from './types';

export function isZip(file: InputFile): boolean {
  return hasExtension(file.path, '.zip');
}

/** What the files inside one zip may add up to, as their headers declare them, before anything is inflated (2 GiB). */
export const ZIP_INFLATED_LIMIT = 2 * 1024 ** 3;

function unsafePath(name: string): boolean {
  return name.startsWith('/') || /^[A-Za-z]:/.test(name) || name.split(/[\\/]/).includes('..');
}

function keepEntry(name: string): boolean {
  if (name.endsWith('/')) return false;
  if (name.startsWith('__MACOSX/') || name.includes('/__MACOSX/')) return false;
  return basename(name) !== '.DS_Store';
}

/**
 * The files inside a zip. They sit where the zip sat; when the archive does not already wrap
 * everything in one folder, they go into a folder named after the zip (so `m.zip` gives `m/model.json`).
 */
export async function expandZip(file: InputFile): Promise<InputFile[]> {
  let entries: Record<string, Uint8Array>;
  const bytes = await file.bytes();
  let declared = 0;
  try {
    unzipSync(bytes, {
      filter: (entry) => {
        if (unsafePath(entry.name)) {
          throw new ArchiveError({ file: file.path, message: `holds "${entry.name}", a path outside the archive`, expected: 'paths inside the archive', actual: entry.name });
        }
        if (keepEntry(entry.name)) declared += entry.originalSize;
        return false;
      },
    });
  } catch (error) {
    if (error instanceof ArchiveError) throw error;
  }
  if (declared > ZIP_INFLATED_LIMIT) {
    throw new ArchiveError({
      file: file.path,
      message: 'would inflate to more than Lopper opens from one archive',
      expected: `at most ${ZIP_INFLATED_LIMIT} bytes of files`,
      actual: `${declared} bytes declared`,
    });
  }
  try {
    entries = unzipSync(bytes, { filter: (entry) => keepEntry(entry.name) });
  } catch (error) {
    throw new ArchiveError({
      file: file.path,
      message: 'is not a readable zip archive',
      actual: error instanceof Error ? error.message : String(error),
    });
  }
  const names = Object.keys(entries).sort();
  const topFolders = new Set(names.map((name) => name.split('/')[0]));
  const wrapped = names.length > 0 && names.every((name) => name.includes('/')) && topFolders.size === 1;
  const parent = dirname(file.path);
  const root = wrapped ? parent : [parent, stripExtension(basename(file.path))].filter((part) => part !== '').join('/');
  return names.map((name) => {
    const bytes = entries[name] ?? new Uint8Array(0);
    return inputFileFromBytes(root === '' ? name : `${root}/${name}`, bytes);
  });
}

/** Replaces each `.zip` in a set by the files it holds; other files pass through. */
export async function expandZips(files: readonly InputFile[]): Promise<InputFile[]> {
  const expanded: InputFile[] = [];
  for (const file of files) {
    if (isZip(file)) expanded.push(...(await expandZip(file)));
    else expanded.push(file);
  }
  return expanded;
}
