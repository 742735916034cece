import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RemovalReference } from '../core/removal/testing';
import { sha256Hex } from '../io/hash';
import type { RemovalFile } from './remove';
import { runMain as run } from './testing';

const FIXTURES = join(import.meta.dirname, '..', '..', 'e2e', 'fixtures');
const REMOVAL = join(FIXTURES, 'hf-removal-tiny');

async function readJson<T>(path: string): Promise<T> {
  return JSON.parse(await readFile(path, 'utf8')) as T;
}

describe('lopper remove', () => {
  let dir = '';
  beforeAll(async () => {
    await tf.setBackend('cpu');
    dir = await mkdtemp(join(tmpdir(), 'lopper-remove-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('writes the greedy order and scores of the torch reference for hf-removal-tiny, with a one-line summary', async () => {
    const before = tf.memory().numTensors;
    const outPath = join(dir, 'nested', 'removal.json');
    const textPath = join(REMOVAL, 'calibration.txt');
    const { code, stdout, stderr } = await run(['remove', REMOVAL, '--data', textPath, '--out', outPath, '--json', '--backend', 'cpu']);
    expect(code).toBe(0);
    const reference = await readJson<RemovalReference>(join(REMOVAL, 'reference.json'));
    const result = await readJson<RemovalFile>(outPath);
    expect(Object.keys(result)).toEqual(['metric', 'candidates', 'steps', 'dense']);
    expect(result).toMatchObject({ metric: 'js', candidates: reference.candidates, dense: 0 });
    expect(result.steps.map((s) => s.removed)).toEqual(reference.greedy);
    expect(result.steps.map((s) => s.removed)).not.toEqual(reference.one_shot);
    result.steps.forEach((step, i) => {
      for (const [candidate, value] of Object.entries(reference.steps[i].scores)) {
        expect(Math.abs(step.scores[candidate] - value) / value).toBeLessThan(1e-4);
      }
      expect(Object.keys(step.scores)).toHaveLength(reference.candidates.length - i);
    });
    expect(stdout.trim().split('\n')).toHaveLength(1);
    const summary = JSON.parse(stdout) as Record<string, unknown>;
    expect(summary).toMatchObject({ out: outPath, removed: reference.greedy, evaluations: 36, backend: 'cpu', dataHash: await sha256Hex(await readFile(textPath)) });
    const [estimate, ...steps] = stderr.trim().split('\n');
    expect(estimate).toMatch(/^lopper remove: 8 candidates × 8 steps = 36 forward passes, about [\d.]+ s at [\d.]+ ms each$/);
    expect(steps).toEqual(reference.greedy.map((c, i) => expect.stringContaining(`lopper remove: ${i + 1}/8 ${c} (js `)));
    expect(tf.memory().numTensors).toBe(before);
  });

  it('runs data-free on seeded random token ids, reproducibly, for --steps steps of the chosen metric', async () => {
    const outputs: string[] = [];
    for (const name of ['a.json', 'b.json']) {
      const outPath = join(dir, name);
      const { code, stderr } = await run([
        'remove',
        join(FIXTURES, 'hf-gpt2-tiny'),
        '--metric',
        'kl',
        '--steps',
        '2',
        '--samples',
        '2',
        '--seed',
        '3',
        '--out',
        outPath,
        '--backend',
        'cpu',
      ]);
      expect(code).toBe(0);
      expect(stderr).toMatch(/2 of 4 candidates removed in .* s; wrote /);
      outputs.push(await readFile(outPath, 'utf8'));
    }
    expect(outputs[1]).toBe(outputs[0]);
    const result = JSON.parse(outputs[0]) as RemovalFile;
    expect(result.metric).toBe('kl');
    expect(result.candidates).toEqual(['transformer.h.0.attn', 'transformer.h.0.mlp', 'transformer.h.1.attn', 'transformer.h.1.mlp']);
    expect(result.steps).toHaveLength(2);
    expect(Object.keys(result.steps[1].scores)).toEqual(result.candidates.filter((c) => c !== result.steps[0].removed));
  });

  it('offers a LayersModel its residual branches by default, its shape-preserving layers or both on request', async () => {
    const dataPath = join(FIXTURES, 'functional', 'eval.json');
    const sets = { branches: ['residual_add'], layers: ['stem_bn', 'stem_relu', 'branch_dw', 'branch_sep', 'branch_bn'] };
    for (const [set, expected] of Object.entries(sets)) {
      const path = join(dir, `functional-${set}.json`);
      const args = ['remove', join(FIXTURES, 'functional'), '--data', dataPath, '--steps', '1', '--out', path, '--backend', 'cpu'];
      const { code, stderr } = await run(set === 'branches' ? args : [...args, '--candidates', set]);
      expect(code, stderr).toBe(0);
      expect((await readJson<RemovalFile>(path)).candidates).toEqual(expected);
    }
    const refused = await run(['remove', join(FIXTURES, 'functional'), '--candidates', 'some', '--out', join(dir, 'x.json')]);
    expect(refused.code).toBe(2);
  });

  it('removes residual branches and shape-preserving layers of a LayersModel on its dataset (--candidates all)', async () => {
    const outPath = join(dir, 'functional.json');
    const dataPath = join(FIXTURES, 'functional', 'eval.json');
    const { code, stdout } = await run([
      'remove',
      join(FIXTURES, 'functional'),
      '--data',
      dataPath,
      '--steps',
      '2',
      '--candidates',
      'all',
      '--out',
      outPath,
      '--json',
      '--backend',
      'cpu',
    ]);
    expect(code).toBe(0);
    const result = await readJson<RemovalFile>(outPath);
    expect(result.candidates).toEqual(['stem_bn', 'stem_relu', 'branch_dw', 'branch_sep', 'branch_bn', 'residual_add']);
    expect(result.steps).toHaveLength(2);
    expect((JSON.parse(stdout) as { dataHash: string }).dataHash).toBe(await sha256Hex(await readFile(dataPath)));
  });

  it.each([
    [['remove', REMOVAL, '--backend', 'cpu'], /--out <file> is required/],
    [['remove', REMOVAL, '--metric', 'mse', '--out', 'x.json'], /--metric must be one of js, kl, angular, logits, got "mse"/],
    [['remove', REMOVAL, '--steps', '1.5', '--out', 'x.json'], /--steps expects an integer ≥ 0, got 1.5/],
    [['remove', REMOVAL, '--data', join(FIXTURES, 'functional', 'eval.json'), '--out', 'x.json', '--backend', 'cpu'], /--data for a language model is a \.txt file/],
  ])('exits 2 with a one-line usage error: %j', async (argv, message) => {
    const { code, stderr } = await run(argv);
    expect(code).toBe(2);
    expect(stderr).toMatch(message);
    expect(stderr.trim().split('\n')).toHaveLength(1);
  });
});
