import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBackend } from '../../cli/backend';
import { runMain } from '../../cli/testing';
import { densePlan, type PruningPlan } from '../../core/plan';
import { filesFromPath } from '../../io/node-files';
import { openModel } from '../../io/open';
import { expandZip } from '../../io/zip';
import { WorkerApi, type JobContext } from '../../worker/api';
import type { OpenResult } from '../../worker/protocol';
import { concatFloat32 } from '../data';
import { cutChannels } from './channel-shrink';
import { GRAPH_MODEL_KIND, type GraphKindModel } from './kind';
import { GraphModelPrunable } from './prunable';
import { loadExport } from './testing';
import { writeGraphModel } from './writer';

/** Channels plans on graph-cnn and the real GraphModels through the hosts: the worker API and `lopper prune`. */
const ROOT = join(import.meta.dirname, '..', '..', '..');
const CNN = join(ROOT, 'e2e', 'fixtures', 'graph-cnn');
const REAL = join(ROOT, 'node_modules', '.cache', 'lopper-real-models');
const REAL_MODELS = ['blazeface', 'antispoof'].filter((name) => existsSync(join(REAL, name, 'model.json')));
if (REAL_MODELS.length < 2) console.warn(`skipping channels on real GraphModels: ${REAL} is missing (run node scripts/fetch-real-graph-models.mjs)`);
const job: JobContext = { progress: () => undefined, cancelled: () => false };

async function flat(out: tf.Tensor | tf.Tensor[]): Promise<Float32Array> {
  const list = Array.isArray(out) ? out : [out];
  return concatFloat32(await Promise.all(list.map(async (t) => (await t.data()) as Float32Array)));
}

function worstDifference(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let worst = 0;
  a.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - b[i]))));
  return worst;
}

describe('a GraphModel channels plan through the worker API', () => {
  const api = new WorkerApi();
  let opened: OpenResult;
  let tensors: number;
  const plan = (changes: Partial<PruningPlan>): PruningPlan => ({ ...densePlan(opened.model.units, opened.data.hash), granularity: 'channels', ...changes });

  beforeAll(async () => {
    await startBackend('wasm');
    api.setBackendState({ name: 'wasm', reason: 'test', available: ['wasm'], crossOriginIsolated: false });
    opened = await api.openFiles(
      (await filesFromPath(CNN)).filter((f) => !f.path.endsWith('expected.json')),
      job,
    );
    tensors = tf.memory().numTensors;
  });

  afterAll(() => api.dispose());

  it('offers channels and shows the groups', () => {
    expect(opened.model.capabilities.granularities).toContain('channels');
    expect(opened.model.capabilities.unavailable['channels']).toBeUndefined();
    expect(api.channelGroups().map((g) => [g.id, g.shrinkable])).toEqual([
      ['conv1/filter', true],
      ['conv2/filter', false],
      ['conv3/filter', true],
      ['fc/weights', false],
    ]);
  });

  it('evaluates the shrunk model and exports files that reopen, reproduce it and run in stock tfjs as measured', async () => {
    const result = await api.evaluatePlan({ plan: plan({ target: 0.5 }), allocate: true }, job);
    expect(result.achieved['conv1/filter']).toBe(0.5);
    // conv1 loses 2 of 4 filters (and conv2 their inputs); conv3 1 of 3, and through the flatten the 2 × 2 rows of fc per channel.
    expect(result.achieved['conv3/filter']).toBeCloseTo(1 / 3, 9);
    expect(result.params).toBe(opened.model.totalParams - 2 * (18 + 36) - (36 + 5 * 4));
    expect(result.evaluation.divergence).toBeGreaterThan(0);
    expect(result.skipped?.map((s) => s.unit)).toEqual(['conv2/filter', 'fc/weights']);
    expect(tf.memory().numTensors).toBe(tensors);

    const exported = await api.exportModel({ plan: plan({ target: 0.5, sparsity: result.sparsity }), float16: false }, job);
    expect(exported.check.ok).toBe(true);
    expect(exported.check.inApp).toBeCloseTo(result.evaluation.divergence as number, 6);
    expect(tf.memory().numTensors).toBe(tensors);

    const files = (await expandZip({ path: exported.fileName, size: exported.zip.length, bytes: async () => exported.zip })).filter(
      (f) => f.path.endsWith('.bin') || f.path.endsWith('model.json'),
    );
    const exportFiles = await Promise.all(files.map(async (f) => ({ path: f.path.split('/').pop() as string, bytes: await f.bytes() })));
    const stock = await loadExport(exportFiles);
    const ours = await GraphModelPrunable.create(await openModel(files));
    const input = ours.syntheticBatch(3, 5);
    try {
      expect(ours.unitDetails('conv1/filter').shape).toEqual([3, 3, 2, 2]);
      expect(ours.unitDetails('conv2/filter').shape).toEqual([3, 3, 2, 4]);
      expect(ours.unitDetails('conv3/filter').shape).toEqual([3, 3, 4, 2]);
      expect(ours.unitDetails('fc/weights').shape).toEqual([5, 8]);
      const shapeConstant = (await ours.weightValues()).get('flatten/shape');
      expect([...(shapeConstant?.values ?? [])]).toEqual([-1, 8]);
      const theirs = stock.execute({ image: input }, ['scores', 'features']) as tf.Tensor[];
      const joined = tf.tidy(() =>
        tf.concat(
          theirs.map((t) => t.reshape([3, -1])),
          1,
        ),
      );
      const measured = ours.forward(input);
      expect(worstDifference(await flat(joined), await flat(measured))).toBeLessThanOrEqual(1e-6);
      tf.dispose([...theirs, joined, measured]);
    } finally {
      input.dispose();
      stock.dispose();
      ours.dispose();
    }
    expect(tf.memory().numTensors).toBe(tensors);
  });
});

describe('lopper prune --granularity channels on a GraphModel', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lopper-graph-channels-'));
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function prune(args: string[]): Promise<{ sparsity: number; params: number; metrics: unknown }> {
    const { code, stdout, stderr } = await runMain(['prune', CNN, ...args, '--json', '--backend', 'cpu']);
    expect(code, stderr).toBe(0);
    return JSON.parse(stdout) as { sparsity: number; params: number; metrics: unknown };
  }

  it('writes the shrunk GraphModel and --recipe replays it byte for byte', async () => {
    const first = join(dir, 'first');
    const printed = await prune(['--granularity', 'channels', '--sparsity', '0.5', '--out', first]);
    const dense = await GRAPH_MODEL_KIND.open(await openModel((await filesFromPath(CNN)).filter((f) => !f.path.endsWith('expected.json'))));
    const total = (await dense.describe()).totalParams;
    dense.dispose();
    expect(printed.params).toBe(total - 2 * (18 + 36) - (36 + 5 * 4));
    const recipe = JSON.parse(await readFile(join(first, 'recipe.json'), 'utf8')) as { granularity: string };
    expect(recipe.granularity).toBe('channels');
    const second = join(dir, 'second');
    const replayed = await prune(['--recipe', join(first, 'recipe.json'), '--out', second]);
    const { out: _first, seconds: _a, ...kept } = printed as Record<string, unknown>;
    const { out: _second, seconds: _b, ...again } = replayed as Record<string, unknown>;
    expect(again).toEqual(kept);
    const names = (await readdir(first)).sort();
    expect(names).toContain('model.json');
    expect((await readdir(second)).sort()).toEqual(names);
    for (const name of names) expect(Buffer.compare(await readFile(join(first, name)), await readFile(join(second, name))), name).toBe(0);
  });
});

describe.skipIf(REAL_MODELS.length < 2)('channels on real GraphModels (node_modules/.cache/lopper-real-models)', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  for (const name of REAL_MODELS) {
    it(`${name}: groups, a 0.5 magnitude shrink that equals the zeroed-channel model in stock tfjs`, { timeout: 300_000 }, async () => {
      const start = tf.memory().numTensors;
      const opened = await openModel(await filesFromPath(join(REAL, name)));
      const kind = (await GRAPH_MODEL_KIND.open(opened)) as GraphKindModel;
      try {
        const groups = kind.channelGroups();
        expect(groups.length).toBeGreaterThan(0);
        for (const group of groups) if (!group.shrinkable) expect(group.reason).toMatch(/node |model output|single channel/);
        const shrinkable = groups.filter((g) => g.shrinkable);
        expect(shrinkable.length).toBeGreaterThan(0);
        const sparsity = Object.fromEntries(kind.prunable.units().map((u) => [u.name, 0.5]));
        const shrunk = await kind.channels.shrink({ ...densePlan(Object.keys(sparsity), 'synthetic:0:1'), granularity: 'channels', sparsity }, []);
        expect(shrunk.params).toBeLessThan((await kind.describe()).totalParams);
        const files = shrunk.write({ float16: false });
        const json = JSON.parse(new TextDecoder().decode(files[0].bytes)) as { weightsManifest: { weights: unknown[] }[] };
        expect(json.weightsManifest[0].weights.length).toBe(opened.artifacts.weightSpecs?.length);
        const masked = writeGraphModel(opened, cutChannels(await kind.weightValues(), groups, shrunk.keep, 'zero')).files;
        const spec = kind.prunable.inputSpecs()[0];
        const input = kind.prunable.syntheticBatch(1, 3);
        const outputs = kind.prunable.outputNames();
        const run = async (model: tf.GraphModel): Promise<Float32Array> => {
          const out = model.execute({ [spec.signatureKey ?? spec.name]: input }, outputs);
          const values = await flat(out);
          tf.dispose(out);
          model.dispose();
          return values;
        };
        const got = await run(await loadExport(files));
        const want = await run(await loadExport(masked));
        const scale = want.reduce((m, v) => Math.max(m, Math.abs(v)), 1);
        expect(worstDifference(got, want)).toBeLessThanOrEqual(1e-5 * scale);
        input.dispose();
      } finally {
        kind.dispose();
      }
      expect(tf.memory().numTensors).toBe(start);
    });
  }
});
