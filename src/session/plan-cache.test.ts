import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBackend } from '../cli/backend';
import type { CriterionKey, Granularity } from '../core/criteria/types';
import { densePlan, type AllocationKey, type PruningPlan } from '../core/plan';
import { filesFromPath } from '../io/node-files';
import { openModel } from '../io/open';
import type { InputFile } from '../io/types';
import type { PlanRequest } from '../worker/protocol';
import { ModelSession, QUIET_JOB } from './session';

const ROOT = join(import.meta.dirname, '..', '..');
const DIGITS = join(ROOT, 'public', 'models', 'digits-cnn');
const GPT2_TINY = join(ROOT, 'e2e', 'fixtures', 'hf-gpt2-tiny');
const CHAR_LM = join(ROOT, 'public', 'models', 'char-lm');

function memoryFile(path: string, text: string): InputFile {
  const bytes = new TextEncoder().encode(text);
  return { path, size: bytes.length, bytes: async () => bytes };
}

async function digitsData(samples: number): Promise<InputFile> {
  const full = JSON.parse(await readFile(join(DIGITS, 'eval.json'), 'utf8')) as { inputs: number[]; labels: number[] };
  return memoryFile('digits.json', JSON.stringify({ inputs: full.inputs.slice(0, samples * 784), shape: [samples, 28, 28, 1], labels: full.labels.slice(0, samples) }));
}

async function textData(): Promise<InputFile> {
  return memoryFile('text.txt', (await readFile(join(CHAR_LM, 'eval.txt'), 'utf8')).slice(0, 1400));
}

async function openSession(folder: string, data: InputFile): Promise<ModelSession> {
  const files = (await filesFromPath(folder)).filter((f) => !/(eval|reference|calibration)\.(json|txt)$/.test(f.path));
  const session = await ModelSession.create(await openModel(files));
  await session.loadData(data);
  await session.evaluate(QUIET_JOB);
  return session;
}

/** The export's weight files (everything but JSON), by name. */
async function exportedWeights(session: ModelSession, plan: PruningPlan): Promise<Map<string, Uint8Array>> {
  const prepared = await session.prepareExport({ plan, float16: false }, QUIET_JOB);
  return new Map(prepared.files.filter((f) => !f.path.endsWith('.json')).map((f) => [f.path, f.bytes]));
}

interface Pair {
  cached: ModelSession;
  fresh: ModelSession;
}

/** The same request on the cached and the uncached session: results must be equal in every field. */
async function both(pair: Pair, request: PlanRequest) {
  const cached = await pair.cached.evaluatePlan(request, QUIET_JOB);
  const fresh = await pair.fresh.evaluatePlan(request, QUIET_JOB);
  expect(cached).toEqual(fresh);
  return cached;
}

/**
 * Slider moves as the page makes them: the global target up, down and back, one unit moved on its
 * own (first and last), a removal; then the export's weights compared byte for byte.
 */
async function sliderSession(pair: Pair, criterion: CriterionKey, granularity: Granularity, removable: string[], allocation: AllocationKey = 'uniform'): Promise<void> {
  const units = pair.cached.summary.units;
  const base: PruningPlan = { ...densePlan(units, pair.cached.data.hash), criterion, granularity, allocation };
  let plan = base;
  for (const target of [0.3, 0.5, 0.3]) {
    plan = { ...plan, target, sparsity: (await both(pair, { plan: { ...plan, target }, allocate: true })).sparsity };
  }
  for (const unit of [units[units.length - 1], units[0]]) {
    plan = { ...plan, sparsity: { ...plan.sparsity, [unit]: 0.7 }, locked: [...plan.locked, unit] };
    await both(pair, { plan, allocate: false });
  }
  if (removable.length > 0) {
    plan = { ...plan, removed: removable };
    plan = { ...plan, sparsity: (await both(pair, { plan, allocate: true })).sparsity };
  }
  const cachedWeights = await exportedWeights(pair.cached, plan);
  const freshWeights = await exportedWeights(pair.fresh, plan);
  expect([...cachedWeights.keys()].sort()).toEqual([...freshWeights.keys()].sort());
  for (const [name, bytes] of cachedWeights) expect(Buffer.compare(Buffer.from(bytes), Buffer.from(freshWeights.get(name) as Uint8Array)), name).toBe(0);
}

beforeAll(async () => {
  await startBackend('wasm');
});

describe.each([
  { label: 'digits-cnn (LayersModel)', folder: DIGITS, data: () => digitsData(160) },
  { label: 'hf-gpt2-tiny (transformer)', folder: GPT2_TINY, data: textData },
])('the plan cache on $label', ({ folder, data }) => {
  const pair = {} as Pair;

  beforeAll(async () => {
    pair.cached = await openSession(folder, await data());
    pair.fresh = await openSession(folder, await data());
    pair.fresh.configurePlanCache(false);
  });

  afterAll(() => {
    pair.cached.dispose();
    pair.fresh.dispose();
  });

  for (const criterion of ['magnitude', 'wanda', 'sparsegpt'] as const) {
    for (const granularity of ['unstructured', '2:4'] as const) {
      it(`${criterion} ${granularity}: the same evaluations and weights as applying every plan from scratch`, async () => {
        const removable = pair.cached.summary.removalCandidates.slice(0, 1);
        await sliderSession(pair, criterion, granularity, removable);
      }, 120_000);
    }
  }

  for (const allocation of ['owl', 'ecoflap', 'global'] as const) {
    it(`wanda with ${allocation} allocation: the same evaluations and weights as from scratch`, async () => {
      await sliderSession(pair, 'wanda', 'unstructured', [], allocation);
    }, 120_000);
  }

  it('re-prunes only what a move changed: magnitude one unit, wanda the unit and those after it', async () => {
    const session = pair.cached;
    const units = session.summary.units;
    const uniform = (criterion: CriterionKey): PruningPlan => ({ ...densePlan(units, session.data.hash), criterion, sparsity: Object.fromEntries(units.map((u) => [u, 0.4])) });
    const misses = async (plan: PruningPlan): Promise<number> => {
      const before = session.planCacheState()?.counters.kernelMisses ?? 0;
      await session.evaluatePlan({ plan, allocate: false }, QUIET_JOB);
      return (session.planCacheState()?.counters.kernelMisses ?? 0) - before;
    };
    for (const criterion of ['magnitude', 'wanda'] as const) {
      const plan = uniform(criterion);
      await misses(plan);
      expect(await misses(plan)).toBe(0);
      const last = units[units.length - 1];
      expect(await misses({ ...plan, sparsity: { ...plan.sparsity, [last]: 0.6 } })).toBe(1);
      const first = units[0];
      const changed = await misses({ ...plan, sparsity: { ...plan.sparsity, [first]: 0.6, [last]: 0.6 } });
      // Magnitude needs no data: only the first unit is new. Wanda's units in later blocks see the first one's new mask.
      const blockOf = (unit: string): string => session.kind.prunable.blockOf?.(unit) ?? unit;
      const later = units.filter((u) => blockOf(u) !== blockOf(first)).length;
      expect(changed).toBe(criterion === 'magnitude' ? 1 : 1 + later);
    }
  }, 120_000);

  it('keeps the tensor count across repeated plan evaluations', async () => {
    const session = pair.cached;
    const units = session.summary.units;
    const plan: PruningPlan = { ...densePlan(units, session.data.hash), criterion: 'wanda' };
    await session.evaluatePlan({ plan: { ...plan, target: 0.2 }, allocate: true }, QUIET_JOB);
    const before = tf.memory().numTensors;
    for (const target of [0.4, 0.6, 0.4, 0.2]) await session.evaluatePlan({ plan: { ...plan, target }, allocate: true }, QUIET_JOB);
    expect(tf.memory().numTensors).toBe(before);
  }, 120_000);

  it('measures a subset on request and says so; the full evaluation covers all of the data', async () => {
    const session = pair.cached;
    const plan: PruningPlan = { ...densePlan(session.summary.units, session.data.hash), target: 0.5 };
    const subset = await session.evaluatePlan({ plan, allocate: true, evaluation: 'subset' }, QUIET_JOB);
    const full = await session.evaluatePlan({ plan, allocate: true, evaluation: 'full' }, QUIET_JOB);
    const auto = await session.evaluatePlan({ plan, allocate: true }, QUIET_JOB);
    expect(auto).toEqual(full);
    expect(full.scope?.subset).toBe(false);
    expect(full.sizes.gzipBytes).toBeGreaterThan(0);
    expect(subset.scope?.subset).toBe(true);
    expect(subset.scope?.size).toBeLessThan(subset.scope?.of ?? 0);
    expect(subset.evaluation.samples).toBeLessThan(full.evaluation.samples);
    expect(subset.sizes.gzipBytes).toBeUndefined();
    expect(subset.overall).toBe(full.overall);
  }, 120_000);
});
