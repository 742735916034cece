import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { runMain as run } from './testing';

const ROOT = join(import.meta.dirname, '..', '..');
const DEMO = join(ROOT, 'public', 'models', 'digits-cnn');
const FIXTURES = join(ROOT, 'e2e', 'fixtures');

afterEach(() => vi.restoreAllMocks());

describe('lopper inspect', () => {
  it('prints one JSON object with the layer list of the demo CNN', async () => {
    const { code, stdout } = await run(['inspect', join(DEMO, 'model.json'), '--json', '--backend', 'cpu']);
    expect(code).toBe(0);
    const result = JSON.parse(stdout) as {
      format: string;
      name: string;
      totalParams: number;
      layers: { name: string; outputShape: (number | null)[]; params: number; prunable: boolean }[];
    };
    expect(result.format).toBe('layers-model');
    expect(result.name).toBe('digits-cnn');
    expect(result.totalParams).toBe(160 + 4640 + 51264 + 650);
    expect(result.layers.map((l) => l.name)).toEqual(['conv1', 'pool1', 'conv2', 'pool2', 'flatten', 'dense1', 'dense2']);
    expect(result.layers[0]).toMatchObject({ outputShape: [null, 26, 26, 16], params: 160, prunable: true });
    expect(result.layers[1]).toMatchObject({ params: 0, prunable: false });
  });

  it('exits non-zero with a one-line error naming the missing shard', async () => {
    const { code, stdout, stderr } = await run(['inspect', join(FIXTURES, 'missing-shard'), '--json', '--backend', 'cpu']);
    expect(code).not.toBe(0);
    expect(stdout).toBe('');
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).toContain('group1-shard2of2.bin');
  });
});

describe('lopper eval', () => {
  it('gives the held-out accuracy and the dataset hash', async () => {
    const before = tf.memory().numTensors;
    const { code, stdout } = await run(['eval', DEMO, '--data', join(DEMO, 'eval.json'), '--json', '--backend', 'cpu']);
    expect(code).toBe(0);
    const result = JSON.parse(stdout) as { accuracy: number; loss: number; samples: number; backend: string; dataHash: string };
    const reference = JSON.parse(readFileSync(join(DEMO, 'reference.json'), 'utf8')) as { accuracy: number; loss: number };
    expect(result.samples).toBe(2000);
    expect(result.backend).toBe('cpu');
    expect(Math.abs(result.accuracy - reference.accuracy)).toBeLessThanOrEqual(1 / 2000);
    expect(result.loss).toBeCloseTo(reference.loss, 4);
    expect(result.dataHash).toMatch(/^[0-9a-f]{64}$/);
    // Per class: the demo's held-out set has 200 digits of each class; the counts add up to the accuracy.
    const { perClass } = JSON.parse(stdout) as { perClass: { total: number[]; correct: number[]; accuracy: number[]; confusion: number[][] } };
    expect(perClass.total).toEqual(new Array(10).fill(200));
    expect(perClass.correct.reduce((a, b) => a + b, 0)).toBe(Math.round(result.accuracy * 2000));
    perClass.accuracy.forEach((a, c) => expect(a).toBe(perClass.correct[c] / 200));
    expect(perClass.confusion.map((row) => row.reduce((a, b) => a + b, 0))).toEqual(perClass.total);
    perClass.confusion.forEach((row, c) => expect(row[c]).toBe(perClass.correct[c]));
    expect(tf.memory().numTensors).toBe(before);
  });

  it('runs data-free on seeded synthetic inputs', async () => {
    const { code, stdout } = await run(['eval', DEMO, '--json', '--backend', 'cpu', '--samples', '8', '--seed', '3']);
    expect(code).toBe(0);
    const result = JSON.parse(stdout) as { samples: number; dataHash: string; divergence: number; accuracy?: number };
    expect(result).toMatchObject({ samples: 8, dataHash: 'synthetic:3:8', divergence: 0 });
    expect(result).not.toHaveProperty('perClass');
    expect(result.accuracy).toBeUndefined();
  });

  it('rejects a dataset whose shape does not fit the model', async () => {
    const { code, stderr } = await run(['eval', DEMO, '--data', join(FIXTURES, 'functional', 'eval.json'), '--json', '--backend', 'cpu']);
    expect(code).not.toBe(0);
    expect(stderr).toContain('eval.json');
  });
});

describe('the lopper bin', () => {
  it('works as installed: node bin/lopper.js inspect --json on the wasm backend', () => {
    const result = spawnSync(process.execPath, [join(ROOT, 'bin', 'lopper.js'), 'inspect', join(DEMO, 'model.json'), '--json'], { encoding: 'utf8' });
    expect(result.status).toBe(0);
    const parsed = JSON.parse(result.stdout) as { layers: unknown[] };
    expect(parsed.layers).toHaveLength(7);
    const evaluated = spawnSync(process.execPath, [join(ROOT, 'bin', 'lopper.js'), 'eval', DEMO, '--json'], { encoding: 'utf8' });
    expect(evaluated.status).toBe(0);
    expect(JSON.parse(evaluated.stdout)).toMatchObject({ backend: 'wasm', samples: 32 });
  });
});

describe('lopper inspect and eval on a Hugging Face transformer', () => {
  const CHAR_LM = join(ROOT, 'public', 'models', 'char-lm');

  it('lists the projections of the demo LM', async () => {
    const { code, stdout } = await run(['inspect', CHAR_LM, '--json', '--backend', 'cpu']);
    expect(code).toBe(0);
    const result = JSON.parse(stdout) as { format: string; totalParams: number; layers: { name: string; outputShape: (number | null)[] }[] };
    expect(result.format).toBe('hf-transformer');
    expect(result.totalParams).toBe(667264);
    expect(result.layers).toHaveLength(4 * 7);
    expect(result.layers[0]).toMatchObject({ name: 'model.layers.0.self_attn.q_proj', outputShape: [null, null, 128] });
  });

  it('gives the perplexity of the held-out text as the torch reference does', async () => {
    const { code, stdout } = await run(['eval', CHAR_LM, '--data', join(CHAR_LM, 'eval.txt'), '--json', '--backend', 'wasm']);
    expect(code).toBe(0);
    const result = JSON.parse(stdout) as { perplexity: number; samples: number; dataHash: string; windowLength: number; windowCappedByMemory?: boolean };
    expect(result.windowLength).toBe(128);
    expect(result.windowCappedByMemory).toBeUndefined();
    const reference = JSON.parse(readFileSync(join(CHAR_LM, 'reference.json'), 'utf8')) as { perplexity: number; scored_tokens: number };
    expect(Math.abs(result.perplexity - reference.perplexity) / reference.perplexity).toBeLessThan(1e-4);
    expect(result.dataHash).toMatch(/^[0-9a-f]{64}$/);
  });

  it('rejects a dataset .json for a language model', async () => {
    const { code, stderr } = await run(['eval', CHAR_LM, '--data', join(DEMO, 'eval.json'), '--json', '--backend', 'cpu']);
    expect(code).not.toBe(0);
    expect(stderr).toContain('.txt');
  });
});

describe('warnings', () => {
  it('inspect and eval carry a warning for NaN weights in their JSON and on stderr, and still succeed', async () => {
    const { cp, mkdtemp, readFile: read, writeFile: write, rm } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const dir = await mkdtemp(join(tmpdir(), 'lopper-nan-'));
    try {
      const model = join(dir, 'digits-cnn');
      await cp(DEMO, model, { recursive: true });
      const shard = join(model, 'group1-shard1of2.bin');
      const bytes = await read(shard);
      new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).setFloat32(0, NaN, true);
      await write(shard, bytes);
      for (const command of ['inspect', 'eval']) {
        const { code, stdout, stderr } = await run([command, model, '--json', '--backend', 'cpu', ...(command === 'eval' ? ['--samples', '4'] : [])]);
        expect(code, stderr).toBe(0);
        const printed = JSON.parse(stdout) as { warnings?: string[] };
        expect(printed.warnings).toEqual([expect.stringMatching(/^weight \S+ holds 1 NaN values/)]);
        expect(stderr).toMatch(/lopper: warning: weight \S+ holds 1 NaN values/);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('text data', () => {
  it('an empty .txt is refused as the page refuses it: too short to score, in one line', async () => {
    const { mkdtemp, writeFile: write, rm } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const dir = await mkdtemp(join(tmpdir(), 'lopper-text-'));
    try {
      const empty = join(dir, 'empty.txt');
      await write(empty, '');
      const { code, stderr } = await run(['eval', join(ROOT, 'public', 'models', 'char-lm'), '--data', empty, '--json', '--backend', 'cpu']);
      expect(code).toBe(1);
      expect(stderr.trim().split('\n')).toHaveLength(1);
      expect(stderr).toMatch(/empty\.txt: is too short to score \(expected at least 2 tokens, got 0\)/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
