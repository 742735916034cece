import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CriterionKey, Granularity } from '../../core/criteria/types';
import type { AllocationKey, PruningPlan } from '../../core/plan';
import { filesFromPath } from '../../io/node-files';
import { openModel } from '../../io/open';
import { expandZip } from '../../io/zip';
import { startBackend } from '../../cli/backend';
import { runMain } from '../../cli/testing';
import { WorkerApi, type JobContext } from '../api';

/**
 * The page's worker code and `lopper prune --recipe` must give the same weights for the same plan
 * (DESIGN §6: bit-exact within one backend): the plan is applied as the page does, exported, and
 * the exported recipe replayed by the CLI; the weight files are compared byte for byte.
 */

const ROOT = join(import.meta.dirname, '..', '..', '..');
const DIGITS = join(ROOT, 'public', 'models', 'digits-cnn');
const INVERTED = join(ROOT, 'public', 'models', 'digits-cnn-inverted');
const CHAR_LM = join(ROOT, 'public', 'models', 'char-lm');
/** A GPT-2-shaped transformer small enough for the whole matrix (its forward passes take milliseconds). */
const GPT2_TINY = join(ROOT, 'e2e', 'fixtures', 'hf-gpt2-tiny');

const job: JobContext = { progress: () => undefined, cancelled: () => false };
let dir: string;
let digitsData: string;
let invertedData: string;
let text: string;

async function subsetDataset(folder: string, out: string, samples: number): Promise<void> {
  const full = JSON.parse(await readFile(join(folder, 'eval.json'), 'utf8')) as { inputs: number[]; shape: number[]; labels: number[] };
  const size = 28 * 28;
  await writeFile(out, JSON.stringify({ inputs: full.inputs.slice(0, samples * size), shape: [samples, 28, 28, 1], labels: full.labels.slice(0, samples) }));
}

beforeAll(async () => {
  await startBackend('wasm');
  dir = await mkdtemp(join(tmpdir(), 'lopper-agreement-'));
  digitsData = join(dir, 'digits.json');
  invertedData = join(dir, 'inverted.json');
  text = join(dir, 'text.txt');
  await subsetDataset(DIGITS, digitsData, 96);
  await subsetDataset(INVERTED, invertedData, 96);
  await writeFile(text, (await readFile(join(CHAR_LM, 'eval.txt'), 'utf8')).slice(0, 1400));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function openApi(model: string, data: string): Promise<{ api: WorkerApi; units: string[]; candidates: string[]; dataHash: string }> {
  const api = new WorkerApi();
  api.setBackendState({ name: 'wasm', reason: 'test', available: ['wasm'], crossOriginIsolated: false });
  const modelFiles = (await filesFromPath(model)).filter((f) => !/(eval|reference|calibration)\.(json|txt)$/.test(f.path));
  const opened = await api.openFiles([...modelFiles, ...(await filesFromPath(data))], job);
  return { api, units: opened.model.units, candidates: opened.model.removalCandidates, dataHash: opened.data.hash };
}

/** The weight files of an export: every file but the JSON ones (topology, config, recipe, tokenizer). */
async function weightFiles(files: { path: string; bytes: () => Promise<Uint8Array> }[]): Promise<Map<string, Uint8Array>> {
  const out = new Map<string, Uint8Array>();
  for (const file of files) if (!file.path.endsWith('.json')) out.set(file.path.split('/').pop() as string, await file.bytes());
  return out;
}

interface Case {
  label: string;
  model: string;
  data: () => string;
  plan: Partial<PruningPlan> & { target: number };
  base?: string;
  /** Remove the model's first N removal candidates. */
  removeFirst?: number;
}

/** Applies the plan as the page does (allocation, then export), replays the export's recipe with the CLI, and compares weights. */
async function agree({ model, data, plan, base, removeFirst }: Case): Promise<void> {
  const { api, units, candidates, dataHash } = await openApi(model, data());
  let dare: PruningPlan['dare'];
  if (base !== undefined) {
    const info = await api.loadBase(await filesFromPath(base), job);
    dare = { base: info.sha256, p: 0.5, q: 0.5 };
  }
  const before = tf.memory().numTensors;
  const full: PruningPlan = {
    criterion: 'magnitude',
    granularity: 'unstructured',
    allocation: 'uniform',
    sparsity: Object.fromEntries(units.map((u) => [u, 0])),
    locked: [],
    seed: 0,
    dataHash,
    ...plan,
    removed: removeFirst ? candidates.slice(0, removeFirst) : (plan.removed ?? []),
    ...(dare && { dare }),
  };
  const planned = await api.evaluatePlan({ plan: full, allocate: true }, job);
  const exported = await api.exportModel({ plan: { ...full, sparsity: planned.sparsity }, float16: false }, job);
  expect(exported.check.ok, JSON.stringify(exported.check)).toBe(true);
  expect(tf.memory().numTensors).toBe(before);
  const entries = await expandZip({ path: exported.fileName, size: exported.zip.length, bytes: async () => exported.zip });
  const recipe = entries.find((e) => e.path.endsWith('recipe.json'));
  expect(recipe).toBeDefined();
  const recipePath = join(dir, 'recipe.json');
  await mkdir(dirname(recipePath), { recursive: true });
  await writeFile(recipePath, await (recipe as { bytes: () => Promise<Uint8Array> }).bytes());
  const out = join(dir, `replay-${Math.random().toString(36).slice(2)}`);
  const args = ['prune', model, '--data', data(), '--recipe', recipePath, '--out', out, '--json', '--backend', 'wasm', ...(base ? ['--base', base] : [])];
  const replay = await runMain(args);
  expect(replay.code, replay.stderr).toBe(0);
  const page = await weightFiles(entries);
  const cli = await weightFiles(await filesFromPath(out));
  expect([...cli.keys()].sort()).toEqual([...page.keys()].sort());
  for (const [name, bytes] of page) expect(Buffer.compare(Buffer.from(bytes), Buffer.from(cli.get(name) as Uint8Array)), name).toBe(0);
  const reopened = await openModel(await filesFromPath(out));
  api.dispose();
  expect(reopened.format).toBe(model === CHAR_LM || model === GPT2_TINY ? 'hf-transformer' : 'layers-model');
}

const CRITERIA: CriterionKey[] = ['magnitude', 'wanda', 'sparsegpt'];
const ALLOCATIONS: AllocationKey[] = ['uniform', 'owl'];

function matrix(label: string, model: string, data: () => string, granularities: Granularity[]): Case[] {
  const cases: Case[] = [];
  for (const criterion of CRITERIA) {
    for (const granularity of granularities) {
      if (granularity === 'channels' && criterion === 'sparsegpt') continue;
      for (const allocation of ALLOCATIONS) {
        if (granularity !== 'unstructured' && allocation !== 'uniform') continue;
        const target = granularity === '2:4' ? 0.5 : 0.4;
        cases.push({ label: `${label} ${criterion} ${granularity} ${allocation}`, model, data, plan: { criterion, granularity, allocation, target } });
      }
    }
  }
  return cases;
}

describe('page and CLI give the same weights for the same plan', () => {
  const cases: Case[] = [
    ...matrix('digits-cnn', DIGITS, () => digitsData, ['unstructured', '2:4', 'channels']),
    ...matrix('hf-gpt2-tiny', GPT2_TINY, () => text, ['unstructured', '2:4']),
    { label: 'char-lm wanda unstructured uniform', model: CHAR_LM, data: () => text, plan: { target: 0.5, criterion: 'wanda' } },
    { label: 'digits-cnn with a removed layer', model: DIGITS, data: () => digitsData, plan: { target: 0.3, criterion: 'wanda' }, removeFirst: 1 },
    {
      label: 'hf-gpt2-tiny with removed sublayers',
      model: GPT2_TINY,
      data: () => text,
      plan: { target: 0.3, criterion: 'wanda', removed: ['transformer.h.0.attn', 'transformer.h.1.mlp'] },
    },
    { label: 'digits-cnn-inverted with DARE against digits-cnn', model: INVERTED, data: () => invertedData, plan: { target: 0 }, base: DIGITS },
  ];
  for (const c of cases) it(c.label, () => agree(c), 120_000);
});
