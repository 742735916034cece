import { describe, expect, it } from 'vitest';
import { ExtraShardError, ManifestError, MissingShardError, ShardSizeError } from './errors';
import { parseModelJson } from './manifest';
import { looksLikeShard, readShards, resolveShards } from './shards';
import { denseModelJson, float32Bytes, memoryFiles } from './test-support';
import type { InputFile } from './types';

const twelveBytes = float32Bytes([1, 2, 3]);

function setup(
  paths: string[],
  files: Record<string, Uint8Array>,
  modelPath = 'model.json',
): { resolve: () => ReturnType<typeof resolveShards>; modelFile: InputFile; all: InputFile[] } {
  const json = denseModelJson({
    weightsManifest: [
      {
        paths,
        weights: [
          { name: 'dense/kernel', shape: [2, 1], dtype: 'float32' },
          { name: 'dense/bias', shape: [1], dtype: 'float32' },
        ],
      },
    ],
  });
  const all = memoryFiles({ [modelPath]: json, ...files });
  const modelFile = all[0] as InputFile;
  return { resolve: () => resolveShards(parseModelJson(json, modelPath), modelFile, all), modelFile, all };
}

describe('resolveShards', () => {
  it('matches by base name: ./ prefixes, folders, no .bin extension', () => {
    expect(
      setup(['./group1-shard1of1.bin'], { 'group1-shard1of1.bin': twelveBytes })
        .resolve()[0]
        ?.files.map((f) => f.path),
    ).toEqual(['group1-shard1of1.bin']);
    expect(
      setup(['group1-shard1of1.bin'], { 'm/group1-shard1of1.bin': twelveBytes }, 'm/model.json')
        .resolve()[0]
        ?.files.map((f) => f.path),
    ).toEqual(['m/group1-shard1of1.bin']);
    expect(
      setup(['weights'], { 'old/weights': twelveBytes }, 'old/model.json')
        .resolve()[0]
        ?.files.map((f) => f.path),
    ).toEqual(['old/weights']);
    expect(
      setup(['group1-shard1of1'], { 'group1-shard1of1.bin': twelveBytes })
        .resolve()[0]
        ?.files.map((f) => f.path),
    ).toEqual(['group1-shard1of1.bin']);
  });

  it('keeps the order of paths and sums the group', () => {
    const { resolve } = setup(['b.bin', 'a.bin'], { 'a.bin': twelveBytes.slice(8), 'b.bin': twelveBytes.slice(0, 8) });
    const [group] = resolve();
    expect(group?.files.map((f) => f.path)).toEqual(['b.bin', 'a.bin']);
    expect(group?.expectedBytes).toBe(12);
  });

  it('prefers the shard beside model.json and refuses an ambiguous one', () => {
    const beside = setup(['w.bin'], { 'a/w.bin': twelveBytes, 'b/w.bin': twelveBytes }, 'a/model.json');
    expect(() => beside.resolve()).toThrow(/"b\/w\.bin" looks like a weight shard/);
    const ambiguous = setup(['w.bin'], { 'a/w.bin': twelveBytes, 'b/w.bin': twelveBytes }, 'c/model.json');
    expect(() => ambiguous.resolve()).toThrow(ManifestError);
    expect(() => ambiguous.resolve()).toThrow(/"w\.bin" matches several dropped files/);
  });

  it('names a missing shard and what was dropped', () => {
    const { resolve } = setup(['group1-shard1of2.bin', 'group1-shard2of2.bin'], { 'group1-shard1of2.bin': twelveBytes });
    expect(resolve).toThrow(MissingShardError);
    expect(resolve).toThrow('model.json: weightsManifest lists "group1-shard2of2.bin" but no such file was dropped (got: model.json, group1-shard1of2.bin)');
  });

  it('names shard-like files the manifest does not list', () => {
    const { resolve } = setup(['group1-shard1of1.bin'], { 'group1-shard1of1.bin': twelveBytes, 'group1-shard2of2.bin': twelveBytes, 'notes.txt': twelveBytes });
    expect(resolve).toThrow(ExtraShardError);
    expect(resolve).toThrow('model.json: "group1-shard2of2.bin" looks like a weight shard but weightsManifest does not list it (expected only: group1-shard1of1.bin)');
    const two = setup(['w.bin'], { 'w.bin': twelveBytes, 'x.bin': twelveBytes, 'group2-shard1of1': twelveBytes });
    expect(two.resolve).toThrow(/"x\.bin", "group2-shard1of1" look like weight shards/);
  });

  it('compares byte counts per group', () => {
    const { resolve } = setup(['a.bin', 'b.bin'], { 'a.bin': twelveBytes.slice(0, 4), 'b.bin': twelveBytes.slice(0, 5) });
    expect(resolve).toThrow(ShardSizeError);
    expect(resolve).toThrow('model.json: shards a.bin, b.bin hold 9 bytes but the weights listed for them need 12 (expected 12 bytes, got 9 bytes)');
    try {
      resolve();
    } catch (error) {
      expect(error).toMatchObject({ expectedBytes: 12, actualBytes: 9, expected: '12 bytes', actual: '9 bytes', file: 'model.json' });
    }
  });
});

describe('readShards', () => {
  it('concatenates shards in manifest order', async () => {
    const { resolve, modelFile } = setup(['b.bin', 'a.bin'], { 'a.bin': twelveBytes.slice(8), 'b.bin': twelveBytes.slice(0, 8) });
    const data = await readShards(modelFile, resolve());
    expect(Array.from(new Float32Array(data.buffer))).toEqual([1, 2, 3]);
  });

  it('checks the bytes actually read against the declared size', async () => {
    const { modelFile } = setup(['a.bin'], {});
    const lying: InputFile = { path: 'a.bin', size: 12, bytes: async () => twelveBytes.slice(0, 10) };
    await expect(readShards(modelFile, [{ files: [lying], expectedBytes: 12, variable: false }])).rejects.toThrow(
      'model.json: shard "a.bin" holds 10 bytes but the weights listed for it need 12 (expected 12 bytes, got 10 bytes)',
    );
  });
});

describe('looksLikeShard', () => {
  it.each([
    ['group1-shard1of2.bin', true],
    ['x/group12-shard3of10', true],
    ['weights.BIN', true],
    ['weights', false],
    ['eval.json', false],
  ])('%s → %s', (name, expected) => {
    expect(looksLikeShard(name)).toBe(expected);
  });
});
