/**
 * Writes the small TF.js LayersModel fixtures under e2e/fixtures/ that the io tests and the
 * end-to-end specs open. Deterministic: weights and data come from a seeded generator, layer
 * names are fixed, and the zip carries a fixed timestamp.
 *
 * Run: npx tsx scripts/make-fixtures.ts
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { zipSync } from 'fflate';

const OUT = join(dirname(fileURLToPath(import.meta.url)), '..', 'e2e', 'fixtures');

// ---------- seeded numbers ----------

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function normalGenerator(seed: number): () => number {
  const uniform = mulberry32(seed);
  return () => {
    const u = Math.max(uniform(), 1e-12);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * uniform());
  };
}

function roundHalfEven(x: number): number {
  const floor = Math.floor(x);
  const diff = x - floor;
  if (diff > 0.5) return floor + 1;
  if (diff < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

// ---------- models ----------

interface WeightOverrides {
  /** Weights filled with one value. */
  constants?: Record<string, number>;
  /** Standard deviations other than 0.1. */
  std?: Record<string, number>;
}

/** Replaces every weight by seeded values: N(0, 0.1), BatchNorm statistics kept sensible. */
function seedWeights(model: tf.LayersModel, seed: number, { constants = {}, std = {} }: WeightOverrides = {}): void {
  const normal = normalGenerator(seed);
  const values = model.weights.map((weight) => {
    const shape = weight.shape.map((dim) => dim ?? 1);
    const size = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(size);
    const name = weight.originalName;
    for (let i = 0; i < size; i++) {
      const n = normal();
      if (name in constants) data[i] = constants[name] ?? 0;
      else if (name.endsWith('moving_variance')) data[i] = 1 + Math.abs(0.2 * n);
      else if (name.endsWith('gamma')) data[i] = 1 + 0.1 * n;
      else data[i] = (std[name] ?? 0.1) * n;
    }
    return tf.tensor(data, shape, 'float32');
  });
  model.setWeights(values);
  tf.dispose(values);
}

function functionalModel(): tf.LayersModel {
  const input = tf.input({ shape: [16, 16, 3], name: 'image' });
  const padded = tf.layers.zeroPadding2d({ padding: 1, name: 'pad' }).apply(input);
  const stem = tf.layers.conv2d({ filters: 8, kernelSize: 3, name: 'stem_conv' }).apply(padded);
  const stemNorm = tf.layers.batchNormalization({ name: 'stem_bn' }).apply(stem);
  const trunk = tf.layers.activation({ activation: 'relu', name: 'stem_relu' }).apply(stemNorm);
  const depthwise = tf.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same', name: 'branch_dw' }).apply(trunk);
  const separable = tf.layers.separableConv2d({ filters: 8, kernelSize: 3, padding: 'same', activation: 'relu', name: 'branch_sep' }).apply(depthwise);
  const branch = tf.layers.batchNormalization({ name: 'branch_bn' }).apply(separable);
  const residual = tf.layers.add({ name: 'residual_add' }).apply([trunk, branch] as tf.SymbolicTensor[]);
  const pooled = tf.layers.maxPooling2d({ poolSize: 2, name: 'pool' }).apply(residual);
  const averaged = tf.layers.globalAveragePooling2d({ name: 'gap' }).apply(pooled);
  const dropped = tf.layers.dropout({ rate: 0.25, name: 'dropout' }).apply(averaged);
  const logits = tf.layers.dense({ units: 10, activation: 'softmax', name: 'logits' }).apply(dropped) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: logits, name: 'functional' });
}

function digitsCnn(): tf.Sequential {
  return tf.sequential({
    name: 'two_shards',
    layers: [
      tf.layers.conv2d({ inputShape: [28, 28, 1], filters: 8, kernelSize: 3, padding: 'same', activation: 'relu', name: 'conv1' }),
      tf.layers.maxPooling2d({ poolSize: 2, name: 'pool1' }),
      tf.layers.conv2d({ filters: 16, kernelSize: 3, padding: 'same', activation: 'relu', name: 'conv2' }),
      tf.layers.maxPooling2d({ poolSize: 2, name: 'pool2' }),
      tf.layers.flatten({ name: 'flatten' }),
      tf.layers.dense({ units: 10, activation: 'softmax', name: 'logits' }),
    ],
  });
}

function quantizableNet(): tf.Sequential {
  return tf.sequential({
    name: 'qnet',
    layers: [
      tf.layers.conv2d({ inputShape: [8, 8, 1], filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', name: 'conv' }),
      tf.layers.flatten({ name: 'flatten' }),
      tf.layers.dense({ units: 10, activation: 'softmax', name: 'logits' }),
    ],
  });
}

function mlp(): tf.Sequential {
  return tf.sequential({
    name: 'mlp',
    layers: [tf.layers.dense({ inputShape: [8], units: 16, activation: 'relu', name: 'hidden' }), tf.layers.dense({ units: 3, activation: 'softmax', name: 'out' })],
  });
}

interface Saved {
  topology: Record<string, unknown>;
  specs: tf.io.WeightsManifestEntry[];
  data: Uint8Array;
  generatedBy: string;
}

async function save(model: tf.LayersModel): Promise<Saved> {
  let captured: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      captured = artifacts;
      return { modelArtifactsInfo: { dateSaved: new Date(0), modelTopologyType: 'JSON' } };
    }),
  );
  const weightData = captured?.weightData;
  if (captured === undefined || !(weightData instanceof ArrayBuffer) || captured.weightSpecs === undefined) {
    throw new Error('tfjs did not hand over the model artifacts');
  }
  return {
    topology: captured.modelTopology as Record<string, unknown>,
    specs: captured.weightSpecs,
    data: new Uint8Array(weightData),
    generatedBy: captured.generatedBy ?? 'TensorFlow.js',
  };
}

// ---------- writing ----------

function resetDir(name: string): string {
  const dir = join(OUT, name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  return dir;
}

function writeJson(path: string, value: unknown): void {
  writeFileSync(path, `${JSON.stringify(value, null, 1)}\n`);
}

/** Splits bytes into `count` shards of (nearly) equal size, cutting through weights as tfjs may. */
function splitBytes(data: Uint8Array, count: number): Uint8Array[] {
  const size = Math.ceil(data.byteLength / count);
  return Array.from({ length: count }, (_, i) => data.slice(i * size, Math.min((i + 1) * size, data.byteLength)));
}

function shardNames(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `group1-shard${i + 1}of${count}.bin`);
}

interface ModelFiles {
  modelJson: Record<string, unknown>;
  shards: Record<string, Uint8Array>;
}

function layersModelFiles(saved: Saved, specs: readonly unknown[], data: Uint8Array, shardCount: number): ModelFiles {
  const names = shardNames(shardCount);
  const pieces = splitBytes(data, shardCount);
  const shards: Record<string, Uint8Array> = {};
  names.forEach((name, i) => {
    shards[name] = pieces[i] ?? new Uint8Array(0);
  });
  return {
    modelJson: {
      format: 'layers-model',
      generatedBy: saved.generatedBy,
      convertedBy: null,
      modelTopology: saved.topology,
      weightsManifest: [{ paths: names, weights: specs }],
    },
    shards,
  };
}

function writeModelFiles(dir: string, files: ModelFiles): void {
  writeJson(join(dir, 'model.json'), files.modelJson);
  for (const [name, bytes] of Object.entries(files.shards)) writeFileSync(join(dir, name), bytes);
}

// ---------- quantization, as the TF.js converter does it ----------

interface Quantized {
  bytes: Uint8Array;
  quantization: { dtype: 'uint8' | 'uint16' | 'float16'; scale?: number; min?: number };
  expected: number[];
}

function quantizeAffine(values: Float32Array, bits: 8 | 16): Quantized {
  const dtype = bits === 8 ? 'uint8' : 'uint16';
  const quantMax = 2 ** bits - 1;
  let min = Infinity;
  let max = -Infinity;
  for (const v of values) {
    min = Math.min(min, v);
    max = Math.max(max, v);
  }
  const codes = bits === 8 ? new Uint8Array(values.length) : new Uint16Array(values.length);
  let scale = 1;
  if (min !== max) {
    scale = (max - min) / quantMax;
    if (min <= 0 && max >= 0) {
      const zeroPoint = roundHalfEven(-min / scale);
      min = -zeroPoint * scale;
      max = quantMax * scale + min;
    }
    values.forEach((v, i) => {
      const clipped = Math.min(Math.max(v, min), max);
      codes[i] = Math.min(quantMax, Math.max(0, roundHalfEven((clipped - min) / scale)));
    });
  }
  const expected = Array.from(codes, (code) => Math.fround(code * scale + min));
  return { bytes: new Uint8Array(codes.buffer), quantization: { dtype, scale, min }, expected };
}

/** Nearest IEEE half to `x` (ties to even), as its bits and its value. */
function toHalf(x: number): { bits: number; value: number } {
  const sign = x < 0 ? 0x8000 : 0;
  const magnitude = Math.abs(x);
  if (magnitude === 0) return { bits: sign, value: sign ? -0 : 0 };
  let exponent = Math.floor(Math.log2(magnitude));
  if (2 ** exponent > magnitude) exponent -= 1;
  if (2 ** (exponent + 1) <= magnitude) exponent += 1;
  exponent = Math.max(exponent, -14);
  let mantissa = roundHalfEven(magnitude / 2 ** (exponent - 10));
  if (mantissa === 2048) {
    mantissa = 1024;
    exponent += 1;
  }
  const value = mantissa * 2 ** (exponent - 10);
  if (exponent > 15) return { bits: sign | 0x7c00, value: sign ? -Infinity : Infinity };
  const bits = mantissa < 1024 ? sign | mantissa : sign | ((exponent + 15) << 10) | (mantissa - 1024);
  return { bits, value: sign ? -value : value };
}

function quantizeFloat16(values: Float32Array): Quantized {
  const halves = Array.from(values, toHalf);
  return {
    bytes: new Uint8Array(Uint16Array.from(halves, (h) => h.bits).buffer),
    quantization: { dtype: 'float16' },
    expected: halves.map((h) => h.value),
  };
}

async function writeQuantized(saved: Saved, kind: 'uint8' | 'uint16' | 'float16'): Promise<void> {
  const dir = resetDir(`quantized-${kind}`);
  const specs: unknown[] = [];
  const chunks: Uint8Array[] = [];
  const expected: Record<string, number[]> = {};
  let offset = 0;
  for (const spec of saved.specs) {
    const size = spec.shape.reduce((a, b) => a * b, 1);
    const values = new Float32Array(saved.data.slice(offset, offset + size * 4).buffer);
    offset += size * 4;
    const quantized = kind === 'float16' ? quantizeFloat16(values) : quantizeAffine(values, kind === 'uint8' ? 8 : 16);
    specs.push({ ...spec, quantization: quantized.quantization });
    chunks.push(quantized.bytes);
    expected[spec.name] = quantized.expected;
  }
  const data = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  let at = 0;
  for (const chunk of chunks) {
    data.set(chunk, at);
    at += chunk.byteLength;
  }
  writeModelFiles(dir, layersModelFiles(saved, specs, data, 1));
  writeJson(join(dir, 'expected.json'), { quantization: kind, weights: expected });
}

// ---------- fixtures ----------

async function writeFunctional(): Promise<void> {
  const model = functionalModel();
  seedWeights(model, 7, { constants: { 'logits/bias': 0 }, std: { 'stem_conv/kernel': 0.5, 'branch_dw/depthwise_kernel': 0.5, 'branch_sep/pointwise_kernel': 0.5 } });
  const saved = await save(model);
  const dir = resetDir('functional');
  writeModelFiles(dir, layersModelFiles(saved, saved.specs, saved.data, 2));

  const samples = 64;
  const uniform = mulberry32(2);
  const pixels = 16 * 16;
  const inputs: number[] = [];
  for (let n = 0; n < samples; n++) {
    const channelMeans = [uniform(), uniform(), uniform()];
    for (let p = 0; p < pixels; p++) {
      for (const mean of channelMeans) inputs.push(Math.round(Math.min(1, Math.max(0, mean + 0.4 * (uniform() - 0.5))) * 10) / 10);
    }
  }
  const labels = tf.tidy(() => {
    const x = tf.tensor4d(inputs, [samples, 16, 16, 3]);
    return Array.from((model.predict(x) as tf.Tensor).argMax(-1).dataSync());
  });
  writeFileSync(join(dir, 'eval.json'), `${JSON.stringify({ inputs, shape: [samples, 16, 16, 3], labels })}\n`);
  model.dispose();
}

async function writeTwoShards(): Promise<ModelFiles> {
  const model = digitsCnn();
  seedWeights(model, 3);
  const saved = await save(model);
  model.dispose();
  const files = layersModelFiles(saved, saved.specs, saved.data, 2);
  writeModelFiles(resetDir('two-shards'), files);
  return files;
}

function writeZip(name: string, folder: string, files: ModelFiles): void {
  const entries: Record<string, Uint8Array> = {
    'model.json': new TextEncoder().encode(`${JSON.stringify(files.modelJson, null, 1)}\n`),
    ...files.shards,
  };
  const zipped = zipSync({ [folder]: entries }, { level: 6, mtime: new Date(2024, 0, 1) });
  writeFileSync(join(OUT, name), zipped);
}

async function writeQuantizedFixtures(): Promise<void> {
  const model = quantizableNet();
  seedWeights(model, 4, { constants: { 'conv/bias': 0.25 } });
  const saved = await save(model);
  model.dispose();
  for (const kind of ['uint8', 'uint16', 'float16'] as const) await writeQuantized(saved, kind);
}

async function writeBrokenAndLegacy(): Promise<void> {
  const model = mlp();
  seedWeights(model, 5);
  const saved = await save(model);
  model.dispose();

  const legacy = resetDir('legacy');
  const { class_name: className, config } = saved.topology;
  writeJson(join(legacy, 'model.json'), {
    modelTopology: {
      keras_version: '2.2.4',
      backend: 'tensorflow',
      model_config: { class_name: className, config },
      training_config: { loss: 'categorical_crossentropy', metrics: ['accuracy'], optimizer_config: { class_name: 'Adam', config: { lr: 0.001 } } },
    },
    weightsManifest: [{ paths: ['weights'], weights: saved.specs }],
  });
  writeFileSync(join(legacy, 'weights'), saved.data);

  const missing = layersModelFiles(saved, saved.specs, saved.data, 2);
  delete missing.shards['group1-shard2of2.bin'];
  writeModelFiles(resetDir('missing-shard'), missing);

  const extra = layersModelFiles(saved, saved.specs, saved.data, 1);
  extra.shards['group1-shard2of2.bin'] = saved.data.slice(0, 16);
  writeModelFiles(resetDir('extra-shard'), extra);

  const badSize = layersModelFiles(saved, saved.specs, saved.data, 1);
  badSize.shards['group1-shard1of1.bin'] = saved.data.slice(0, saved.data.byteLength - 3);
  writeModelFiles(resetDir('bad-size'), badSize);

  const unknown = layersModelFiles(saved, saved.specs, saved.data, 1);
  const layers = (config as { layers: unknown[] }).layers;
  const fancy = { class_name: 'FancyAttention', config: { name: 'fancy_attention', heads: 2, trainable: true } };
  unknown.modelJson['modelTopology'] = { ...saved.topology, config: { ...(config as object), layers: [layers[0], fancy, ...layers.slice(1)] } };
  writeModelFiles(resetDir('unknown-layer'), unknown);
}

function writeGraphModel(): void {
  const dir = resetDir('graph-model');
  const weights = new Float32Array(8).map((_, i) => i / 8);
  writeJson(join(dir, 'model.json'), {
    format: 'graph-model',
    generatedBy: '2.15.0',
    convertedBy: 'TensorFlow.js Converter v4.22.0',
    modelTopology: {
      node: [
        { name: 'x', op: 'Placeholder', attr: { dtype: { type: 'DT_FLOAT' }, shape: { shape: { dim: [{ size: '-1' }, { size: '4' }] } } } },
        { name: 'w', op: 'Const', attr: { dtype: { type: 'DT_FLOAT' }, value: { tensor: { dtype: 'DT_FLOAT', tensorShape: { dim: [{ size: '4' }, { size: '2' }] } } } } },
        { name: 'y', op: 'MatMul', input: ['x', 'w'], attr: { T: { type: 'DT_FLOAT' } } },
      ],
      library: {},
      versions: { producer: 1286 },
    },
    weightsManifest: [{ paths: ['group1-shard1of1.bin'], weights: [{ name: 'w', shape: [4, 2], dtype: 'float32' }] }],
  });
  writeFileSync(join(dir, 'group1-shard1of1.bin'), new Uint8Array(weights.buffer));
}

async function main(): Promise<void> {
  await tf.setBackend('cpu');
  mkdirSync(OUT, { recursive: true });
  await writeFunctional();
  writeZip('two-shards.zip', 'two-shards', await writeTwoShards());
  await writeQuantizedFixtures();
  await writeBrokenAndLegacy();
  writeGraphModel();
  console.error(`fixtures written to ${OUT}; tensors left: ${tf.memory().numTensors}`);
}

await main();
