import { describe, expect, it } from 'vitest';
import { GRANULARITIES, type PruneRequest, type WeightMatrix } from './types';
import { magnitude } from './magnitude';
import { normalMatrix, weightMatrix, zeroCount } from './testing';

function request(matrix: WeightMatrix, sparsity: number, granularity: PruneRequest['granularity'] = 'unstructured'): PruneRequest {
  return { kind: 'dense', matrix, sparsity, granularity, seed: 0 };
}

describe('magnitude', () => {
  const w = weightMatrix(2, 4, [4, -1, 3, -2, 0.5, -6, 5, 7]);

  it('prunes the lowest |W| of the whole layer', () => {
    const result = magnitude.prune(request(w, 0.5));
    expect(Array.from(result.mask)).toEqual([1, 0, 0, 0, 0, 1, 1, 1]);
    expect(Array.from(result.values)).toEqual([4, 0, 0, 0, 0, -6, 5, 7]);
    expect(Object.is(result.values[1], 0)).toBe(true);
  });

  it('prunes equal magnitudes lowest flat index first', () => {
    const ties = weightMatrix(2, 4, [1, -1, 1, -1, 2, 2, 2, 2]);
    expect(Array.from(magnitude.prune(request(ties, 0.25)).mask)).toEqual([0, 0, 1, 1, 1, 1, 1, 1]);
    expect(Array.from(magnitude.prune(request(ties, 0.75)).mask)).toEqual([0, 0, 0, 0, 0, 0, 1, 1]);
  });

  it('prunes 2:4 within rows and channels by row norm', () => {
    expect(Array.from(magnitude.prune(request(w, 0, '2:4')).mask)).toEqual([1, 0, 1, 0, 0, 1, 0, 1]);
    expect(Array.from(magnitude.prune(request(w, 0.5, 'channels')).mask)).toEqual([0, 0, 0, 0, 1, 1, 1, 1]);
  });

  it('hits the target within one weight on random matrices', () => {
    const matrix = normalMatrix(17, 29, 5);
    for (const s of [0, 0.1, 0.5, 0.95, 1]) {
      const { values, mask } = magnitude.prune(request(matrix, s));
      expect(Math.abs(zeroCount(mask) - s * 17 * 29)).toBeLessThan(1);
      expect(zeroCount(values)).toBe(zeroCount(mask));
    }
  });

  it('supports every kind and granularity and is deterministic', () => {
    for (const granularity of GRANULARITIES) {
      expect(magnitude.supports('depthwise', granularity)).toBe(true);
      const depthwise: PruneRequest = { ...request(normalMatrix(6, 9, 1), 0.5, granularity), kind: 'depthwise' };
      expect(magnitude.prune(depthwise)).toEqual(magnitude.prune(depthwise));
    }
  });

  it('rejects a sparsity outside [0, 1] and a matrix of the wrong size', () => {
    expect(() => magnitude.prune(request(w, -0.1))).toThrow(RangeError);
    expect(() => magnitude.prune(request({ rows: 3, cols: 4, values: w.values }, 0.5))).toThrow(/expected 3×4/);
  });
});
