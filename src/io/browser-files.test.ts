import { describe, expect, it } from 'vitest';
import { filesFromDataTransfer, filesFromFileList } from './browser-files';

function file(name: string, text: string, relativePath = ''): File {
  const f = new File([text], name);
  Object.defineProperty(f, 'webkitRelativePath', { value: relativePath });
  return f;
}

interface FakeEntry {
  isFile: boolean;
  isDirectory: boolean;
  fullPath: string;
  file?: (ok: (f: File) => void) => void;
  createReader?: () => { readEntries: (ok: (entries: FakeEntry[]) => void) => void };
}

function fileEntry(fullPath: string, text: string): FakeEntry {
  const name = fullPath.split('/').pop() ?? fullPath;
  return { isFile: true, isDirectory: false, fullPath, file: (ok) => ok(file(name, text)) };
}

/** A directory whose reader hands out its children `batch` at a time, as Chromium does (100 per call). */
function dirEntry(fullPath: string, children: FakeEntry[], batch = 1): FakeEntry {
  return {
    isFile: false,
    isDirectory: true,
    fullPath,
    createReader: () => {
      let next = 0;
      return {
        readEntries: (ok) => {
          ok(children.slice(next, next + batch));
          next += batch;
        },
      };
    },
  };
}

function dataTransfer(entries: (FakeEntry | null)[], files: File[]): DataTransfer {
  const items = entries.map((entry) => ({ kind: 'file', webkitGetAsEntry: () => entry }));
  return { items, files } as unknown as DataTransfer;
}

describe('filesFromFileList', () => {
  it('uses webkitRelativePath when a folder was picked', async () => {
    const files = filesFromFileList([file('model.json', '{}', 'm/model.json'), file('eval.json', '[1]')]);
    expect(files.map((f) => [f.path, f.size])).toEqual([
      ['m/model.json', 2],
      ['eval.json', 3],
    ]);
    expect(new TextDecoder().decode(await files[1]?.bytes())).toBe('[1]');
  });
});

describe('filesFromDataTransfer', () => {
  it('walks dropped folders, reading entries until the reader is empty', async () => {
    const tree = dirEntry('/m', [fileEntry('/m/model.json', '{}'), fileEntry('/m/a.bin', 'a'), dirEntry('/m/sub', [fileEntry('/m/sub/b.bin', 'bb')])]);
    const files = await filesFromDataTransfer(dataTransfer([tree, fileEntry('/eval.json', '[]')], []));
    expect(files.map((f) => [f.path, f.size])).toEqual([
      ['m/model.json', 2],
      ['m/a.bin', 1],
      ['m/sub/b.bin', 2],
      ['eval.json', 2],
    ]);
  });

  it('falls back to dt.files without entries', async () => {
    const files = await filesFromDataTransfer(dataTransfer([null], [file('model.json', '{}')]));
    expect(files.map((f) => f.path)).toEqual(['model.json']);
  });
});
