import { DatasetError } from './errors';
import { sha256Hex } from './hash';
import { isRecord, readJson, whyNotJson } from './input-file';
import { elementCount } from './manifest';
import type { Dataset, InputFile } from './types';

/** Whether parsed JSON has the shape of a dataset file (DESIGN §6): `inputs` and `shape`. */
export function isDatasetJson(json: unknown): boolean {
  return isRecord(json) && 'inputs' in json && 'shape' in json;
}

function formatShape(shape: readonly (number | null)[]): string {
  return `[${shape.map((dim) => (dim === null ? 'N' : String(dim))).join(',')}]`;
}

function parseShape(value: unknown, source: string): number[] {
  if (!Array.isArray(value) || value.length === 0 || !value.every((d: unknown) => typeof d === 'number' && Number.isInteger(d) && d > 0)) {
    throw new DatasetError({
      file: source,
      message: '"shape" must be [N, ...] with positive integers',
      expected: '[N, ...inputShape]',
      actual: JSON.stringify(value) ?? 'nothing',
    });
  }
  return value as number[];
}

function parseInputs(value: unknown, shape: readonly number[], source: string): Float32Array {
  if (!Array.isArray(value)) {
    throw new DatasetError({
      file: source,
      message: '"inputs" must be a flat list of numbers',
      expected: 'number[]',
      actual: typeof value,
    });
  }
  const needed = elementCount(shape);
  if (value.length !== needed) {
    throw new DatasetError({
      file: source,
      message: `"inputs" has ${value.length} numbers but "shape" ${formatShape(shape)} needs ${needed}`,
      expected: String(needed),
      actual: String(value.length),
    });
  }
  const inputs = new Float32Array(value.length);
  for (let i = 0; i < value.length; i++) {
    const x: unknown = value[i];
    if (typeof x !== 'number') {
      throw new DatasetError({
        file: source,
        message: `inputs[${i}] is not a number`,
        expected: 'a number',
        actual: JSON.stringify(x) ?? 'nothing',
      });
    }
    inputs[i] = x;
  }
  return inputs;
}

function parseLabels(value: unknown, samples: number, source: string): Int32Array {
  if (!Array.isArray(value)) {
    throw new DatasetError({
      file: source,
      message: '"labels" must be a list of class indices',
      expected: 'number[]',
      actual: typeof value,
    });
  }
  if (value.length !== samples) {
    throw new DatasetError({
      file: source,
      message: `"labels" has ${value.length} entries but there are ${samples} samples`,
      expected: String(samples),
      actual: String(value.length),
    });
  }
  const labels = new Int32Array(samples);
  for (let i = 0; i < samples; i++) {
    const label: unknown = value[i];
    if (typeof label !== 'number' || !Number.isInteger(label) || label < 0) {
      throw new DatasetError({
        file: source,
        message: `labels[${i}] is not a class index`,
        expected: 'an integer ≥ 0',
        actual: JSON.stringify(label) ?? 'nothing',
      });
    }
    labels[i] = label;
  }
  return labels;
}

/** Decodes parsed dataset JSON; `source` names it in errors. */
export function datasetFromJson(json: unknown, source: string, hash: string): Dataset {
  if (!isRecord(json)) {
    throw new DatasetError({
      file: source,
      message: 'is not a dataset object',
      expected: '{inputs, shape, labels?}',
      actual: Array.isArray(json) ? 'a list' : typeof json,
    });
  }
  if (!('inputs' in json) || !('shape' in json)) {
    throw new DatasetError({
      file: source,
      message: 'is not a dataset',
      expected: 'keys inputs, shape (and labels)',
      actual: `keys ${Object.keys(json).join(', ') || 'none'}`,
    });
  }
  const shape = parseShape(json['shape'], source);
  const dataset: Dataset = { source, inputs: parseInputs(json['inputs'], shape, source), shape, hash };
  if (json['labels'] !== undefined) dataset.labels = parseLabels(json['labels'], shape[0] ?? 0, source);
  return dataset;
}

/** Reads a `.json` dataset file (DESIGN §6); `hash` is the hex SHA-256 of its bytes. */
export async function parseDataset(file: InputFile): Promise<Dataset> {
  const json = await readJson(file);
  if (json === undefined) throw new DatasetError({ file: file.path, ...whyNotJson(await file.bytes()), expected: '{inputs, shape, labels?}' });
  return datasetFromJson(json, file.path, await sha256Hex(await file.bytes()));
}

/**
 * Checks that the samples fit a model input (`[null, ...]`, batch first) and, given the number of
 * classes, that every label is one of them.
 */
export function checkDatasetFitsModel(dataset: Dataset, inputShape: readonly (number | null)[], numClasses?: number): void {
  const sample = dataset.shape.slice(1);
  const wanted = inputShape.slice(1);
  const fits = sample.length === wanted.length && wanted.every((dim, i) => dim === null || dim === sample[i]);
  if (!fits) {
    throw new DatasetError({
      file: dataset.source,
      message: `samples of shape ${formatShape(sample)} do not fit the model input ${formatShape(wanted)}`,
      expected: formatShape([null, ...wanted]),
      actual: formatShape(dataset.shape),
    });
  }
  if (numClasses === undefined || dataset.labels === undefined) return;
  const labels = dataset.labels;
  const bad = labels.findIndex((label) => label >= numClasses);
  if (bad >= 0) {
    throw new DatasetError({
      file: dataset.source,
      message: `labels[${bad}] is ${labels[bad]} but the model has ${numClasses} classes`,
      expected: `0…${numClasses - 1}`,
      actual: String(labels[bad]),
    });
  }
}
