import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Hex } from '../io/hash';
import type { SweepFile } from '../core/sweep/engine';
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
    const { code, stdout, stderr } = await run(['sweep', DEMO, '--granularity', '2:4', '--criterion', 'wanda', '--samples', '8', '--seed', '3', '--out', outPath, '--backend', 'cpu']);
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
    const { code, stderr } = await run(['sweep', FUNCTIONAL, '--data', join(FUNCTIONAL, 'eval.json'), '--criterion', 'sparsegpt', '--sparsities', '0,0.5', '--metric', 'loss', '--out', outPath, '--backend', 'cpu']);
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
