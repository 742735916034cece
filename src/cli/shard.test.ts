import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runMain as run } from './testing';

const ROOT = join(import.meta.dirname, '..', '..');
const DEMO = join(ROOT, 'public', 'models', 'digits-cnn');
const GPT2 = join(ROOT, 'e2e', 'fixtures', 'hf-gpt2-tiny');

let dir = '';
let data = '';

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lopper-shard-'));
  data = join(dir, 'digits.json');
  const full = JSON.parse(await readFile(join(DEMO, 'eval.json'), 'utf8')) as { inputs: number[]; labels: number[] };
  await writeFile(data, JSON.stringify({ inputs: full.inputs.slice(0, 48 * 784), shape: [48, 28, 28, 1], labels: full.labels.slice(0, 48) }));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function ok(args: string[]): Promise<void> {
  const result = await run([...args, '--backend', 'cpu']);
  expect(result.code, result.stderr).toBe(0);
}

const read = async (path: string): Promise<Record<string, unknown> & { values: (number | null)[][] }> => JSON.parse(await readFile(path, 'utf8'));
const withoutTimes = ({ seconds: _seconds, ...rest }: Record<string, unknown>) => rest;

describe('lopper sweep --shard i/n and lopper merge', () => {
  it('three shards of a LayersModel sweep merge into the unsharded sweep, cell for cell', async () => {
    const grid = ['--sparsities', '0,0.3,0.6', '--criterion', 'wanda'];
    await ok(['sweep', DEMO, '--data', data, ...grid, '--out', join(dir, 'full.json')]);
    for (const i of [0, 1, 2]) await ok(['sweep', DEMO, '--data', data, ...grid, '--shard', `${i}/3`, '--out', join(dir, `part${i}.json`)]);
    const part1 = await read(join(dir, 'part1.json'));
    expect(part1.shard).toEqual({ i: 1, n: 3 });
    const columns = 3;
    part1.values.forEach((row, r) => row.forEach((v, c) => expect(v === null, `cell ${r},${c}`).toBe((r * columns + c) % 3 !== 1)));
    await ok(['merge', join(dir, 'part0.json'), join(dir, 'part1.json'), join(dir, 'part2.json'), '--out', join(dir, 'merged.json')]);
    expect(withoutTimes(await read(join(dir, 'merged.json')))).toEqual(withoutTimes(await read(join(dir, 'full.json'))));
  }, 120_000);

  it('a transformer sweep sharded in two merges into the unsharded one', async () => {
    await ok(['sweep', GPT2, '--sparsities', '0,0.5', '--samples', '2', '--out', join(dir, 'lm-full.json')]);
    for (const i of [0, 1]) await ok(['sweep', GPT2, '--sparsities', '0,0.5', '--samples', '2', '--shard', `${i}/2`, '--out', join(dir, `lm${i}.json`)]);
    await ok(['merge', join(dir, 'lm0.json'), join(dir, 'lm1.json'), '--out', join(dir, 'lm-merged.json')]);
    expect(withoutTimes(await read(join(dir, 'lm-merged.json')))).toEqual(withoutTimes(await read(join(dir, 'lm-full.json'))));
  }, 120_000);

  it('merge refuses a missing shard, a shard given twice and shards of different sweeps, in one line', async () => {
    const cases: [string[], RegExp][] = [
      [[join(dir, 'part0.json'), join(dir, 'part1.json')], /shards 2\/3 are missing/],
      [[join(dir, 'part0.json'), join(dir, 'part0.json'), join(dir, 'part2.json')], /are both shard 0\/3/],
      [[join(dir, 'part0.json'), join(dir, 'lm1.json')], /are shards of different sweeps/],
      [[join(dir, 'full.json')], /is not a shard of a sweep: it has no "shard"/],
    ];
    for (const [files, message] of cases) {
      const result = await run(['merge', ...files, '--out', join(dir, 'x.json')]);
      expect(result.code).toBe(2);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(result.stderr).toMatch(message);
    }
  });

  it('refuses a shard outside 0 ≤ i < n', async () => {
    const result = await run(['sweep', DEMO, '--shard', '3/3', '--out', join(dir, 'bad.json')]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/--shard expects i\/n with 0 ≤ i < n/);
  });
});
