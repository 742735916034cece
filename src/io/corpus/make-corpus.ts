import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { REPO_ROOT } from './bytes';
import { dataEntries } from './entries-data';
import { graphEntries } from './entries-graph';
import { hfEntries } from './entries-hf';
import { layersEntries } from './entries-layers';
import { zipEntries } from './entries-zip';
import type { CorpusEntry } from './types';

export type { CorpusEntry, CorpusExpectation } from './types';
export { HOSTILE_NAME } from './entries-layers';

/** Every entry of the malformed-input corpus, each with what it must give (nothing is generated until written). */
export function corpusEntries(): CorpusEntry[] {
  const entries = [...layersEntries(), ...graphEntries(), ...hfEntries(), ...zipEntries(), ...dataEntries()];
  const names = new Set<string>();
  for (const entry of entries) {
    if (names.has(entry.name)) throw new Error(`corpus: two entries named ${entry.name}`);
    names.add(entry.name);
  }
  return entries;
}

/** Writes one entry's files into `<root>/<name>/` and returns that folder. */
export function writeEntry(root: string, entry: CorpusEntry): string {
  const folder = join(root, entry.name);
  for (const [path, bytes] of Object.entries(entry.files())) {
    mkdirSync(dirname(join(folder, path)), { recursive: true });
    writeFileSync(join(folder, path), bytes);
  }
  return folder;
}

/** Where `lopper` finds the entry's model, once written under `root`. */
export function entryModelPath(root: string, entry: CorpusEntry): string {
  if (entry.base !== undefined) return join(REPO_ROOT, entry.base);
  return entry.model === undefined ? join(root, entry.name) : join(root, entry.name, entry.model);
}

/** The command line that runs an entry (without `--backend`). */
export function entryArgs(root: string, entry: CorpusEntry): string[] {
  const args = [entry.command, entryModelPath(root, entry), '--json'];
  if (entry.data !== undefined) args.push('--data', join(root, entry.name, entry.data));
  if (entry.command === 'eval' && entry.data === undefined) args.push('--samples', '2');
  return args;
}
