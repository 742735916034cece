import type { InputFile } from './types';

/** A browser File with the path it had in the drop or picked folder. */
export interface PathedFile {
  path: string;
  blob: File;
}

/** An InputFile over a browser File; `path` defaults to its relative path inside a picked folder. */
export function inputFileFromFile(file: File, path = file.webkitRelativePath || file.name): InputFile {
  return { path, size: file.size, bytes: async () => new Uint8Array(await file.arrayBuffer()) };
}

/** Files from an `<input type=file>` (with `webkitdirectory`, paths include the folder). */
export function collectPickedFiles(files: Iterable<File> | ArrayLike<File>): PathedFile[] {
  return Array.from(files, (file) => ({ path: file.webkitRelativePath || file.name, blob: file }));
}

function fileOf(entry: FileSystemFileEntry): Promise<File> {
  return new Promise((resolve, reject) => entry.file(resolve, reject));
}

function readBatch(reader: FileSystemDirectoryReader): Promise<FileSystemEntry[]> {
  return new Promise((resolve, reject) => reader.readEntries(resolve, reject));
}

async function filesOfEntry(entry: FileSystemEntry): Promise<PathedFile[]> {
  const path = entry.fullPath.replace(/^\/+/, '');
  if (entry.isFile) return [{ path, blob: await fileOf(entry as FileSystemFileEntry) }];
  if (!entry.isDirectory) return [];
  const reader = (entry as FileSystemDirectoryEntry).createReader();
  const files: PathedFile[] = [];
  for (let batch = await readBatch(reader); batch.length > 0; batch = await readBatch(reader)) {
    for (const child of batch) files.push(...(await filesOfEntry(child)));
  }
  return files;
}

/**
 * Files from a drop, folders walked recursively. Entries are taken synchronously (a DataTransfer
 * empties once the drop handler yields); without entry support it falls back to `dt.files`.
 */
export async function collectDroppedFiles(dt: DataTransfer): Promise<PathedFile[]> {
  const entries = Array.from(dt.items)
    .filter((item) => item.kind === 'file')
    .map((item) => item.webkitGetAsEntry?.() ?? null);
  const fallback = collectPickedFiles(dt.files);
  if (entries.length === 0 || entries.some((entry) => entry === null)) return fallback;
  const files: PathedFile[] = [];
  for (const entry of entries) if (entry !== null) files.push(...(await filesOfEntry(entry)));
  return files;
}

/** Files from an `<input type=file>` as InputFiles. */
export function filesFromFileList(files: Iterable<File> | ArrayLike<File>): InputFile[] {
  return collectPickedFiles(files).map((f) => inputFileFromFile(f.blob, f.path));
}

/** Files from a drop as InputFiles. */
export async function filesFromDataTransfer(dt: DataTransfer): Promise<InputFile[]> {
  return (await collectDroppedFiles(dt)).map((f) => inputFileFromFile(f.blob, f.path));
}
