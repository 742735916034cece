import { describe, expect, it } from 'vitest';
import { openModel } from './open';
import { denseModelJson, float32Bytes, memoryFiles } from './test-support';
import { nonFiniteInputWarnings, nonFiniteWeightWarnings } from './warnings';

describe('non-finite warnings', () => {
  it('name each LayersModel weight holding NaN or Infinity, and none for finite weights', async () => {
    const finite = await openModel(memoryFiles({ 'm/model.json': denseModelJson(), 'm/group1-shard1of1.bin': float32Bytes([0.5, -1, 0.25]) }));
    expect(nonFiniteWeightWarnings(finite)).toEqual([]);
    const opened = await openModel(memoryFiles({ 'm/model.json': denseModelJson(), 'm/group1-shard1of1.bin': float32Bytes([NaN, -1, Infinity]) }));
    const warnings = nonFiniteWeightWarnings(opened);
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toMatch(/^weight \S+ holds 1 NaN values/);
    expect(warnings[1]).toMatch(/^weight \S+ holds 1 ±Infinity values/);
  });

  it('name transformer parameters and count dataset inputs', () => {
    const values = Float32Array.from([1, NaN, -Infinity]);
    const opened = { transformer: { tensors: new Map([['model.norm.weight', { shape: [3], values }]]) } } as unknown as Parameters<typeof nonFiniteWeightWarnings>[0];
    expect(nonFiniteWeightWarnings(opened)).toEqual([
      'weight model.norm.weight holds 1 NaN and 1 ±Infinity values: evaluations of this model are not meaningful until they are fixed',
    ]);
    expect(nonFiniteInputWarnings('d.json', values)).toEqual(['d.json: 2 inputs are NaN or ±Infinity: the metrics on this data are not meaningful']);
  });
});
