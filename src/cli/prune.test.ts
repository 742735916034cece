import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dare, unitSeed } from '../core/delta/dare';
import { rescaleGrid } from '../core/delta/darex';
import { evaluate, type EvalData } from '../core/evaluate';
import { PrunableModel } from '../core/model/runtime';
import { forwardWithRemovals } from '../core/removal/layer-removal';
import { randomTokenWindows } from '../core/removal/calibration';
import { TransformerModel } from '../core/transformer/model';
import { jsFromLogits } from '../core/transformer/output-change';
import { sha256Hex } from '../io/hash';
import { filesFromPath } from '../io/node-files';
import { openModel } from '../io/open';
import { parseRecipe, type Recipe, type RecipeMetrics } from '../io/recipe';
import type { OpenedModel } from '../io/types';
import { runMain as run } from './testing';

const ROOT = join(import.meta.dirname, '..', '..');
const DEMO = join(ROOT, 'public', 'models', 'digits-cnn');
const INVERTED = join(ROOT, 'public', 'models', 'digits-cnn-inverted');
const FIXTURES = join(ROOT, 'e2e', 'fixtures');
const LLAMA = join(FIXTURES, 'hf-llama-tiny');
/** Digits per test dataset: enough for every criterion, few enough to keep the runs quick. */
const SAMPLES = 64;

interface Printed {
  sparsity: number;
  params: number;
  removed: string[];
  metrics: { dense: RecipeMetrics; pruned: RecipeMetrics };
  dare?: { base: string; p: number; q: number };
  dataHash: string;
}

interface Dataset {
  inputs: number[];
  shape: number[];
  labels: number[];
}

async function readJson<T>(path: string): Promise<T> {
  return JSON.parse(await readFile(path, 'utf8')) as T;
}

/** Runs `lopper prune … --json --backend cpu` and returns what it printed; fails with its stderr otherwise. */
async function prune(args: string[]): Promise<Printed> {
  const { code, stdout, stderr } = await run(['prune', ...args, '--json', '--backend', 'cpu']);
  expect(code, stderr).toBe(0);
  expect(stdout.trim().split('\n')).toHaveLength(1);
  return JSON.parse(stdout) as Printed;
}

/** The first SAMPLES digits of a demo's eval set, written as a dataset file; its data for evaluate(). */
async function subset(folder: string, path: string): Promise<EvalData> {
  const full = await readJson<Dataset>(join(folder, 'eval.json'));
  const size = 28 * 28;
  const data: Dataset = { inputs: full.inputs.slice(0, SAMPLES * size), shape: [SAMPLES, 28, 28, 1], labels: full.labels.slice(0, SAMPLES) };
  await writeFile(path, JSON.stringify(data));
  return { inputs: Float32Array.from(data.inputs), shape: data.shape, labels: Int32Array.from(data.labels) };
}

async function opened(folder: string): Promise<OpenedModel> {
  return openModel(await filesFromPath(folder));
}

/** Every weight of a written LayersModel folder, by manifest name, as bytes. */
async function weightBytes(folder: string): Promise<Map<string, Uint8Array>> {
  const { artifacts } = await opened(folder);
  const data = new Uint8Array(artifacts.weightData as ArrayBuffer);
  const out = new Map<string, Uint8Array>();
  let offset = 0;
  for (const spec of artifacts.weightSpecs ?? []) {
    const bytes = spec.shape.reduce((a, b) => a * b, 1) * 4;
    out.set(spec.name, data.slice(offset, offset + bytes));
    offset += bytes;
  }
  return out;
}

async function kernelOf(model: PrunableModel, unit: string): Promise<Float32Array> {
  const kernel = model.getKernel(unit);
  const values = (await kernel.data()) as Float32Array;
  kernel.dispose();
  return values;
}

describe('lopper prune', () => {
  let dir = '';
  let digitsPath = '';
  let digits: EvalData;

  beforeAll(async () => {
    await tf.setBackend('cpu');
    dir = await mkdtemp(join(tmpdir(), 'lopper-prune-'));
    digitsPath = join(dir, 'digits.json');
    digits = await subset(DEMO, digitsPath);
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  // Replays of the other criteria are checked against the page's weights in src/worker/sessions/agreement.test.ts.
  it.each([
    ['wanda', 'owl', 'the recipe replays bit for bit'],
    ['sparsegpt', 'global', ''],
    ['random', 'ecoflap', 'the recipe replays bit for bit (seeded ECoFLaP)'],
    ['magnitude', 'sensitivity', ''],
  ])(
    'prunes the demo CNN with %s and %s to the target; the folder reopens to the printed metrics; %s',
    async (criterion, allocation, replays) => {
      const before = tf.memory().numTensors;
      const outDir = join(dir, `${criterion}-${allocation}`);
      const printed = await prune([DEMO, '--data', digitsPath, '--sparsity', '0.6', '--criterion', criterion, '--allocation', allocation, '--seed', '3', '--out', outDir]);
      expect(Math.abs(printed.sparsity - 0.6)).toBeLessThanOrEqual(0.005);
      expect(printed).toMatchObject({ params: 56714, removed: [], dataHash: await sha256Hex(await readFile(digitsPath)) });

      const recipe = parseRecipe(await readJson(join(outDir, 'recipe.json')), 'recipe.json');
      expect(recipe).toMatchObject({ criterion, allocation, target: 0.6, seed: 3, removed: [], metrics: printed.metrics, dataHash: printed.dataHash });
      expect(Object.keys(recipe.sparsity)).toEqual(['conv1', 'conv2', 'dense1', 'dense2']);
      const modelJson = await readJson<{ userDefinedMetadata: { lopper: Recipe } }>(join(outDir, 'model.json'));
      expect(modelJson.userDefinedMetadata.lopper).toEqual(recipe);

      const written = await PrunableModel.fromArtifacts((await opened(outDir)).artifacts);
      const units = written.units();
      let zeros = 0;
      for (const unit of units) zeros += (await kernelOf(written, unit.name)).filter((v) => v === 0).length;
      expect(zeros / units.reduce((n, u) => n + u.size, 0)).toBeCloseTo(printed.sparsity, 12);
      const reloaded = await evaluate(written, digits, { latencyRuns: 0 });
      expect(reloaded.accuracy).toBe(printed.metrics.pruned.accuracy);
      expect(reloaded.loss).toBe(printed.metrics.pruned.loss);
      written.dispose();
      if (replays === '') {
        expect(tf.memory().numTensors).toBe(before);
        return;
      }

      const replayDir = join(dir, `${criterion}-${allocation}-replay`);
      const replayed = await prune([DEMO, '--data', digitsPath, '--recipe', join(outDir, 'recipe.json'), '--out', replayDir]);
      expect(replayed).toMatchObject({ sparsity: printed.sparsity, metrics: printed.metrics });
      const [original, replay] = [await weightBytes(outDir), await weightBytes(replayDir)];
      expect([...replay.keys()]).toEqual([...original.keys()]);
      for (const [name, bytes] of original) expect(Buffer.compare(Buffer.from(replay.get(name) ?? []), Buffer.from(bytes)), name).toBe(0);
      expect(await readFile(join(replayDir, 'recipe.json'), 'utf8')).toBe(await readFile(join(outDir, 'recipe.json'), 'utf8'));
      expect(tf.memory().numTensors).toBe(before);
    },
    120_000,
  );

  it('reads a saved sweep for --allocation sensitivity and writes float16 weights that reopen to the printed metrics', async () => {
    const sweepPath = join(dir, 'sweep.json');
    const sweep = {
      layers: ['conv1', 'conv2', 'dense1', 'dense2'],
      sparsities: [0, 0.5, 0.9],
      values: [
        [0.99, 0.5, 0.1],
        [0.99, 0.9, 0.5],
        [0.99, 0.99, 0.98],
        [0.99, 0.95, null],
      ],
      dense: 0.99,
      metric: 'accuracy',
      criterion: 'magnitude',
      granularity: 'unstructured',
    };
    await writeFile(sweepPath, JSON.stringify(sweep));
    const outDir = join(dir, 'sensitivity-f16');
    const printed = await prune([DEMO, '--data', digitsPath, '--sparsity', '0.7', '--allocation', 'sensitivity', '--sweep', sweepPath, '--float16', '--out', outDir]);
    expect(Math.abs(printed.sparsity - 0.7)).toBeLessThanOrEqual(0.005);
    const recipe = parseRecipe(await readJson(join(outDir, 'recipe.json')), 'recipe.json');
    expect(recipe.sparsity['dense1']).toBeGreaterThan(0.7);
    expect(recipe.sparsity['conv1']).toBe(0);
    const modelJson = await readJson<{ weightsManifest: { weights: { quantization?: { dtype: string } }[] }[] }>(join(outDir, 'model.json'));
    expect(modelJson.weightsManifest[0].weights.every((w) => w.quantization?.dtype === 'float16')).toBe(true);
    const written = await PrunableModel.fromArtifacts((await opened(outDir)).artifacts);
    expect((await evaluate(written, digits, { latencyRuns: 0 })).loss).toBe(printed.metrics.pruned.loss);
    written.dispose();
    // The labelled sweep goes beside the model as Distiller's CSV (top1 in percent), one row per unit and sparsity it holds.
    const csv = (await readFile(join(outDir, 'sensitivity.csv'), 'utf8')).trim().split('\r\n');
    expect(csv[0]).toBe('parameter,sparsity,top1,top5,loss');
    expect(csv).toHaveLength(1 + 11);
    expect(csv).toContain('conv1,0.5,50.0,,');
  }, 60_000);

  it('shrinks channel groups with --granularity channels: a smaller model that reopens to the printed metrics, replayed bit for bit', async () => {
    const outDir = join(dir, 'channels');
    const printed = await prune([DEMO, '--data', digitsPath, '--sparsity', '0.5', '--granularity', 'channels', '--criterion', 'wanda', '--out', outDir]);
    // conv1 8 of 16 filters, conv2 16 of 32, dense1 32 of 64; dense2 feeds the softmax output and keeps its 10.
    expect(printed.params).toBe(80 + 1168 + 12832 + 330);
    expect(printed.sparsity).toBeCloseTo(1 - (72 + 1152 + 12800 + 320) / (144 + 4608 + 51200 + 640), 12);
    const written = await PrunableModel.fromArtifacts((await opened(outDir)).artifacts);
    expect(written.units().map((u) => u.shape)).toEqual([
      [3, 3, 1, 8],
      [3, 3, 8, 16],
      [400, 32],
      [32, 10],
    ]);
    expect((await evaluate(written, digits, { latencyRuns: 0 })).accuracy).toBe(printed.metrics.pruned.accuracy);
    written.dispose();
    const replayDir = join(dir, 'channels-replay');
    await prune([DEMO, '--data', digitsPath, '--recipe', join(outDir, 'recipe.json'), '--out', replayDir]);
    expect(Buffer.compare(await readFile(join(replayDir, 'group1-shard1of1.bin')), await readFile(join(outDir, 'group1-shard1of1.bin')))).toBe(0);
  });

  it('removes residual branches and layers of a functional model: the written topology computes what the bypassed model does', async () => {
    const folder = join(FIXTURES, 'functional');
    const dataPath = join(folder, 'eval.json');
    const outDir = join(dir, 'functional');
    const printed = await prune([folder, '--data', dataPath, '--sparsity', '0.3', '--remove', '3', '--out', outDir]);
    expect(printed.removed).toHaveLength(3);
    const source = await PrunableModel.fromArtifacts((await opened(folder)).artifacts);
    const written = await PrunableModel.fromArtifacts((await opened(outDir)).artifacts);
    expect(printed.params).toBe(written.layersModel.countParams());
    expect(printed.params).toBeLessThan(source.layersModel.countParams());
    const layers = written.layerNames();
    expect(printed.removed.filter((name) => layers.includes(name))).toEqual([]);
    for (const unit of written.units()) source.setKernel(unit.name, await kernelOf(written, unit.name));
    const dataset = await readJson<Dataset>(dataPath);
    const x = tf.tensor(dataset.inputs, dataset.shape);
    const expected = forwardWithRemovals(source, x, new Set(printed.removed));
    const actual = written.forward(x);
    expect(tf.max(tf.abs(tf.sub(expected, actual))).dataSync()[0]).toBeLessThan(1e-6);
    tf.dispose([x, expected, actual]);
    const data: EvalData = { inputs: Float32Array.from(dataset.inputs), shape: dataset.shape, labels: Int32Array.from(dataset.labels) };
    expect((await evaluate(written, data, { latencyRuns: 0 })).accuracy).toBe(printed.metrics.pruned.accuracy);
    source.dispose();
    written.dispose();
  });

  it('prunes a Hugging Face LLaMA data-free with removals and ECoFLaP: config.json, model.safetensors and recipe.json that reopen to the printed divergence', async () => {
    const before = tf.memory().numTensors;
    const outDir = join(dir, 'llama');
    const printed = await prune([LLAMA, '--sparsity', '0.4', '--allocation', 'ecoflap', '--remove', '2', '--samples', '4', '--seed', '5', '--out', outDir]);
    expect(Math.abs(printed.sparsity - 0.4)).toBeLessThanOrEqual(0.005);
    expect(printed.removed).toHaveLength(2);
    expect(printed).toMatchObject({ dataHash: 'synthetic:5:4', metrics: { dense: { divergence: 0, samples: 4 * 64 } } });
    const config = await readJson<Record<string, unknown> & { lopper: { removed: string[] } }>(join(outDir, 'config.json'));
    expect(config.lopper.removed).toEqual(printed.removed);
    expect(parseRecipe(await readJson(join(outDir, 'recipe.json')), 'recipe.json').removed).toEqual(printed.removed);

    const source = (await opened(LLAMA)).transformer;
    const written = (await opened(outDir)).transformer;
    if (source === undefined || written === undefined) throw new Error('not transformers');
    const dense = new TransformerModel(source.config, source.tensors);
    const pruned = new TransformerModel(written.config, written.tensors);
    // `params` (as the page shows it) counts what still computes: a removed sublayer's projections, biases
    // and norm are gone, while the written checkpoint keeps a lone removed sublayer's weights (its output
    // projection zeroed) for stock loaders and drops a block only when both its sublayers go.
    expect(printed.params).toBeLessThan(dense.parameterCount());
    expect(printed.params).toBeLessThanOrEqual(pruned.parameterCount());
    const written0 = await opened(outDir);
    const zeroed = [...(written0.transformer?.tensors.values() ?? [])].filter((t) => t.values.length > 0 && t.values.every((v) => v === 0));
    expect(zeroed.length > 0 || printed.params === pruned.parameterCount()).toBe(true);
    const windows = randomTokenWindows(source.config.vocabSize, dense.contextLength, { samples: 4, seed: 5 });
    const divergence = tf.tidy(() => {
      const ids = tf.tensor2d(windows, undefined, 'int32');
      return jsFromLogits(dense.forward(ids), pruned.forward(ids)).dataSync()[0];
    });
    expect(divergence).toBeCloseTo(printed.metrics.pruned.divergence ?? NaN, 6);
    dense.dispose();
    pruned.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('replays a transformer recipe (SparseGPT, OWL) to the same safetensors bytes', async () => {
    const [first, second] = [join(dir, 'llama-a'), join(dir, 'llama-b')];
    const printed = await prune([LLAMA, '--sparsity', '0.5', '--criterion', 'sparsegpt', '--allocation', 'owl', '--samples', '3', '--out', first]);
    const replayed = await prune([LLAMA, '--recipe', join(first, 'recipe.json'), '--out', second]);
    expect(replayed).toMatchObject({ sparsity: printed.sparsity, metrics: printed.metrics, dataHash: 'synthetic:0:3' });
    expect(Buffer.compare(await readFile(join(first, 'model.safetensors')), await readFile(join(second, 'model.safetensors')))).toBe(0);
    // The plan as an llm-compressor recipe, for the full-size checkpoint on GPUs.
    const yaml = await readFile(join(first, 'recipe.llm-compressor.yaml'), 'utf8');
    expect(yaml).toMatch(/sparsity_stage:\s+sparsity_modifiers:\s+SparseGPTModifier:/);
    expect(yaml).toMatch(/mask_structure: ["']0:0["']/);
  });

  it('runs the sensitivity sweep itself for a transformer on text (--allocation sensitivity without --sweep)', async () => {
    const textPath = join(dir, 'gpt2.txt');
    await writeFile(textPath, (await readFile(join(ROOT, 'public', 'models', 'char-lm', 'eval.txt'), 'utf8')).slice(0, 160));
    const outDir = join(dir, 'gpt2-sensitivity');
    const printed = await prune([join(FIXTURES, 'hf-gpt2-tiny'), '--sparsity', '0.5', '--allocation', 'sensitivity', '--data', textPath, '--out', outDir]);
    const recipe = parseRecipe(await readJson(join(outDir, 'recipe.json')), 'recipe.json');
    expect(recipe.allocation).toBe('sensitivity');
    const sparsities = Object.values(recipe.sparsity);
    expect(new Set(sparsities.map((v) => v.toFixed(3))).size).toBeGreaterThan(1);
    expect(printed.sparsity).toBeGreaterThan(0.45);
  });

  describe('DARE on the digits demo pair', () => {
    let invertedPath = '';
    let baseSha = '';

    beforeAll(async () => {
      invertedPath = join(dir, 'inverted.json');
      await subset(INVERTED, invertedPath);
      baseSha = await sha256Hex(await readFile(join(DEMO, 'model.json')));
    });

    it('drops p of the deltas and rescales the rest by 1/(1 − p), recorded in the recipe', async () => {
      const outDir = join(dir, 'dare');
      const printed = await prune([INVERTED, '--base', DEMO, '--dare', '0.9', '--sparsity', '0', '--data', invertedPath, '--seed', '1', '--out', outDir]);
      expect(printed.dare).toEqual({ base: baseSha, p: 0.9, q: 1 - 0.9 });
      expect(parseRecipe(await readJson(join(outDir, 'recipe.json')), 'recipe.json').dare).toEqual(printed.dare);
      const [base, fine, written] = await Promise.all([DEMO, INVERTED, outDir].map(async (f) => PrunableModel.fromArtifacts((await opened(f)).artifacts)));
      const [b, f, w] = [await kernelOf(base, 'dense1'), await kernelOf(fine, 'dense1'), await kernelOf(written, 'dense1')];
      expect(w).toEqual(dare(b, f, { p: 0.9, q: 1 - 0.9, seed: unitSeed(1, 'dense1') }));
      const kept = w.filter((value, i) => value !== b[i] && f[i] !== b[i]).length;
      const deltas = f.filter((value, i) => value !== b[i]).length;
      expect(Math.abs(1 - kept / deltas - 0.9)).toBeLessThan(0.01);
      [base, fine, written].forEach((m) => m.dispose());
    });

    it('searches q with DAREx-q on the validation loss, and a replay with --base gives the same weights', async () => {
      const outDir = join(dir, 'darex');
      const printed = await prune([INVERTED, '--base', DEMO, '--dare', '0.9', '--rescale', 'auto', '--sparsity', '0.3', '--data', invertedPath, '--out', outDir]);
      const grid = rescaleGrid(0.9);
      expect(grid).toContain(printed.dare?.q);
      expect(printed.dare?.q).not.toBe(grid[0]);
      const replayDir = join(dir, 'darex-replay');
      await prune([INVERTED, '--base', DEMO, '--recipe', join(outDir, 'recipe.json'), '--data', invertedPath, '--out', replayDir]);
      const [original, replay] = [await weightBytes(outDir), await weightBytes(replayDir)];
      for (const [name, bytes] of original) expect(Buffer.compare(Buffer.from(replay.get(name) ?? []), Buffer.from(bytes)), name).toBe(0);
      const fixed = await prune([INVERTED, '--base', DEMO, '--dare', '0.5', '--rescale', '0.8', '--sparsity', '0', '--data', invertedPath, '--out', join(dir, 'dare-fixed')]);
      expect(fixed.dare).toEqual({ base: baseSha, p: 0.5, q: 0.8 });
    });
  });

  it.each([
    ['no --out', [DEMO, '--sparsity', '0.5'], /--out <folder> is required/],
    ['neither --sparsity nor --recipe', [DEMO, '--out', 'x'], /give --sparsity S .* or --recipe R/],
    [
      'an unknown allocation',
      [DEMO, '--sparsity', '0.5', '--allocation', 'fancy', '--out', 'x'],
      /--allocation must be one of uniform, global, sensitivity, owl, ecoflap, got "fancy"/,
    ],
    ['sensitivity data-free', [DEMO, '--sparsity', '0.5', '--allocation', 'sensitivity', '--out', 'x'], /sensitivity needs labelled --data/],
    ['a sparsity outside [0, 1]', [DEMO, '--sparsity', '1.5', '--out', 'x'], /--sparsity expects a number in \[0, 1\]/],
    ['--dare without --base', [DEMO, '--sparsity', '0', '--dare', '0.5', '--out', 'x'], /--dare needs --base B/],
    ['--recipe mixed with --sparsity', [DEMO, '--recipe', 'r.json', '--sparsity', '0.5', '--out', 'x'], /--recipe replays a recipe as it is; drop --sparsity/],
    ['sparsegpt with channels', [DEMO, '--sparsity', '0.5', '--criterion', 'sparsegpt', '--granularity', 'channels', '--out', 'x'], /sparsegpt with channels makes no sense/],
  ])('exits 2 with a one-line usage error for %s', async (_, args, message) => {
    const { code, stdout, stderr } = await run(['prune', ...args, '--backend', 'cpu']);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).toMatch(message);
  });

  it.each([
    [
      'a base of another architecture',
      [INVERTED, '--base', join(FIXTURES, 'two-shards'), '--dare', '0.5', '--sparsity', '0'],
      /--base two-shards: the fine-tuned and the base model are not the same architecture \(only in the fine-tuned model: dense1, dense2; only in the base: logits\)/,
    ],
    ['a base of another format', [INVERTED, '--base', LLAMA, '--dare', '0.5', '--sparsity', '0'], /--base hf-llama-tiny is a hf-transformer, the model a layers-model/],
    ['channels on a transformer', [LLAMA, '--sparsity', '0.5', '--granularity', 'channels'], /--granularity channels: transformer projections have no channel groups yet/],
  ])('exits 1 with a one-line error for %s', async (_, args, message) => {
    const { code, stdout, stderr } = await run(['prune', ...args, '--out', join(dir, 'refused'), '--backend', 'cpu']);
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).toMatch(message);
  });
});
