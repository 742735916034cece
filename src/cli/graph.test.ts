import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GraphModelPrunable } from '../kinds/graph-model';
import { loadExport, stringConstantModel } from '../kinds/graph-model/testing';
import { filesFromPath } from '../io/node-files';
import { openModel } from '../io/open';
import { runMain as run } from './testing';

const ROOT = join(import.meta.dirname, '..', '..');
const FIXTURES = join(ROOT, 'e2e', 'fixtures');
const CNN = join(FIXTURES, 'graph-cnn');
const CONTROL = join(FIXTURES, 'graph-control');
const REAL = join(ROOT, 'node_modules', '.cache', 'lopper-real-models');
const REAL_MODELS = [
  { name: 'blazeface', units: 69, candidates: 31, input: 'float32' },
  { name: 'antispoof', units: 5, candidates: 0, input: 'float32' },
  { name: 'handtrack', units: 123, candidates: 10, input: 'int32' },
];
const realPresent = REAL_MODELS.every((m) => existsSync(join(REAL, m.name, 'model.json')));
if (!realPresent) console.warn(`skipping lopper inspect on real GraphModels: ${REAL} is missing (run node scripts/fetch-real-graph-models.mjs)`);

interface Inspected {
  format: string;
  name: string;
  totalParams: number;
  totalFlops: number;
  layers: { name: string; type: string; outputShape: (number | null)[]; params: number; flops: number; prunable: boolean }[];
  units: string[];
  removalCandidates: string[];
  inputs: { name: string; dtype: string; shape: (number | null)[] }[];
  warnings?: string[];
}

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lopper-graph-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function readJson<T>(path: string): Promise<T> {
  return JSON.parse(await readFile(path, 'utf8')) as T;
}

/** Runs `lopper <args> --json --backend cpu`; fails with its stderr unless it exits 0; the one JSON line it printed. */
async function json<T>(args: string[]): Promise<T> {
  const { code, stdout, stderr } = await run([...args, '--json', '--backend', 'cpu']);
  expect(code, stderr).toBe(0);
  expect(stdout.trim().split('\n')).toHaveLength(1);
  return JSON.parse(stdout) as T;
}

/** The float weights of graph-cnn as its expected.json lists them (int32 constants are not parameters). */
async function cnnFloatParams(): Promise<number> {
  const expected = await readJson<{ weights: Record<string, number[]> }>(join(CNN, 'expected.json'));
  const manifest = await readJson<{ weightsManifest: { weights: { name: string; dtype: string }[] }[] }>(join(CNN, 'model.json'));
  const floats = new Set(
    manifest.weightsManifest
      .flatMap((g) => g.weights)
      .filter((w) => w.dtype === 'float32')
      .map((w) => w.name),
  );
  return Object.entries(expected.weights)
    .filter(([name]) => floats.has(name))
    .reduce((sum, [, values]) => sum + values.length, 0);
}

describe('lopper on a TF.js GraphModel (e2e/fixtures/graph-cnn)', () => {
  it('inspect lists the layers, units, removal candidates and inputs, counting every float weight', async () => {
    const result = await json<Inspected>(['inspect', CNN]);
    expect(result.format).toBe('graph-model');
    expect(result.name).toBe('graph-cnn');
    expect(result.units).toEqual(['conv1/filter', 'conv2/filter', 'dw/filter', 'conv3/filter', 'fc/weights']);
    expect(result.removalCandidates).toEqual(['res']);
    expect(result.totalParams).toBe(await cnnFloatParams());
    expect(result.totalParams).toBe(result.layers.reduce((sum, l) => sum + l.params, 0));
    expect(result.totalFlops).toBe(result.layers.reduce((sum, l) => sum + l.flops, 0));
    expect(result.totalFlops).toBeGreaterThan(0);
    expect(result.layers.filter((l) => l.prunable).map((l) => l.name)).toEqual(result.units);
    expect(result.layers.find((l) => l.name === 'conv3/filter')?.outputShape).toEqual([null, 2, 2, 3]);
    expect(result.layers.find((l) => l.name === 'scores')?.outputShape).toEqual([null, 5]);
    expect(result.inputs).toMatchObject([{ name: 'image', dtype: 'float32', shape: [null, 6, 6, 2] }]);
  });

  it('inspect lists a graph that does not run on synthetic inputs from its topology, with a warning', async () => {
    const broken = join(dir, 'graph-cnn-5x5');
    await cp(CNN, broken, { recursive: true });
    const modelJson = await readJson<{ signature: { inputs: { image: { tensorShape: { dim: { size: string }[] } } } } }>(join(broken, 'model.json'));
    // 5 × 5 images: the stride-2 convolution gives 3 × 3 × 3 = 27 values, which the Reshape to [-1, 12] refuses.
    modelJson.signature.inputs.image.tensorShape.dim = ['-1', '5', '5', '2'].map((size) => ({ size }));
    await writeFile(join(broken, 'model.json'), JSON.stringify(modelJson));
    const result = await json<Inspected>(['inspect', broken]);
    expect(result.units).toHaveLength(5);
    expect(result.totalParams).toBe(await cnnFloatParams());
    expect(result.removalCandidates).toEqual([]);
    expect(result.warnings?.[0]).toMatch(/graph-cnn-5x5: the graph did not run on synthetic inputs/);
    const failed = await run(['eval', broken, '--json', '--backend', 'cpu']);
    expect(failed.code).toBe(1);
    expect(failed.stderr.trim().split('\n')).toHaveLength(1);
    expect(failed.stderr).toMatch(/graph-cnn-5x5\/model\.json: the GraphModel did not run on synthetic inputs: /);
  });

  it('eval data-free: divergence 0 from itself on 32 seeded samples', async () => {
    const result = await json<Record<string, unknown>>(['eval', CNN]);
    expect(result).toMatchObject({ divergence: 0, samples: 32, backend: 'cpu', dataHash: 'synthetic:0:32' });
    expect(result['accuracy']).toBeUndefined();
  });

  it('eval with a labelled dataset: accuracy and loss; a dataset of the wrong shape is refused', async () => {
    const samples = 8;
    const path = join(dir, 'data.json');
    const inputs = Array.from({ length: samples * 72 }, (_, i) => ((i * 37) % 101) / 101);
    await writeFile(path, JSON.stringify({ inputs, shape: [samples, 6, 6, 2], labels: Array.from({ length: samples }, (_, i) => i % 5) }));
    const result = await json<{ accuracy: number; loss: number; samples: number }>(['eval', CNN, '--data', path]);
    expect(result.samples).toBe(samples);
    expect(result.accuracy).toBeGreaterThanOrEqual(0);
    expect(Number.isFinite(result.loss)).toBe(true);
    const wrong = join(dir, 'wrong.json');
    await writeFile(wrong, JSON.stringify({ inputs: inputs.slice(0, samples * 36), shape: [samples, 6, 6, 1] }));
    const refused = await run(['eval', CNN, '--data', wrong, '--json', '--backend', 'cpu']);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/do not fit the model input/);
  });

  it('sweep writes the sweep schema over the units, the 0 column equal to the dense value', async () => {
    const out = join(dir, 'sweep.json');
    await json(['sweep', CNN, '--sparsities', '0,0.5', '--out', out]);
    const sweep = await readJson<{
      criterion: string;
      metric: string;
      sparsities: number[];
      layers: string[];
      values: number[][];
      dense: number;
      dataHash: string;
      backend: string;
    }>(out);
    expect(sweep).toMatchObject({ criterion: 'magnitude', granularity: 'unstructured', metric: 'js', sparsities: [0, 0.5], dense: 0, dataHash: 'synthetic:0:32', backend: 'cpu' });
    expect(sweep.layers).toEqual(['conv1/filter', 'conv2/filter', 'dw/filter', 'conv3/filter', 'fc/weights']);
    for (const row of sweep.values) {
      expect(row[0]).toBe(0);
      expect(row[1]).toBeGreaterThan(0);
    }
  });

  it('sweeps channels too: every unit on the grid, a unit the criterion cannot score left out with its reason', async () => {
    const out = join(dir, 'channels.json');
    const swept = await run(['sweep', CNN, '--granularity', 'channels', '--sparsities', '0,0.5', '--out', out, '--backend', 'cpu']);
    expect(swept.code, swept.stderr).toBe(0);
    const file = await readJson<{ granularity: string; layers: string[]; values: (number | null)[][] }>(out);
    expect(file.granularity).toBe('channels');
    expect(file.layers).toHaveLength(5);
    expect(file.values.some((row) => row[1] !== null && row[1] > 0)).toBe(true);
  });

  it('remove --steps 1 removes the residual branch', async () => {
    const out = join(dir, 'remove.json');
    await json(['remove', CNN, '--steps', '1', '--out', out]);
    const removal = await readJson<{ metric: string; candidates: string[]; steps: { removed: string; scores: Record<string, number> }[]; dense: number }>(out);
    expect(removal.metric).toBe('js');
    expect(removal.candidates).toEqual(['res']);
    expect(removal.dense).toBe(0);
    expect(removal.steps).toHaveLength(1);
    expect(removal.steps[0].removed).toBe('res');
    expect(removal.steps[0].scores['res']).toBeGreaterThan(0);
  });

  it('prune --sparsity 0.5 --criterion wanda writes a GraphModel stock tfjs runs as we do; --recipe replays it byte for byte', async () => {
    const first = join(dir, 'pruned');
    const printed = await json<{ sparsity: number; params: number; removed: string[]; metrics: { dense: Record<string, number>; pruned: Record<string, number> } }>([
      'prune',
      CNN,
      '--sparsity',
      '0.5',
      '--criterion',
      'wanda',
      '--out',
      first,
    ]);
    expect(printed.sparsity).toBeGreaterThan(0.45);
    expect(printed.params).toBe(await cnnFloatParams());
    expect(printed.removed).toEqual([]);
    expect(printed.metrics.dense).toEqual({ divergence: 0, samples: 32 });
    expect(printed.metrics.pruned.divergence).toBeGreaterThan(0);
    const names = (await readdir(first)).sort();
    // Beside the model and its recipe: Model Explorer's node data with the planned sparsity.
    expect(names).toEqual(['group1-shard1of1.bin', 'model.json', 'node-data.json', 'recipe.json']);
    const recipe = await readJson<{ criterion: string; model: { format: string }; dataHash: string }>(join(first, 'recipe.json'));
    expect(recipe).toMatchObject({ criterion: 'wanda', model: { format: 'graph-model' }, dataHash: 'synthetic:0:32' });

    const second = join(dir, 'replayed');
    const replayed = await json<typeof printed>(['prune', CNN, '--recipe', join(first, 'recipe.json'), '--out', second]);
    expect(replayed.metrics).toEqual(printed.metrics);
    for (const name of names) expect(Buffer.compare(await readFile(join(first, name)), await readFile(join(second, name))), name).toBe(0);

    // Stock tf.loadGraphModel on the written files gives the outputs the pruned model gives.
    const files = await Promise.all(
      names.filter((n) => n !== 'recipe.json' && n !== 'node-data.json').map(async (path) => ({ path, bytes: new Uint8Array(await readFile(join(first, path))) })),
    );
    const stock = await loadExport(files);
    const kind = await GraphModelPrunable.create(await openModel(await filesFromPath(first)));
    const input = kind.syntheticBatch(3, 7);
    try {
      const ours = kind.forward(input);
      const theirs = stock.execute({ image: input }, ['scores', 'features']) as tf.Tensor[];
      const joined = tf.concat(
        theirs.map((t) => t.reshape([3, -1])),
        1,
      );
      const [a, b] = [await ours.data(), await joined.data()];
      expect(b.length).toBe(a.length);
      a.forEach((value, i) => expect(b[i]).toBeCloseTo(value, 6));
      tf.dispose([ours, joined, ...theirs]);
      const kernel = kind.getKernel('conv2/filter');
      const zeros = (await kernel.data()).filter((v) => v === 0).length;
      kernel.dispose();
      expect(zeros).toBe(72);
    } finally {
      input.dispose();
      kind.dispose();
      stock.dispose();
    }
  });

  it('prune --remove 1 drops the residual branch and its weights from the written model', async () => {
    const out = join(dir, 'removed');
    const printed = await json<{ removed: string[]; params: number }>(['prune', CNN, '--sparsity', '0.25', '--remove', '1', '--out', out]);
    expect(printed.removed).toEqual(['res']);
    expect(printed.params).toBe((await cnnFloatParams()) - 36);
    const inspected = await json<Inspected>(['inspect', out]);
    expect(inspected.units).not.toContain('dw/filter');
  });
});

describe('lopper on a GraphModel with control flow (e2e/fixtures/graph-control)', () => {
  it('inspect lists both branches and the residual branch before them; the bool predicate is not a parameter', async () => {
    const result = await json<Inspected>(['inspect', CONTROL]);
    expect(result.format).toBe('graph-model');
    expect(result.units).toEqual(['w0', 'w_res', 'w_true', 'w_false']);
    expect(result.totalParams).toBe(9 + 9 + 6 + 6);
    expect(result.removalCandidates).toEqual(['res']);
    expect(result.layers.map((l) => l.type)).toContain('Merge');
  });

  it('eval, remove and prune --remove run through executeAsync; the bypassed export loads in stock tfjs', async () => {
    expect(await json<Record<string, unknown>>(['eval', CONTROL])).toMatchObject({ divergence: 0, samples: 32 });
    const out = join(dir, 'control-remove.json');
    const removed = await run(['remove', CONTROL, '--out', out, '--backend', 'cpu']);
    expect(removed.code, removed.stderr).toBe(0);
    const search = JSON.parse(await readFile(out, 'utf8')) as { candidates: string[]; steps: { removed: string; scores: Record<string, number> }[] };
    expect(search.candidates).toEqual(['res']);
    expect(search.steps.map((step) => step.removed)).toEqual(['res']);
    expect(search.steps[0].scores['res']).toBeGreaterThan(0);
    const pruned = await run(['prune', CONTROL, '--sparsity', '0', '--remove', '1', '--out', join(dir, 'control-removed'), '--json', '--backend', 'cpu']);
    expect(pruned.code, pruned.stderr).toBe(0);
    expect(JSON.parse(pruned.stdout)).toMatchObject({ removed: ['res'], params: 9 + 6 + 6 });
    const written = join(dir, 'control-removed');
    const shards = (await readdir(written)).filter((n) => n === 'model.json' || n.endsWith('.bin'));
    const model = await loadExport(await Promise.all(shards.map(async (path) => ({ path, bytes: new Uint8Array(await readFile(join(written, path))) }))));
    const x = tf.tensor2d([[1, 2, 3]]);
    const y = (await model.executeAsync({ x })) as tf.Tensor;
    expect(y.shape).toEqual([1, 2]);
    tf.dispose([x, y]);
    model.dispose();
  });

  it('prune with wanda leaves the units of the branch calibration does not take as they are, and says why', async () => {
    const result = await run(['prune', CONTROL, '--sparsity', '0.5', '--criterion', 'wanda', '--out', join(dir, 'control-wanda'), '--json', '--backend', 'cpu']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/left as it is: wanda needs the unit's calibration inputs, and none reached it/);
  });
});

describe.skipIf(!realPresent)('lopper inspect on real GraphModels (node_modules/.cache/lopper-real-models)', () => {
  for (const model of REAL_MODELS) {
    it(`${model.name}`, { timeout: 120_000 }, async () => {
      const result = await json<Inspected>(['inspect', join(REAL, model.name)]);
      expect(result.format).toBe('graph-model');
      expect(result.warnings).toBeUndefined();
      expect(result.units).toHaveLength(model.units);
      expect(result.removalCandidates).toHaveLength(model.candidates);
      expect(result.inputs[0].dtype).toBe(model.input);
      expect(result.totalParams).toBeGreaterThan(0);
      expect(result.totalFlops).toBeGreaterThan(0);
      expect(result.layers.filter((l) => l.prunable)).toHaveLength(model.units);
    });
  }
});

describe('lopper on a GraphModel with dynamic input dimensions (e2e/fixtures/graph-dynamic)', () => {
  const DYNAMIC = join(FIXTURES, 'graph-dynamic');

  it('--input-shape sets them; prune records them in the recipe and --recipe replays them byte for byte', async () => {
    const inspected = await json<Inspected>(['inspect', DYNAMIC, '--input-shape', 'image=5x7x2']);
    expect(inspected.inputs[0]).toMatchObject({ name: 'image', shape: [null, 5, 7, 2] });
    const first = join(dir, 'dynamic-wanda');
    const pruned = await run(['prune', DYNAMIC, '--sparsity', '0.5', '--criterion', 'wanda', '--input-shape', 'image=5x7x2', '--out', first, '--json', '--backend', 'cpu']);
    expect(pruned.code, pruned.stderr).toBe(0);
    const recipe = await readJson<{ model: { inputShapes?: Record<string, number[]> } }>(join(first, 'recipe.json'));
    expect(recipe.model.inputShapes).toEqual({ image: [5, 7, 2] });
    const second = join(dir, 'dynamic-replayed');
    const replayed = await run(['prune', DYNAMIC, '--recipe', join(first, 'recipe.json'), '--out', second, '--json', '--backend', 'cpu']);
    expect(replayed.code, replayed.stderr).toBe(0);
    expect(JSON.parse(replayed.stdout).metrics).toEqual(JSON.parse(pruned.stdout).metrics);
    for (const name of await readdir(first)) expect(Buffer.compare(await readFile(join(first, name)), await readFile(join(second, name))), name).toBe(0);
  });

  it('a bad --input-shape is one line naming the input, for every command', async () => {
    for (const argv of [
      ['inspect', DYNAMIC, '--input-shape', 'image=5x7x3'],
      ['eval', DYNAMIC, '--input-shape', 'image=5x7x3'],
    ]) {
      const result = await run([...argv, '--json', '--backend', 'cpu']);
      expect(result.code).toBe(1);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(result.stderr).toMatch(/input image: dimension 3 is fixed at 2 by the model, got 3/);
    }
    const usage = await run(['eval', DYNAMIC, '--input-shape', 'image:5x7', '--json', '--backend', 'cpu']);
    expect(usage.stderr).toMatch(/--input-shape expects NAME=D1xD2x…/);
  });

  it('a dataset sets them without the option', async () => {
    const data = join(dir, 'dynamic-data.json');
    await writeFile(data, JSON.stringify({ inputs: Array.from({ length: 3 * 4 * 6 * 2 }, (_, i) => (i % 5) / 5), shape: [3, 4, 6, 2], labels: [0, 1, 2] }));
    const result = await json<{ samples: number; accuracy: number }>(['eval', DYNAMIC, '--data', data]);
    expect(result.samples).toBe(3);
  });
});

describe('lopper on a GraphModel with string and complex64 constants', () => {
  it('inspects, prunes and replays it; the export keeps them and reopens', async () => {
    const folder = join(dir, 'strings');
    const { modelJson, bin } = stringConstantModel();
    await mkdir(folder, { recursive: true });
    await writeFile(join(folder, 'model.json'), JSON.stringify(modelJson));
    await writeFile(join(folder, 'w.bin'), bin);
    const inspected = await json<Inspected>(['inspect', folder]);
    expect(inspected).toMatchObject({ units: ['w'], totalParams: 4 });
    const out = join(dir, 'strings-pruned');
    const pruned = await run(['prune', folder, '--sparsity', '0.5', '--out', out, '--json', '--backend', 'cpu']);
    expect(pruned.code, pruned.stderr).toBe(0);
    const written = JSON.parse(await readFile(join(out, 'model.json'), 'utf8')) as { weightsManifest: { weights: { name: string; dtype: string }[] }[] };
    expect(written.weightsManifest[0].weights.map((w) => w.dtype)).toEqual(['float32', 'string', 'complex64']);
    const again = join(dir, 'strings-replayed');
    expect((await run(['prune', folder, '--recipe', join(out, 'recipe.json'), '--out', again, '--json', '--backend', 'cpu'])).code).toBe(0);
    expect(Buffer.compare(await readFile(join(out, 'group1-shard1of1.bin')), await readFile(join(again, 'group1-shard1of1.bin')))).toBe(0);
  });
});
