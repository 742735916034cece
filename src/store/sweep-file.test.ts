import { describe, expect, it } from 'vitest';
import { parseSweepFile, SweepFileError } from './sweep-file';

const UNITS = ['conv1', 'conv2', 'dense1'];
const sweep = (patch: Record<string, unknown> = {}) =>
  JSON.stringify({
    criterion: 'magnitude',
    granularity: 'unstructured',
    metric: 'accuracy',
    sparsities: [0, 0.5],
    layers: ['conv1', 'dense1'],
    values: [
      [0.9, 0.8],
      [0.9, null],
    ],
    dense: 0.9,
    dataHash: 'abc',
    backend: 'wasm',
    seconds: 2,
    ...patch,
  });

describe('parseSweepFile', () => {
  it('reads the CLI schema for the open model, null cells kept', () => {
    const report = parseSweepFile(sweep(), 'sweep.json', UNITS);
    expect(report).toMatchObject({ criterion: 'magnitude', granularity: 'unstructured', metric: 'accuracy', sparsities: [0, 0.5], layers: ['conv1', 'dense1'], dense: 0.9 });
    expect(report.values).toEqual([
      [0.9, 0.8],
      [0.9, null],
    ]);
    expect(report.cancelled).toBe(false);
    expect(report.skipped).toEqual([]);
  });

  it('takes a missing dense (NaN written as null) as NaN', () => {
    expect(parseSweepFile(sweep({ dense: null }), 'sweep.json', UNITS).dense).toBeNaN();
  });

  it('names the file and what is wrong', () => {
    expect(() => parseSweepFile('{', 'a.json', UNITS)).toThrow(/a\.json is not a sweep of this model: not JSON/);
    expect(() => parseSweepFile(sweep({ layers: ['conv1', 'fc9'] }), 'b.json', UNITS)).toThrow('1 of its 2 layers are not units of the open model, e.g. fc9');
    expect(() => parseSweepFile(sweep({ values: [[0.9, 0.8]] }), 'c.json', UNITS)).toThrow('"values" must hold 2 rows');
    expect(() => parseSweepFile(sweep({ values: [[0.9], [0.9, 0.1]] }), 'd.json', UNITS)).toThrow('row 0 (conv1) must hold 2 values');
    expect(() => parseSweepFile(sweep({ metric: 'top5' }), 'e.json', UNITS)).toThrow('"metric" must be one of accuracy, loss, kl, js; got "top5"');
    expect(() => parseSweepFile(sweep({ sparsities: [0, 1.5] }), 'f.json', UNITS)).toThrow(SweepFileError);
  });
});
