import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Hex } from '../io/hash';
import type { SweepFile } from '../core/sweep/engine';
import { runTransformerSweep } from '../core/sweep/transformer-sweep';
import { createTokenizer } from '../core/tokenizer';
import { fixtureModel } from '../core/transformer/testing';
import { runMain as run } from './testing';

const ROOT = join(import.meta.dirname, '..', '..');
const DEMO = join(ROOT, 'public', 'models', 'digits-cnn');
const FUNCTIONAL = join(ROOT, 'e2e', 'fixtures', 'functional');

async function readSweep(path: string): Promise<SweepFile> {
  return JSON.parse(await readFile(path, 'utf8')) as SweepFile;
}

describe('lopper sweep', () => {
  let dir = '';
  let dataPath = '';
  beforeAll(async () => {
    await tf.setBackend('cpu');
    dir = await mkdtemp(join(tmpdir(), 'lopper-sweep-'));
    // The first 200 held-out digits keep the cpu backend quick.
    const full = JSON.parse(await readFile(join(DEMO, 'eval.json'), 'utf8')) as { inputs: number[]; shape: number[]; labels: number[] };
    dataPath = join(dir, 'digits-200.json');
    await writeFile(dataPath, JSON.stringify({ inputs: full.inputs.slice(0, 200 * 784), shape: [200, 28, 28, 1], labels: full.labels.slice(0, 200) }));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('writes the sweep of the demo CNN on a labelled set, and a one-line summary with --json', async () => {
    const before = tf.memory().numTensors;
    const outPath = join(dir, 'nested', 'sweep.json');
    const { code, stdout, stderr } = await run(['sweep', DEMO, '--data', dataPath, '--sparsities', '0,0.5,0.9', '--out', outPath, '--json', '--backend', 'cpu']);
    expect(code).toBe(0);
    expect(stdout.trim().split('\n')).toHaveLength(1);
    const summary = JSON.parse(stdout) as { out: string; cells: number; seconds: number };
    expect(summary).toMatchObject({ out: outPath, cells: 12 });
    expect(stderr.trim().split('\n')).toEqual([
      expect.stringMatching(/1\/4 conv1/),
      expect.stringMatching(/2\/4 conv2/),
      expect.stringMatching(/3\/4 dense1/),
      expect.stringMatching(/4\/4 dense2/),
    ]);
    const result = await readSweep(outPath);
    expect(Object.keys(result)).toEqual(['criterion', 'granularity', 'metric', 'sparsities', 'layers', 'values', 'dense', 'dataHash', 'backend', 'seconds']);
    expect(result).toMatchObject({ criterion: 'magnitude', granularity: 'unstructured', metric: 'accuracy', sparsities: [0, 0.5, 0.9], backend: 'cpu' });
    expect(result.layers).toEqual(['conv1', 'conv2', 'dense1', 'dense2']);
    expect(result.dataHash).toBe(await sha256Hex(await readFile(dataPath)));
    expect(result.dense).toBeGreaterThan(0.9);
    for (const row of result.values) {
      expect(row).toHaveLength(3);
      expect(row[0]).toBe(result.dense);
      expect(row[2]).toBeLessThanOrEqual(row[1] ?? NaN);
    }
    expect(result.seconds).toBeGreaterThan(0);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('runs data-free on seeded synthetic inputs with the js metric; N:M sweeps [0, N/M]', async () => {
    const outPath = join(dir, 'free.json');
    const { code, stdout, stderr } = await run([
      'sweep',
      DEMO,
      '--granularity',
      '2:4',
      '--criterion',
      'wanda',
      '--samples',
      '8',
      '--seed',
      '3',
      '--out',
      outPath,
      '--backend',
      'cpu',
    ]);
    expect(code).toBe(0);
    expect(stdout).toBe('');
    expect(stderr).toMatch(/4 units × 2 sparsities \(8 cells\) in [\d.]+ s; dense js 0\.000; wrote .*free\.json/);
    const result = await readSweep(outPath);
    expect(result).toMatchObject({ criterion: 'wanda', granularity: '2:4', metric: 'js', sparsities: [0, 0.5], dense: 0, dataHash: 'synthetic:3:8' });
    for (const [dense, pruned] of result.values) {
      expect(dense).toBe(0);
      expect(pruned).toBeGreaterThan(0);
    }
  });

  it('writes null for the units a criterion skips, and lists them with the reason', async () => {
    const outPath = join(dir, 'functional.json');
    const { code, stderr } = await run([
      'sweep',
      FUNCTIONAL,
      '--data',
      join(FUNCTIONAL, 'eval.json'),
      '--criterion',
      'sparsegpt',
      '--sparsities',
      '0,0.5',
      '--metric',
      'loss',
      '--out',
      outPath,
      '--backend',
      'cpu',
    ]);
    expect(code).toBe(0);
    expect(stderr).toMatch(/units skipped/);
    const result = await readSweep(outPath);
    const skipped = result.skipped ?? [];
    expect(skipped.length).toBeGreaterThan(0);
    for (const { unit, reason } of skipped) {
      expect(reason).toMatch(/depthwise/);
      expect(result.values[result.layers.indexOf(unit)]).toEqual([null, null]);
    }
    const kept = result.values.filter((_, row) => !skipped.some((s) => s.unit === result.layers[row]));
    expect(kept.length).toBeGreaterThan(0);
    for (const [dense, pruned] of kept) {
      expect(dense).toBe(result.dense);
      expect(typeof pruned).toBe('number');
    }
  });

  it('exits non-zero with one line for sparsegpt with channels, and writes nothing', async () => {
    const outPath = join(dir, 'never.json');
    const { code, stdout, stderr } = await run(['sweep', DEMO, '--criterion', 'sparsegpt', '--granularity', 'channels', '--out', outPath, '--json', '--backend', 'cpu']);
    expect(code).not.toBe(0);
    expect(stdout).toBe('');
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).toMatch(/sparsegpt with channels/);
    await expect(stat(outPath)).rejects.toThrow();
  });

  it('rejects a missing --out, unknown choices, bad grids and accuracy without labels', async () => {
    const cases: [string[], RegExp][] = [
      [['sweep', DEMO], /--out <file> is required/],
      [['sweep', DEMO, '--out', join(dir, 'x.json'), '--criterion', 'taylor'], /--criterion must be one of magnitude, wanda, sparsegpt, random, got "taylor"/],
      [['sweep', DEMO, '--out', join(dir, 'x.json'), '--granularity', '3:4x'], /--granularity must be one of/],
      [['sweep', DEMO, '--out', join(dir, 'x.json'), '--sparsities', '0,1.5'], /numbers in \[0, 1\].*"1\.5"/],
      [['sweep', DEMO, '--out', join(dir, 'x.json'), '--metric', 'perplexity'], /--metric must be one of accuracy, loss, kl, js/],
      [['sweep', DEMO, '--out', join(dir, 'x.json'), '--metric', 'accuracy', '--samples', '4', '--backend', 'cpu'], /accuracy metric needs labelled data/],
    ];
    for (const [argv, message] of cases) {
      const { code, stderr } = await run(argv);
      expect(code).not.toBe(0);
      expect(stderr.trim().split('\n')).toHaveLength(1);
      expect(stderr).toMatch(message);
    }
  });
});

const FIXTURES = join(ROOT, 'e2e', 'fixtures');
const REMOVAL = join(FIXTURES, 'hf-removal-tiny');
const GPT2 = join(FIXTURES, 'hf-gpt2-tiny');
const CHAR_LM = join(ROOT, 'public', 'models', 'char-lm');

describe('lopper sweep on HF transformers', () => {
  let dir = '';
  beforeAll(async () => {
    await tf.setBackend('cpu');
    dir = await mkdtemp(join(tmpdir(), 'lopper-sweep-hf-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('sweeps every projection on .txt data with the loss metric by default, as runTransformerSweep does', async () => {
    const before = tf.memory().numTensors;
    const outPath = join(dir, 'removal-tiny.json');
    const textPath = join(REMOVAL, 'calibration.txt');
    const { code, stdout, stderr } = await run(['sweep', REMOVAL, '--data', textPath, '--sparsities', '0,0.5', '--out', outPath, '--json', '--backend', 'cpu']);
    expect(code).toBe(0);
    expect(tf.memory().numTensors).toBe(before);
    const result = await readSweep(outPath);
    expect(Object.keys(result)).toEqual(['criterion', 'granularity', 'metric', 'sparsities', 'layers', 'values', 'dense', 'dataHash', 'backend', 'seconds']);
    expect(result).toMatchObject({ criterion: 'magnitude', granularity: 'unstructured', metric: 'loss', sparsities: [0, 0.5], backend: 'cpu' });
    expect(result.dataHash).toBe(await sha256Hex(await readFile(textPath)));
    expect(result.layers).toHaveLength(28);
    expect(result.layers.slice(0, 7)).toEqual(
      ['q_proj', 'k_proj', 'v_proj', 'o_proj'].map((p) => `model.layers.0.self_attn.${p}`).concat(['gate_proj', 'up_proj', 'down_proj'].map((p) => `model.layers.0.mlp.${p}`)),
    );
    expect(JSON.parse(stdout)).toMatchObject({ out: outPath, cells: 56 });
    expect(stderr.trim().split('\n')).toEqual(result.layers.map((unit, i) => expect.stringContaining(`lopper sweep: ${i + 1}/28 ${unit} (`)));

    const { model, payload } = await fixtureModel('hf-removal-tiny');
    const ids = createTokenizer(payload.tokenizer?.json).encode(await readFile(textPath, 'utf8'));
    const direct = await runTransformerSweep(model, ids, { criterion: 'magnitude', granularity: 'unstructured', sparsities: [0, 0.5], metric: 'loss' });
    model.dispose();
    expect(result.dense).toBe(direct.dense);
    expect(result.values).toEqual(direct.values);
  });

  it('runs data-free on seeded random token windows with js, reproducibly; N:M sweeps [0, N/M]', async () => {
    const files: SweepFile[] = [];
    for (const name of ['a.json', 'b.json']) {
      const outPath = join(dir, name);
      const { code, stdout, stderr } = await run([
        'sweep',
        GPT2,
        '--criterion',
        'wanda',
        '--granularity',
        '2:4',
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
      expect(stdout).toBe('');
      expect(stderr).toMatch(/8 units × 2 sparsities \(16 cells\) in [\d.]+ s; dense js 0\.000; wrote .*\.json/);
      files.push(await readSweep(outPath));
    }
    const [first, second] = files;
    expect(first).toMatchObject({ criterion: 'wanda', granularity: '2:4', metric: 'js', sparsities: [0, 0.5], dense: 0, dataHash: 'synthetic:3:2' });
    expect(second.values).toEqual(first.values);
    for (const [dense, pruned] of first.values) {
      expect(dense).toBe(0);
      expect(pruned).toBeGreaterThan(0);
    }
  });

  it('reads text with a byte-level BPE tokenizer and sweeps kl with sparsegpt', async () => {
    const textPath = join(dir, 'whale.txt');
    await writeFile(textPath, "The whale's 12 tail-fins, there!  Über café. ".repeat(8));
    const outPath = join(dir, 'gpt2-kl.json');
    const { code } = await run(['sweep', GPT2, '--data', textPath, '--criterion', 'sparsegpt', '--metric', 'kl', '--sparsities', '0,0.7', '--out', outPath, '--backend', 'cpu']);
    expect(code).toBe(0);
    const result = await readSweep(outPath);
    expect(result).toMatchObject({ metric: 'kl', dense: 0, dataHash: await sha256Hex(await readFile(textPath)) });
    for (const [dense, pruned] of result.values) {
      expect(dense).toBe(0);
      expect(pruned).toBeGreaterThan(0);
    }
  });

  it('sweeps the demo language model on its held-out text (wasm)', async () => {
    const outPath = join(dir, 'char-lm.json');
    const { code } = await run(['sweep', CHAR_LM, '--data', join(CHAR_LM, 'eval.txt'), '--samples', '1', '--sparsities', '0,0.9', '--out', outPath]);
    await tf.setBackend('cpu');
    expect(code).toBe(0);
    const result = await readSweep(outPath);
    expect(result.backend).toBe('wasm');
    expect(result.layers).toHaveLength(28);
    expect(Math.exp(result.dense)).toBeLessThan(10);
    const rises = result.values.filter(([dense, pruned]) => (pruned ?? 0) > (dense ?? Infinity));
    expect(rises.length).toBeGreaterThan(20);
  });

  it.each([
    [['sweep', GPT2, '--metric', 'accuracy'], 2, /--metric accuracy needs class labels; a language model sweeps loss, kl, js/],
    [['sweep', GPT2, '--metric', 'loss'], 2, /the loss metric needs text \(--data <file\.txt>\)/],
    [['sweep', GPT2, '--data', join(FUNCTIONAL, 'eval.json')], 2, /--data for a language model is a \.txt file/],
    [['sweep', GPT2, '--samples', '0'], 2, /--samples expects an integer ≥ 1, got 0/],
    [['sweep', GPT2, '--criterion', 'sparsegpt', '--granularity', 'channels'], 2, /sparsegpt with channels/],
    [['sweep', join(FIXTURES, 'hf-llama-tiny'), '--data', join(REMOVAL, 'calibration.txt')], 1, /cannot be tokenized: the model came without a tokenizer/],
  ])('exits with a one-line error: %j', async (argv, exitCode, message) => {
    const { code, stderr } = await run([...argv, '--out', join(dir, 'never.json'), '--backend', 'cpu']);
    expect(code).toBe(exitCode);
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).toMatch(message);
  });
});
