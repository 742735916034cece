import { readFile } from 'node:fs/promises';
import { fixturePath } from '../../io/test-support';
import type { RemovalStep } from './types';

/** reference.json of e2e/fixtures/hf-removal-tiny (written by scripts/make_removal_fixture.py). Not used by the app. */
export interface RemovalReference {
  metric: 'js';
  windows: number[][];
  candidates: string[];
  steps: RemovalStep[];
  greedy: string[];
  one_shot: string[];
  block_influence: { block: string; influence: number }[];
  dense: number;
}

export const REMOVAL_FIXTURE = 'hf-removal-tiny';

export async function removalReference(): Promise<RemovalReference> {
  return JSON.parse(await readFile(fixturePath(`${REMOVAL_FIXTURE}/reference.json`), 'utf8')) as RemovalReference;
}
