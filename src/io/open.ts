import { isDatasetJson } from './dataset';
import { NoModelFoundError } from './errors';
import { sha256Hex, weightsDigest } from './hash';
import { hasExtension, readJson } from './input-file';
import { modelFormats } from './registry';
import type { InputFile, MatchContext, ModelFormat, OpenedModel, TransformerPayload } from './types';
import { expandZips } from './zip';

async function readJsonFiles(files: readonly InputFile[]): Promise<Map<string, unknown>> {
  const parsed = new Map<string, unknown>();
  for (const file of files) {
    if (hasExtension(file.path, '.json')) parsed.set(file.path, await readJson(file));
  }
  return parsed;
}

/**
 * `weightsDigest` of a transformer's parameters, each read from its file, hashed and let go before
 * the next: the entries and order hash.ts defines, with one parameter in memory at a time.
 */
export async function transformerWeightsDigest(payload: Pick<TransformerPayload, 'tensors'>): Promise<string> {
  const names = [...payload.tensors.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const entries: [string, string, number[], string][] = [];
  for (const name of names) {
    const tensor = payload.tensors.get(name);
    if (tensor === undefined) continue;
    const { values } = tensor;
    entries.push([name, 'float32', tensor.shape, await sha256Hex(new Uint8Array(values.buffer, values.byteOffset, values.byteLength))]);
  }
  return sha256Hex(new TextEncoder().encode(JSON.stringify(entries)));
}

/** Opens the model in a drop (files, folders' files, zips) with the first format that matches it, its weights digested. */
export async function openModel(files: readonly InputFile[], formats: readonly ModelFormat[] = modelFormats): Promise<OpenedModel> {
  const expanded = await expandZips(files);
  const parsed = await readJsonFiles(expanded);
  const context: MatchContext = { json: (path) => parsed.get(path) };
  const format = formats.find((candidate) => candidate.match(expanded, context));
  if (format === undefined) throw new NoModelFoundError(expanded.map((f) => f.path));
  const opened = await format.open(expanded);
  if (opened.weightsSha256 === undefined) opened.weightsSha256 = opened.transformer ? await transformerWeightsDigest(opened.transformer) : await weightsDigest(opened);
  return opened;
}

export interface SplitDrop {
  modelFiles: InputFile[];
  /** Dataset `.json` files (`inputs` + `shape`), in drop order. */
  datasetFiles: InputFile[];
}

/** Separates a drop (zips expanded) into the model's files and dataset files, so both can come at once. */
export async function splitDrop(files: readonly InputFile[]): Promise<SplitDrop> {
  const expanded = await expandZips(files);
  const parsed = await readJsonFiles(expanded);
  const split: SplitDrop = { modelFiles: [], datasetFiles: [] };
  for (const file of expanded) {
    if (isDatasetJson(parsed.get(file.path))) split.datasetFiles.push(file);
    else split.modelFiles.push(file);
  }
  return split;
}
