import { readFile } from 'node:fs/promises';
import { openModel } from '../../io/open';
import { fixtureFiles, fixturePath } from '../../io/test-support';
import type { TransformerPayload } from '../../io/types';
import { TransformerModel } from './model';

/** Helpers shared by the transformer tests. Not used by the app. */

export interface FixtureReference {
  dtype: string;
  input_ids: number[][];
  logits: number[][][];
  bypass: { removed: string[]; input_ids: number[][]; logits: number[][][] };
  tokenizer?: { text: string; ids: number[] };
}

export const TRANSFORMER_FIXTURES = ['hf-gpt2-tiny', 'hf-llama-tiny', 'hf-qwen2-tiny'] as const;

export async function openFixture(name: string): Promise<{ payload: TransformerPayload; reference: FixtureReference }> {
  const opened = await openModel(await fixtureFiles(name));
  if (opened.transformer === undefined) throw new Error(`${name} did not open as a transformer`);
  const reference = JSON.parse(await readFile(fixturePath(`${name}/reference.json`), 'utf8')) as FixtureReference;
  return { payload: opened.transformer, reference };
}

export async function fixtureModel(name: string): Promise<{ model: TransformerModel; reference: FixtureReference; payload: TransformerPayload }> {
  const { payload, reference } = await openFixture(name);
  return { model: new TransformerModel(payload.config, payload.tensors), reference, payload };
}

/** max|a − b| / max|b| over nested arrays of equal shape. */
export function relativeError(actual: ArrayLike<number>, expected: readonly number[]): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    diff = Math.max(diff, Math.abs(actual[i] - expected[i]));
    scale = Math.max(scale, Math.abs(expected[i]));
  }
  return diff / scale;
}

/** Seeded values in [−1, 1). */
export function seededValues(count: number, seed: number): Float32Array {
  let state = seed >>> 0;
  return Float32Array.from({ length: count }, () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 31 - 1;
  });
}
