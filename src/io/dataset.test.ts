import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { checkDatasetFitsModel, isDatasetJson, parseDataset } from './dataset';
import { DatasetError } from './errors';
import { sha256Hex } from './hash';
import { fixtureFiles, memoryFiles } from './test-support';
import type { InputFile } from './types';

function file(content: unknown, path = 'eval.json'): InputFile {
  const [only] = memoryFiles({ [path]: typeof content === 'string' ? content : JSON.stringify(content) });
  if (only === undefined) throw new Error('no file');
  return only;
}

describe('sha256Hex', () => {
  it('matches node:crypto', async () => {
    const bytes = new TextEncoder().encode('lopper');
    expect(await sha256Hex(bytes)).toBe(createHash('sha256').update(bytes).digest('hex'));
    expect(await sha256Hex(new Uint8Array(0))).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });

  it('hashes only the viewed bytes of a subarray', async () => {
    const whole = new TextEncoder().encode('xxlopperxx');
    expect(await sha256Hex(whole.subarray(2, 8))).toBe(await sha256Hex(new TextEncoder().encode('lopper')));
  });
});

describe('parseDataset', () => {
  it('decodes inputs, shape and labels and hashes the bytes', async () => {
    const text = JSON.stringify({ inputs: [0, 0.5, 1, 2, 3, 4], shape: [3, 2], labels: [0, 2, 1] });
    const dataset = await parseDataset(file(text, 'data/eval.json'));
    expect(dataset.source).toBe('data/eval.json');
    expect(dataset.shape).toEqual([3, 2]);
    expect(Array.from(dataset.inputs)).toEqual([0, 0.5, 1, 2, 3, 4]);
    expect(dataset.inputs).toBeInstanceOf(Float32Array);
    expect(Array.from(dataset.labels ?? [])).toEqual([0, 2, 1]);
    expect(dataset.hash).toBe(createHash('sha256').update(text).digest('hex'));
  });

  it('allows a dataset without labels', async () => {
    expect((await parseDataset(file({ inputs: [1, 2], shape: [1, 2] }))).labels).toBeUndefined();
  });

  it('reads the functional fixture eval set', async () => {
    const [evalFile] = (await fixtureFiles('functional')).filter((f) => f.path.endsWith('eval.json'));
    const dataset = await parseDataset(evalFile as InputFile);
    expect(dataset.shape).toEqual([64, 16, 16, 3]);
    expect(dataset.labels).toHaveLength(64);
    checkDatasetFitsModel(dataset, [null, 16, 16, 3], 10);
  });

  it.each([
    ['not json', '{"inputs": [1,', 'eval.json: is not valid JSON (expected {inputs, shape, labels?})'],
    ['not an object', [1, 2], 'eval.json: is not a dataset object (expected {inputs, shape, labels?}, got a list)'],
    ['no shape', { inputs: [1] }, 'eval.json: is not a dataset (expected keys inputs, shape (and labels), got keys inputs)'],
    ['bad shape', { inputs: [1], shape: [0, 1] }, 'eval.json: "shape" must be [N, ...] with positive integers (expected [N, ...inputShape], got [0,1])'],
    ['count', { inputs: [1, 2, 3], shape: [2, 2] }, 'eval.json: "inputs" has 3 numbers but "shape" [2,2] needs 4 (expected 4, got 3)'],
    ['non-number', { inputs: [1, '2'], shape: [1, 2] }, 'eval.json: inputs[1] is not a number (expected a number, got "2")'],
    ['nested inputs', { inputs: [[1, 2]], shape: [1, 2] }, 'eval.json: "inputs" has 1 numbers but "shape" [1,2] needs 2 (expected 2, got 1)'],
    ['label count', { inputs: [1, 2], shape: [2, 1], labels: [0] }, 'eval.json: "labels" has 1 entries but there are 2 samples (expected 2, got 1)'],
    ['label value', { inputs: [1, 2], shape: [2, 1], labels: [0, 1.5] }, 'eval.json: labels[1] is not a class index (expected an integer ≥ 0, got 1.5)'],
  ])('%s', async (_, content, message) => {
    const parsed = parseDataset(file(content));
    await expect(parsed).rejects.toBeInstanceOf(DatasetError);
    await expect(parsed).rejects.toThrow(message);
  });
});

describe('isDatasetJson', () => {
  it('needs inputs and shape', () => {
    expect(isDatasetJson({ inputs: [], shape: [0] })).toBe(true);
    expect(isDatasetJson({ inputs: [] })).toBe(false);
    expect(isDatasetJson({ modelTopology: {} })).toBe(false);
    expect(isDatasetJson(undefined)).toBe(false);
  });
});

describe('checkDatasetFitsModel', () => {
  const dataset = { source: 'digits.json', inputs: new Float32Array(2 * 28 * 28), shape: [2, 28, 28, 1], labels: Int32Array.from([3, 12]), hash: 'h' };

  it('accepts matching shapes and unknown dimensions', () => {
    expect(() => checkDatasetFitsModel(dataset, [null, 28, 28, 1])).not.toThrow();
    expect(() => checkDatasetFitsModel(dataset, [null, null, null, 1])).not.toThrow();
  });

  it('says which shapes disagree', () => {
    expect(() => checkDatasetFitsModel(dataset, [null, 16, 16, 3])).toThrow(
      'digits.json: samples of shape [28,28,1] do not fit the model input [16,16,3] (expected [N,16,16,3], got [2,28,28,1])',
    );
    expect(() => checkDatasetFitsModel(dataset, [null, 784])).toThrow(DatasetError);
  });

  it('checks labels against the number of classes', () => {
    expect(() => checkDatasetFitsModel(dataset, [null, 28, 28, 1], 10)).toThrow('digits.json: labels[1] is 12 but the model has 10 classes (expected 0…9, got 12)');
    expect(() => checkDatasetFitsModel(dataset, [null, 28, 28, 1], 13)).not.toThrow();
  });
});
