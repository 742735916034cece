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
});
