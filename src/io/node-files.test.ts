import { mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { filesFromPath } from './node-files';
import { fixturePath } from './test-support';

describe('filesFromPath', () => {
  it('lists a folder recursively, paths starting with the folder name', async () => {
    const files = await filesFromPath(fixturePath('functional'));
    expect(files.map((f) => f.path)).toEqual(['functional/eval.json', 'functional/group1-shard1of2.bin', 'functional/group1-shard2of2.bin', 'functional/model.json']);
    expect(files[1]?.size).toBe((await files[1]?.bytes())?.byteLength);
  });

  it('takes the files beside a model.json', async () => {
    const files = await filesFromPath(fixturePath('legacy/model.json'));
    expect(files.map((f) => f.path)).toEqual(['legacy/model.json', 'legacy/weights']);
  });

  it('expands a zip and returns any other file on its own', async () => {
    expect((await filesFromPath(fixturePath('two-shards.zip'))).map((f) => f.path)).toEqual([
      'two-shards/group1-shard1of2.bin',
      'two-shards/group1-shard2of2.bin',
      'two-shards/model.json',
    ]);
    expect((await filesFromPath(fixturePath('functional/eval.json'))).map((f) => f.path)).toEqual(['eval.json']);
  });

  it('walks nested folders', async () => {
    const files = await filesFromPath(fixturePath(''));
    expect(files.map((f) => f.path)).toContain('fixtures/quantized-uint8/expected.json');
    expect(files.map((f) => f.path)).toContain('fixtures/two-shards.zip');
  });

  it('reads a byte range of a file on disk into an array of its own, and refuses a file changed since', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lopper-range-'));
    try {
      const path = join(dir, 'w.bin');
      await writeFile(path, new Uint8Array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]));
      const [file] = await filesFromPath(path);
      const range = file?.readRangeSync?.(3, 7);
      expect(range).toEqual(new Uint8Array([3, 4, 5, 6]));
      expect(range?.byteOffset).toBe(0);
      expect(range?.buffer.byteLength).toBe(4);
      expect(() => file?.readRangeSync?.(8, 11)).toThrow('outside the file');
      await writeFile(path, new Uint8Array(10));
      await utimes(path, new Date(0), new Date(0));
      expect(() => file?.readRangeSync?.(0, 4)).toThrow('w.bin: changed on disk since it was opened');
    } finally {
      await rm(dir, { recursive: true });
    }
  });
});
