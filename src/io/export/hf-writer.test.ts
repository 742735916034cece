import { readFile } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TransformerModel } from '../../core/transformer/model';
import { TRANSFORMER_FIXTURES, fixtureModel } from '../../core/transformer/testing';
import { decodeFloat16 } from '../dequantize';
import { parseJsonBytes } from '../input-file';
import { openModel } from '../open';
import { parseSafetensorsHeader, readSafetensors } from '../safetensors';
import { fixtureFiles, fixturePath, memoryFiles } from '../test-support';
import type { OpenedModel } from '../types';
import { encodeFloat16 } from './float16';
import { writeHfTransformer, type HfLopperMetadata } from './hf-writer';
import type { ExportFile } from './tfjs-layers-writer';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const IDS = [
  [1, 5, 9, 3, 7, 2, 8, 4],
  [6, 0, 2, 9, 1, 3, 5, 7],
];

/** The fixture as the reader opens it (config, weights, tokenizer). */
async function fixtureOpened(name: string): Promise<OpenedModel> {
  return openModel(await fixtureFiles(name));
}

function fileOf(files: readonly ExportFile[], path: string): Uint8Array {
  const file = files.find((f) => f.path === path);
  if (file === undefined) throw new Error(`the export has no ${path}`);
  return file.bytes;
}

async function reopen(files: readonly ExportFile[]): Promise<{ opened: OpenedModel; model: TransformerModel }> {
  const opened = await openModel(memoryFiles(Object.fromEntries(files.map((f) => [`written/${f.path}`, f.bytes]))));
  if (opened.transformer === undefined) throw new Error('the export did not open as a transformer');
  return { opened, model: new TransformerModel(opened.transformer.config, opened.transformer.tensors) };
}

function logits(model: TransformerModel, bypass: readonly string[] = []): Float32Array {
  return tf.tidy(() => model.forward(tf.tensor2d(IDS, undefined, 'int32'), { bypass: new Set(bypass) }).dataSync() as Float32Array);
}

function maxDifference(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  return a.reduce((max, value, i) => Math.max(max, Math.abs(value - b[i])), 0);
}

describe.each(TRANSFORMER_FIXTURES)('writeHfTransformer on %s', (name) => {
  let source: OpenedModel;
  let model: TransformerModel;
  let configJson: unknown;

  beforeAll(async () => {
    ({ model } = await fixtureModel(name));
    source = await fixtureOpened(name);
    configJson = JSON.parse(await readFile(fixturePath(`${name}/config.json`), 'utf8'));
  });
  afterAll(() => model.dispose());

  it('round-trips every parameter exactly in float32, with the source config and format pt', async () => {
    const before = tf.memory().numTensors;
    const { files } = await writeHfTransformer(source, model, { configJson });
    expect(files.map((f) => f.path).slice(0, 2)).toEqual(['config.json', 'model.safetensors']);
    const header = parseSafetensorsHeader(fileOf(files, 'model.safetensors'), 'model.safetensors');
    expect(header.metadata).toEqual({ format: 'pt' });
    expect(header.dataStart % 8).toBe(0);
    expect([...header.entries.keys()]).toEqual(model.parameterNames());
    expect([...header.entries.values()].every((entry) => entry.dtype === 'F32')).toBe(true);
    const written = readSafetensors(fileOf(files, 'model.safetensors'), 'model.safetensors').tensors;
    for (const [parameter, tensor] of await model.exportParameters()) expect(written.get(parameter)?.values).toEqual(tensor.values);
    const config = parseJsonBytes(fileOf(files, 'config.json')) as Record<string, unknown>;
    expect({ ...config, lopper: undefined }).toEqual({ ...(configJson as object), ...('torch_dtype' in (configJson as object) && { torch_dtype: 'float32' }), lopper: undefined });
    expect(config['lopper']).toMatchObject({ removed: [], zeroed: [], droppedBlocks: [] });

    const { model: again } = await reopen(files);
    expect(maxDifference(logits(again), logits(model))).toBe(0);
    again.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('zeroes the output projection of a removed sublayer: the same logits as bypassing it', async () => {
    const [, mlp, attention] = model.removalCandidates();
    const removed = [mlp, attention];
    const { files } = await writeHfTransformer(source, model, { configJson, removed });
    const { opened, model: again } = await reopen(files);
    expect(again.config.layers).toBe(model.config.layers);
    expect(maxDifference(logits(again), logits(model, removed))).toBeLessThan(1e-6);
    const lopper = (parseJsonBytes(fileOf(files, 'config.json')) as { lopper: HfLopperMetadata }).lopper;
    expect(lopper).toMatchObject({ removed, zeroed: removed, droppedBlocks: [] });
    const tensors = opened.transformer?.tensors;
    const zeroed = [...(tensors?.keys() ?? [])].filter((key) => [...(tensors?.get(key)?.values ?? [])].every((v) => v === 0));
    expect(zeroed.every((key) => removed.some((sublayer) => key.startsWith(`${sublayer}.`)))).toBe(true);
    expect(zeroed.length).toBeGreaterThanOrEqual(2);
    again.dispose();
  });

  it('drops a block whose two sublayers are removed and renumbers the next: fewer layers, the same logits', async () => {
    const [attention, mlp] = model.removalCandidates();
    const { files } = await writeHfTransformer(source, model, { configJson, removed: [attention, mlp] });
    const { model: again } = await reopen(files);
    expect(again.config.layers).toBe(model.config.layers - 1);
    const config = parseJsonBytes(fileOf(files, 'config.json')) as Record<string, unknown>;
    expect(config[model.config.family === 'gpt2' ? 'n_layer' : 'num_hidden_layers']).toBe(model.config.layers - 1);
    expect((config['lopper'] as HfLopperMetadata).droppedBlocks).toEqual([0]);
    expect(again.parameterCount()).toBeLessThan(model.parameterCount());
    expect(maxDifference(logits(again), logits(model, [attention, mlp]))).toBeLessThan(1e-5);
    again.dispose();
  });

  it('writes F16 tensors when asked: the float16-rounded values', async () => {
    const { files } = await writeHfTransformer(source, model, { configJson, float16: true });
    const bytes = fileOf(files, 'model.safetensors');
    const header = parseSafetensorsHeader(bytes, 'model.safetensors');
    expect([...header.entries.values()].every((entry) => entry.dtype === 'F16')).toBe(true);
    const written = readSafetensors(bytes, 'model.safetensors').tensors;
    for (const [parameter, tensor] of await model.exportParameters()) {
      expect(written.get(parameter)?.values).toEqual(decodeFloat16(encodeFloat16(tensor.values)));
    }
  });
});

describe('writeHfTransformer', () => {
  it('keeps the tokenizer, summarises the recipe, writes a config from the normalised one when none is given, and refuses unknown sublayers', async () => {
    const source = await fixtureOpened('hf-gpt2-tiny');
    const payload = source.transformer;
    if (payload === undefined) throw new Error('not a transformer');
    const model = new TransformerModel(payload.config, payload.tensors);
    try {
      const recipe = {
        lopper: '0.1.0',
        model: { format: 'hf-transformer' as const, name: source.name, sha256: source.sha256 },
        criterion: 'magnitude' as const,
        granularity: 'unstructured' as const,
        allocation: 'uniform' as const,
        target: 0.5,
        sparsity: { 'transformer.h.0.attn.c_attn': 0.5 },
        removed: [],
        seed: 0,
        dataHash: 'synthetic:0:10',
        metrics: { dense: { divergence: 0 }, pruned: { divergence: 0.1 } },
      };
      const { files } = await writeHfTransformer(source, model, { recipe });
      expect(files.map((f) => f.path)).toEqual(['config.json', 'model.safetensors', 'tokenizer.json']);
      const config = parseJsonBytes(fileOf(files, 'config.json')) as Record<string, unknown>;
      expect(config).toMatchObject({ model_type: 'gpt2', n_layer: 2, n_embd: 32, n_head: 4, vocab_size: 297 });
      const { sparsity: _sparsity, ...summary } = recipe;
      expect((config['lopper'] as HfLopperMetadata).recipe).toEqual(summary);
      const { model: again } = await reopen(files);
      expect(maxDifference(logits(again), logits(model))).toBe(0);
      again.dispose();
      await expect(writeHfTransformer(source, model, { removed: ['transformer.h.7.attn'] })).rejects.toThrow(/not an attention or MLP sublayer/);
    } finally {
      model.dispose();
    }
  });
});
