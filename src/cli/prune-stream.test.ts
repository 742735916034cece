import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gpt2Config, writeBenchTransformer } from '../../scripts/make-bench-transformer';
import { runMain as run } from './testing';

const ROOT = join(import.meta.dirname, '..', '..');
const FIXTURES = join(ROOT, 'e2e', 'fixtures');
const CHAR_LM = join(ROOT, 'public', 'models', 'char-lm');

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lopper-stream-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function ok(argv: string[]): Promise<Record<string, unknown>> {
  const result = await run(argv);
  if (result.code !== 0) throw new Error(`lopper ${argv.join(' ')} exited ${result.code}: ${result.stderr}`);
  return JSON.parse(result.stdout) as Record<string, unknown>;
}

/** Prunes in memory and streamed with the same arguments; every written file must be the same bytes. */
async function expectSameExport(model: string, tag: string, args: string[]): Promise<{ memory: Record<string, unknown>; streamed: Record<string, unknown> }> {
  const [inMemory, streamedDir] = [join(dir, `${tag}-memory`), join(dir, `${tag}-stream`)];
  const memory = await ok(['prune', model, ...args, '--out', inMemory, '--json']);
  const streamed = await ok(['prune', model, ...args, '--stream', '--out', streamedDir, '--json']);
  const files = (await readdir(inMemory)).sort();
  expect((await readdir(streamedDir)).sort()).toEqual(files);
  expect(files).toEqual(expect.arrayContaining(['config.json', 'model.safetensors', 'recipe.json']));
  for (const file of files) {
    const [a, b] = [await readFile(join(inMemory, file)), await readFile(join(streamedDir, file))];
    expect(Buffer.compare(a, b), `${tag}: ${file} differs`).toBe(0);
  }
  expect(streamed['metrics']).toEqual(memory['metrics']);
  expect(streamed['sparsity']).toBe(memory['sparsity']);
  expect(streamed['params']).toBe(memory['params']);
  return { memory, streamed };
}

describe('lopper prune --stream', () => {
  it('writes the in-memory prune byte for byte: GPT-2 and LLaMA, every criterion, N:M, float16, text', async () => {
    const gpt2 = join(dir, 'gpt2');
    writeBenchTransformer(gpt2, gpt2Config(3, 64, 128, 64), 3);
    await expectSameExport(gpt2, 'gpt2-wanda', ['--sparsity', '0.5', '--criterion', 'wanda', '--samples', '3']);
    await expectSameExport(gpt2, 'gpt2-magnitude', ['--sparsity', '0.3', '--samples', '2']);
    await expectSameExport(join(FIXTURES, 'hf-llama-tiny'), 'llama-sparsegpt-f16', [
      '--sparsity',
      '0.5',
      '--criterion',
      'sparsegpt',
      '--granularity',
      '2:4',
      '--float16',
      '--samples',
      '2',
    ]);
    const text = join(CHAR_LM, 'eval.txt');
    const { streamed } = await expectSameExport(CHAR_LM, 'char-lm-text', ['--sparsity', '0.4', '--criterion', 'wanda', '--data', text]);
    expect((streamed['metrics'] as { pruned: { perplexity: number } }).pruned.perplexity).toBeGreaterThan(1);
  }, 240_000);

  it('replays a recipe with removed sublayers, a dropped block among them, as the in-memory replay does', async () => {
    const source = join(dir, 'removal-source');
    await ok(['prune', join(FIXTURES, 'hf-llama-tiny'), '--sparsity', '0.5', '--criterion', 'wanda', '--samples', '2', '--out', source, '--json']);
    const recipe = JSON.parse(await readFile(join(source, 'recipe.json'), 'utf8')) as { removed: string[] };
    recipe.removed = ['model.layers.0.self_attn', 'model.layers.0.mlp', 'model.layers.1.mlp'];
    const recipePath = join(dir, 'removal-recipe.json');
    await writeFile(recipePath, JSON.stringify(recipe));
    const { streamed } = await expectSameExport(join(FIXTURES, 'hf-llama-tiny'), 'llama-recipe', ['--recipe', recipePath]);
    expect(streamed['removed']).toEqual(recipe.removed);
    const config = JSON.parse(await readFile(join(dir, 'llama-recipe-stream', 'config.json'), 'utf8')) as { lopper: { droppedBlocks: number[] } };
    expect(config.lopper.droppedBlocks).toEqual([0]);
  }, 120_000);

  it('warns of NaN and ±Infinity weights as the in-memory prune does', async () => {
    const model = join(dir, 'gpt2-nonfinite');
    writeBenchTransformer(model, gpt2Config(2, 64, 128, 64), 5);
    const file = join(model, 'model.safetensors');
    const bytes = await readFile(file);
    const headerLength = Number(bytes.readBigUInt64LE(0));
    const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString('utf8')) as Record<string, { data_offsets: [number, number] }>;
    const at = (name: string, index: number) => 8 + headerLength + header[name].data_offsets[0] + 4 * index;
    for (const index of [0, 7, 9]) bytes.writeFloatLE(NaN, at('transformer.h.0.mlp.c_fc.weight', index));
    bytes.writeFloatLE(Infinity, at('transformer.h.1.attn.c_proj.weight', 3));
    bytes.writeFloatLE(-Infinity, at('transformer.h.1.attn.c_proj.weight', 4));
    await writeFile(file, bytes);
    const { memory, streamed } = await expectSameExport(model, 'gpt2-nonfinite', ['--sparsity', '0.5', '--samples', '2']);
    expect(memory['warnings']).toEqual([
      expect.stringMatching(/^weight transformer\.h\.0\.mlp\.c_fc\.weight holds 3 NaN values/),
      expect.stringMatching(/^weight transformer\.h\.1\.attn\.c_proj\.weight holds 2 ±Infinity values/),
    ]);
    expect(streamed['warnings']).toEqual(memory['warnings']);
  }, 120_000);

  it('refuses what it cannot stream, and a memory limit below one block, with the reason', async () => {
    const model = join(FIXTURES, 'hf-llama-tiny');
    const cases: [string[], RegExp][] = [
      [['--sparsity', '0.5', '--allocation', 'owl'], /--stream allocates uniformly: --allocation owl reads the whole model; .*--stream --recipe R/],
      [['--sparsity', '0.5', '--remove', '2'], /--stream runs no removal search/],
      [['--sparsity', '0.5', '--max-memory', '1M'], /--max-memory 1\.0 MiB is below what one block of hf-llama-tiny needs .*allow at least \d+/],
      [['--sparsity', '0.5', '--max-memory', 'lots'], /--max-memory expects bytes, e\.g\. 2000000000, 512M or 2G, got "lots"/],
    ];
    for (const [args, message] of cases) {
      const result = await run(['prune', model, ...args, '--stream', '--out', join(dir, 'refused')]);
      expect(result.code, args.join(' ')).not.toBe(0);
      expect(result.stderr).toMatch(message);
    }
    const unstreamed = await run(['prune', model, '--sparsity', '0.5', '--max-memory', '1G', '--out', join(dir, 'refused')]);
    expect(unstreamed.stderr).toMatch(/--max-memory BYTES bounds a streamed prune: add --stream/);
  });

  it('prunes a model three times the memory limit within the limit (measured in a child process)', async () => {
    const model = join(dir, 'large');
    // 60 blocks of width 384: 426 MB of float32 weights.
    writeBenchTransformer(model, gpt2Config(60, 384, 256, 64), 5);
    const size = (await stat(join(model, 'model.safetensors'))).size;
    const limit = Math.floor(size / 3);
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [
        join(ROOT, 'bin', 'lopper.js'),
        'prune',
        model,
        '--sparsity',
        '0.5',
        '--criterion',
        'wanda',
        '--samples',
        '2',
        '--stream',
        '--max-memory',
        String(limit),
        '--out',
        join(dir, 'large-out'),
        '--json',
      ],
      { maxBuffer: 1 << 20 },
    );
    const printed = JSON.parse(stdout) as { sparsity: number; stream: { estimatedBytes: number; limitBytes: number; baselineRss: number; peakRss: number } };
    expect(printed.sparsity).toBeCloseTo(0.5, 3);
    expect(printed.stream.limitBytes).toBe(limit);
    expect(printed.stream.estimatedBytes).toBeLessThanOrEqual(limit);
    expect(printed.stream.peakRss - printed.stream.baselineRss).toBeLessThanOrEqual(limit);
    expect((await stat(join(dir, 'large-out', 'model.safetensors'))).size).toBe(size);
  }, 240_000);
});
