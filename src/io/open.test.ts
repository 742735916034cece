import { describe, expect, it } from 'vitest';
import { NoModelFoundError, ManifestError } from './errors';
import { weightsDigest } from './hash';
import { openModel, splitDrop, transformerWeightsDigest } from './open';
import { denseModelJson, fixtureFiles, float32Bytes, memoryFiles } from './test-support';

describe('openModel', () => {
  it('opens the two-shards zip', async () => {
    const opened = await openModel(await fixtureFiles('two-shards.zip'));
    expect(opened.name).toBe('two-shards');
    expect(opened.files).toEqual(['two-shards/model.json', 'two-shards/group1-shard1of2.bin', 'two-shards/group1-shard2of2.bin']);
    const direct = await openModel(await fixtureFiles('two-shards'));
    expect(opened.sha256).toBe(direct.sha256);
    expect(new Uint8Array(opened.artifacts.weightData as ArrayBuffer)).toEqual(new Uint8Array(direct.artifacts.weightData as ArrayBuffer));
  });

  it('finds a model.json under another name by its content', async () => {
    const opened = await openModel(memoryFiles({ 'tiny.json': denseModelJson(), 'group1-shard1of1.bin': float32Bytes([1, 2, 3]) }));
    expect(opened.name).toBe('tiny');
    expect(opened.files).toEqual(['tiny.json', 'group1-shard1of1.bin']);
  });

  it('ignores a dataset dropped with the model', async () => {
    const files = memoryFiles({
      'm/model.json': denseModelJson(),
      'm/group1-shard1of1.bin': float32Bytes([1, 2, 3]),
      'm/eval.json': { inputs: [1, 2], shape: [1, 2], labels: [0] },
    });
    expect((await openModel(files)).name).toBe('m');
  });

  it('says when nothing in the drop is a model', async () => {
    const open = openModel(memoryFiles({ 'notes.txt': 'hello', 'eval.json': { inputs: [1], shape: [1, 1] } }));
    await expect(open).rejects.toBeInstanceOf(NoModelFoundError);
    await expect(open).rejects.toThrow('drop: no model found: expected a TF.js model.json with its weight shards, or a .zip holding one (got: eval.json, notes.txt)');
    await expect(openModel([])).rejects.toThrow(/\(got: nothing\)$/);
  });

  it('routes a GraphModel to the GraphModel reader', async () => {
    const opened = await openModel(await fixtureFiles('graph-model'));
    expect(opened.format).toBe('graph-model');
    expect(opened.artifacts.format).toBe('graph-model');
  });

  it('refuses two models in one drop', async () => {
    const open = openModel(memoryFiles({ 'a/model.json': denseModelJson(), 'b/model.json': denseModelJson() }));
    await expect(open).rejects.toBeInstanceOf(ManifestError);
    await expect(open).rejects.toThrow(
      'a/model.json: is one of several model files in the drop; drop one model at a time (expected one model.json, got a/model.json, b/model.json)',
    );
  });

  it('gives a ManifestError for a model.json that is not JSON', async () => {
    await expect(openModel(memoryFiles({ 'model.json': '{oops' }))).rejects.toThrow('model.json: is not valid JSON (expected a JSON model.json)');
    await expect(openModel(memoryFiles({ 'model.json': new Uint8Array(0) }))).rejects.toThrow('model.json: is empty (expected a JSON model.json, got 0 bytes)');
    await expect(openModel(memoryFiles({ 'model.json': Uint8Array.of(0x7b, 0x22, 0xc3, 0x28, 0x22, 0x7d) }))).rejects.toThrow(
      'model.json: is not UTF-8 text (expected a JSON model.json, got a byte 0xc3 at offset 2)',
    );
  });
});

describe('splitDrop', () => {
  it('separates dataset files from the model files, zips expanded, in path order', async () => {
    const files = [...(await fixtureFiles('functional')), ...(await fixtureFiles('two-shards.zip')), ...memoryFiles({ 'extra/config.json': { a: 1 } })];
    const split = await splitDrop(files);
    expect(split.datasetFiles.map((f) => f.path)).toEqual(['functional/eval.json']);
    expect(split.modelFiles.map((f) => f.path)).toEqual([
      'extra/config.json',
      'functional/group1-shard1of2.bin',
      'functional/group1-shard2of2.bin',
      'functional/model.json',
      'two-shards/group1-shard1of2.bin',
      'two-shards/group1-shard2of2.bin',
      'two-shards/model.json',
    ]);
  });
});

describe('transformerWeightsDigest', () => {
  it.each(['hf-gpt2-tiny', 'hf-llama-tiny'])('%s: is weightsDigest, one parameter read at a time', async (name) => {
    const opened = await openModel(await fixtureFiles(name));
    if (opened.transformer === undefined) throw new Error(`${name} is not a transformer`);
    expect(opened.weightsSha256).toBe(await weightsDigest(opened));
    expect(await transformerWeightsDigest(opened.transformer)).toBe(opened.weightsSha256);
  });
});
