import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runMain } from '../../cli/testing';
import { corpusEntries, entryArgs, HOSTILE_NAME, writeEntry, type CorpusEntry } from './make-corpus';

const ROOT = mkdtempSync(join(tmpdir(), 'lopper-corpus-'));
beforeAll(() => tf.setBackend('cpu'));
afterAll(() => rmSync(ROOT, { recursive: true, force: true }));

/** An entry must be answered within this; a hang fails its test instead of stalling the run. */
const DEADLINE_MS = 15_000;
/** Peak resident memory of the test process: far below what a Dense of 10⁶ units (3.2 GB) or an inflated bomb (2.25 GiB) would take. */
const PEAK_RSS_BYTES = 1.5 * 1024 ** 3;

function withDeadline<T>(work: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${DEADLINE_MS / 1000} s`)), DEADLINE_MS);
  });
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}

function lopperOutput(stdout: string): { warnings?: string[]; layers?: { name: string }[] } {
  return JSON.parse(stdout) as { warnings?: string[]; layers?: { name: string }[] };
}

async function runEntry(entry: CorpusEntry): Promise<{ code: number; stdout: string; stderr: string }> {
  writeEntry(ROOT, entry);
  try {
    return await withDeadline(runMain([...entryArgs(ROOT, entry), '--backend', 'cpu']), `lopper ${entry.command} on ${entry.name}`);
  } finally {
    rmSync(join(ROOT, entry.name), { recursive: true, force: true });
  }
}

const entries = corpusEntries();

describe('the malformed-input corpus through the command line', () => {
  it.each(entries.map((entry) => [entry.name, entry] as const))(
    '%s',
    async (_name, entry) => {
      const tensors = tf.memory().numTensors;
      const { code, stdout, stderr } = await runEntry(entry);
      const expectation = entry.expect;
      if (expectation.kind === 'error') {
        expect(code, stderr).not.toBe(0);
        expect(stdout).toBe('');
        const lines = stderr.trim().split('\n');
        expect(lines).toHaveLength(1);
        const prefix = `lopper: ${expectation.file}: `;
        expect(lines[0].startsWith(prefix), `${lines[0]} should start with ${prefix}`).toBe(true);
        expect(lines[0].slice(prefix.length)).toMatch(expectation.message);
      } else {
        expect(code, stderr).toBe(0);
        const output = lopperOutput(stdout);
        if (expectation.kind === 'warning') {
          expect(output.warnings ?? []).toEqual(expect.arrayContaining([expect.stringMatching(expectation.warning)]));
          expect(stderr).toMatch(expectation.warning);
        } else {
          expect(output.warnings).toBeUndefined();
        }
      }
      expect(({} as Record<string, unknown>)['lopperPolluted']).toBeUndefined();
      expect(tf.memory().numTensors).toBe(tensors);
      expect(process.resourceUsage().maxRSS * 1024).toBeLessThan(PEAK_RSS_BYTES);
    },
    DEADLINE_MS + 5_000,
  );

  it('shows names with markup as the text they are', async () => {
    const [entry] = entries.filter((e) => e.name === 'graph-html-names');
    const { code, stdout } = await runEntry(entry);
    expect(code).toBe(0);
    expect(lopperOutput(stdout).layers?.map((l) => l.name)).toContain(HOSTILE_NAME);
  });
});

describe('the corpus', () => {
  const classes = new Set(entries.map((e) => e.class));

  it.each([
    'functional topology with a cycle',
    'dangling inbound node',
    'Dense layer claiming 10⁶ units',
    'zip bomb (inflates past the cap)',
    'max_position_embeddings 10⁹',
    'NaN/Inf weights',
    'overlapping safetensors ranges',
    'config with fewer layers than the weights',
    'tokenizer ids beyond the embedding rows',
    '±Infinity dataset inputs',
    'kernel stored transposed',
    'zero layers',
    'layer names tfjs rejects',
    'empty .txt',
    'one-character text',
    'nested zips (three levels)',
    'truncated shard',
    'missing shard',
    'extra shard',
    'misnamed shard',
    'byte counts that do not add up',
    'negative shape',
    'non-integer shape',
    'huge shape',
    'unknown dtype',
    'unknown quantization',
    'unknown layer class',
    'invalid JSON',
    'non-UTF-8 JSON',
    'empty JSON',
    '__proto__/constructor keys',
    'HTML/script in names',
    'zip path traversal',
    'safetensors header past EOF',
    'safetensors header not JSON',
    'safetensors unknown dtype',
    'safetensors out-of-range offsets',
    'dataset with the wrong shape',
    'labels out of range',
    'dataset of the wrong length',
    'GraphModel: unknown op',
    'GraphModel: missing weights for a node',
    'GraphModel: bad dtype',
  ])('has an entry for %s', (cls) => {
    expect(classes).toContain(cls);
  });

  it('covers every kind of input with an error entry', () => {
    for (const kind of ['layers-model', 'graph-model', 'hf-transformer', 'zip', 'dataset', 'text'] as const) {
      expect(entries.some((e) => e.kind === kind && e.expect.kind === 'error')).toBe(true);
    }
  });

  it('gives data only to the models the page tests them on (e2e/corpus.spec.ts opens each)', () => {
    const hosts = new Set(entries.flatMap((e) => (e.base === undefined ? [] : [e.base])));
    expect([...hosts].sort()).toEqual(['e2e/fixtures/graph-model', 'e2e/fixtures/hf-gpt2-tiny', 'public/models/digits-cnn']);
  });
});
