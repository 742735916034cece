import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBackend } from '../cli/backend';
import { filesFromPath } from '../io/node-files';
import type { InputFile } from '../io/types';
import { WorkerApi, type JobContext } from './api';
import type { PlanRequest, SweepConfig } from './protocol';

/**
 * Fifty jobs in a row through the worker's own API on the demo CNN, as a long session in the page
 * runs them: sweeps (some cancelled midway), plan evaluations, removals measured, plain
 * evaluations. After every job the tensor count is back where it was once the model was open.
 */

const DIGITS = join(import.meta.dirname, '..', '..', 'public', 'models', 'digits-cnn');
const SAMPLES = 24;
const JOBS = 50;

const running: JobContext = { progress: () => undefined, cancelled: () => false };

/** A job that is cancelled at its `after`-th step boundary, as the page's Cancel does. */
function cancelledAfter(after: number): JobContext {
  let steps = 0;
  return { progress: () => undefined, cancelled: () => (steps += 1) > after };
}

async function subset(): Promise<InputFile> {
  const full = JSON.parse(await readFile(join(DIGITS, 'eval.json'), 'utf8')) as { inputs: number[]; labels: number[] };
  const bytes = new TextEncoder().encode(JSON.stringify({ inputs: full.inputs.slice(0, SAMPLES * 784), shape: [SAMPLES, 28, 28, 1], labels: full.labels.slice(0, SAMPLES) }));
  return { path: 'digits-subset.json', size: bytes.length, bytes: async () => bytes };
}

let api: WorkerApi;
let units: string[];
let candidates: string[];
let dataHash: string;
let baseline: number;

beforeAll(async () => {
  await startBackend('wasm');
  api = new WorkerApi();
  api.setBackendState({ name: 'wasm', reason: 'test', available: ['wasm'], crossOriginIsolated: false });
  const model = (await filesFromPath(DIGITS)).filter((f) => !/(eval|reference)\.json$/.test(f.path));
  const opened = await api.openFiles([...model, await subset()], running);
  units = opened.model.units;
  candidates = opened.model.removalCandidates;
  dataHash = opened.data.hash;
  expect(opened.evaluation.samples).toBe(SAMPLES);
  baseline = tf.memory().numTensors;
});

afterAll(() => {
  api.dispose();
});

describe('a long session in the worker', () => {
  it(`runs ${JOBS} sweeps, plans, removals and evaluations with the tensor count back at its baseline after each`, async () => {
    const sweep: SweepConfig = { criterion: 'magnitude', granularity: 'unstructured', sparsities: [0, 0.5, 0.9], metric: 'accuracy', seed: 0 };
    const criteria = ['magnitude', 'wanda', 'sparsegpt', 'random'] as const;
    const counts: number[] = [];
    const kinds: string[] = [];
    let cancelledSweeps = 0;
    for (let i = 0; i < JOBS; i += 1) {
      const kind = ['sweep', 'plan', 'removed', 'evaluate', 'sweep-cancelled'][i % 5];
      kinds.push(kind);
      if (kind === 'sweep') {
        const report = await api.sweep({ ...sweep, criterion: criteria[i % criteria.length], seed: i }, running);
        expect(report.values.flat().every((v) => v !== null)).toBe(true);
      } else if (kind === 'sweep-cancelled') {
        const report = await api.sweep(sweep, cancelledAfter(3)).catch((error: unknown) => (error instanceof Error ? error : new Error(String(error))));
        cancelledSweeps += 1;
        if (report instanceof Error) expect(report.name).toBe('CancelledError');
        else expect(report.values.flat().some((v) => v === null)).toBe(true);
      } else if (kind === 'plan') {
        const request: PlanRequest = {
          plan: {
            criterion: criteria[i % criteria.length],
            granularity: i % 3 === 0 ? '2:4' : 'unstructured',
            allocation: 'uniform',
            target: 0.1 + (i % 8) / 10,
            sparsity: Object.fromEntries(units.map((u) => [u, 0])),
            locked: [],
            removed: [],
            seed: i,
            dataHash,
          },
          allocate: true,
        };
        const result = await api.evaluatePlan(request, running);
        expect(result.overall).toBeGreaterThan(0);
      } else if (kind === 'removed') {
        await api.evaluateRemoved(candidates.slice(0, i % (candidates.length + 1)), running);
      } else {
        expect((await api.evaluate(running)).samples).toBe(SAMPLES);
      }
      counts.push(tf.memory().numTensors);
    }
    expect(cancelledSweeps).toBe(10);
    expect(counts.map((count, i) => `${kinds[i]} ${count}`)).toEqual(counts.map((_, i) => `${kinds[i]} ${baseline}`));
  });
});
