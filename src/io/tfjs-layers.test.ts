import { readFile } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { ExtraShardError, MissingShardError, ShardSizeError, UnsupportedLayerError } from './errors';
import { layerClassUses } from './layer-classes';
import { parseModelJson } from './manifest';
import { openModel } from './open';
import { fixtureFiles, fixturePath } from './test-support';
import { tfjsLayersFormat } from './tfjs-layers';
import type { OpenedModel } from './types';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

async function openFixture(name: string): Promise<OpenedModel> {
  return openModel(await fixtureFiles(name));
}

/** Loads the artifacts with tfjs, predicts on a batch of ones, disposes everything; returns the output. */
async function loadAndPredict(opened: OpenedModel, batch = 2): Promise<{ shape: number[]; values: Float32Array }> {
  const model = await tf.loadLayersModel({ load: async () => opened.artifacts });
  const inputShape = model.inputs[0]?.shape.slice(1).map((d) => d ?? 1) ?? [];
  const output = tf.tidy(() => model.predict(tf.ones([batch, ...inputShape])) as tf.Tensor);
  const result = { shape: output.shape, values: (await output.data()) as Float32Array };
  output.dispose();
  model.dispose();
  return result;
}

function weightValues(opened: OpenedModel): Map<string, Float32Array> {
  const values = new Map<string, Float32Array>();
  const data = opened.artifacts.weightData;
  if (!(data instanceof ArrayBuffer)) throw new Error('expected one ArrayBuffer of weights');
  let offset = 0;
  for (const spec of opened.artifacts.weightSpecs ?? []) {
    const size = spec.shape.reduce((a, b) => a * b, 1);
    values.set(spec.name, new Float32Array(data.slice(offset, offset + size * 4)));
    offset += size * 4;
  }
  return values;
}

describe('TF.js LayersModel fixtures', () => {
  it.each([
    ['functional', [2, 10]],
    ['two-shards', [2, 10]],
    ['quantized-uint8', [2, 10]],
    ['quantized-uint16', [2, 10]],
    ['quantized-float16', [2, 10]],
    ['legacy', [2, 3]],
  ])('%s opens, builds in tfjs and predicts', async (name, outputShape) => {
    const opened = await openFixture(name);
    expect(opened.format).toBe('layers-model');
    expect(opened.name).toBe(name);
    expect(opened.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(opened.artifacts.format).toBe('layers-model');
    for (const spec of opened.artifacts.weightSpecs ?? []) {
      expect(spec.quantization).toBeUndefined();
      expect(spec.dtype).toBe('float32');
    }
    const { shape, values } = await loadAndPredict(opened);
    expect(shape).toEqual(outputShape);
    const rowSum = values.slice(0, outputShape[1]).reduce((a, b) => a + b, 0);
    expect(rowSum).toBeCloseTo(1, 5);
  });

  it('hashes the model.json bytes and lists the files in manifest order', async () => {
    const opened = await openFixture('two-shards');
    const { createHash } = await import('node:crypto');
    const bytes = await readFile(fixturePath('two-shards/model.json'));
    expect(opened.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
    expect(opened.files).toEqual(['two-shards/model.json', 'two-shards/group1-shard1of2.bin', 'two-shards/group1-shard2of2.bin']);
  });

  it('opens the functional model with every layer kind it was built from', async () => {
    const opened = await openFixture('functional');
    const json = parseModelJson(JSON.parse(await readFile(fixturePath('functional/model.json'), 'utf8')), 'model.json');
    const classes = new Set(layerClassUses(json.modelTopology).map((use) => use.className));
    for (const className of ['BatchNormalization', 'DepthwiseConv2D', 'SeparableConv2D', 'ZeroPadding2D', 'Dropout', 'GlobalAveragePooling2D', 'Add', 'Dense']) {
      expect(classes).toContain(className);
    }
    expect(opened.files).toHaveLength(3);
  });

  it.each(['uint8', 'uint16', 'float16'])('quantized-%s decodes to expected.json and to what tfjs decodes', async (kind) => {
    const opened = await openFixture(`quantized-${kind}`);
    const expected = JSON.parse(await readFile(fixturePath(`quantized-${kind}/expected.json`), 'utf8')) as { weights: Record<string, number[]> };
    const decoded = weightValues(opened);
    expect([...decoded.keys()].sort()).toEqual(Object.keys(expected.weights).sort());
    for (const [name, values] of decoded) {
      const want = expected.weights[name] ?? [];
      expect(values.length).toBe(want.length);
      const worst = want.reduce((max, w, i) => Math.max(max, Math.abs(w - (values[i] ?? NaN))), 0);
      expect(worst, name).toBeLessThanOrEqual(1e-7);
    }

    const modelJson = JSON.parse(await readFile(fixturePath(`quantized-${kind}/model.json`), 'utf8')) as { weightsManifest: [{ weights: tf.io.WeightsManifestEntry[] }] };
    const shard = await readFile(fixturePath(`quantized-${kind}/group1-shard1of1.bin`));
    const raw = shard.buffer.slice(shard.byteOffset, shard.byteOffset + shard.byteLength);
    const theirs = tf.io.decodeWeights(raw, modelJson.weightsManifest[0].weights);
    for (const [name, tensor] of Object.entries(theirs)) expect(Array.from(decoded.get(name) ?? []), name).toEqual(Array.from(tensor.dataSync()));
    tf.dispose(Object.values(theirs));
  });

  it('reads the legacy Keras layout with a shard named without .bin', async () => {
    const opened = await openFixture('legacy');
    expect(opened.files).toEqual(['legacy/model.json', 'legacy/weights']);
    const topology = opened.artifacts.modelTopology as Record<string, unknown>;
    expect(topology['class_name']).toBe('Sequential');
    expect(topology['keras_version']).toBe('2.2.4');
    expect(topology).not.toHaveProperty('model_config');
  });

  it('leaves no tensors behind after open, load, predict and dispose', async () => {
    const before = tf.memory().numTensors;
    for (const name of ['functional', 'quantized-uint8', 'legacy']) await loadAndPredict(await openFixture(name));
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('broken fixtures give their own error', () => {
  it('missing-shard', async () => {
    const open = openFixture('missing-shard');
    await expect(open).rejects.toBeInstanceOf(MissingShardError);
    await expect(open).rejects.toThrow(
      'missing-shard/model.json: weightsManifest lists "group1-shard2of2.bin" but no such file was dropped (got: missing-shard/group1-shard1of2.bin, missing-shard/model.json)',
    );
  });

  it('extra-shard', async () => {
    await expect(openFixture('extra-shard')).rejects.toBeInstanceOf(ExtraShardError);
  });

  it('bad-size', async () => {
    const open = openFixture('bad-size');
    await expect(open).rejects.toBeInstanceOf(ShardSizeError);
    await expect(open).rejects.toThrow(
      'bad-size/model.json: shard "group1-shard1of1.bin" holds 777 bytes but the weights listed for it need 780 (expected 780 bytes, got 777 bytes)',
    );
  });

  it('unknown-layer', async () => {
    const open = openFixture('unknown-layer');
    await expect(open).rejects.toBeInstanceOf(UnsupportedLayerError);
    await expect(open).rejects.toMatchObject({ className: 'FancyAttention', layerName: 'fancy_attention', file: 'unknown-layer/model.json' });
    await expect(open).rejects.toThrow(/^unknown-layer\/model\.json: layer "fancy_attention" is a FancyAttention, which TensorFlow\.js layers cannot build/);
  });

  it('graph-model goes to the GraphModel reader', async () => {
    const opened = await openFixture('graph-model');
    expect(opened.format).toBe('graph-model');
    expect(opened.files).toEqual(['graph-model/model.json', 'graph-model/group1-shard1of1.bin']);
  });
});

describe('tfjsLayersFormat.match', () => {
  it('matches by name without a context and by content with one', async () => {
    const files = await fixtureFiles('graph-model');
    expect(tfjsLayersFormat.match(files)).toBe(true);
    expect(tfjsLayersFormat.match(files, { json: () => ({ format: 'graph-model', modelTopology: { node: [] } }) })).toBe(false);
    expect(tfjsLayersFormat.match(files, { json: () => ({ format: 'layers-model', modelTopology: {} }) })).toBe(true);
  });
});

describe('layerClassUses', () => {
  it('walks nested models and wrappers', () => {
    const uses = layerClassUses({
      class_name: 'Functional',
      config: {
        name: 'outer',
        layers: [
          { class_name: 'InputLayer', config: { name: 'in' } },
          { class_name: 'Sequential', config: { name: 'inner', layers: [{ class_name: 'Dense', config: { name: 'd' } }] } },
          { class_name: 'TimeDistributed', config: { name: 'td', layer: { class_name: 'Conv2D', config: { name: 'c' } } } },
          { class_name: 'Bidirectional', name: 'bi', config: { layer: { class_name: 'LSTM', config: { name: 'l' } } } },
        ],
      },
    });
    expect(uses.map((u) => `${u.className}:${u.layerName}`)).toEqual([
      'Functional:outer',
      'InputLayer:in',
      'Sequential:inner',
      'Dense:d',
      'TimeDistributed:td',
      'Conv2D:c',
      'Bidirectional:bi',
      'LSTM:l',
    ]);
  });
});
