import { describe, expect, it } from 'vitest';
import { magnitude } from './magnitude';
import { normalMatrix, weightMatrix, zeroCount } from './testing';
import { UnsupportedPruningError, type CalibrationStats, type PruneRequest } from './types';
import { wanda, wandaScores } from './wanda';

describe('wanda', () => {
  // ‖X_:,j‖ = [4, 2, 1, 0.5]
  const stats: CalibrationStats = { samples: 10, inputNormsSq: Float64Array.from([16, 4, 1, 0.25]) };
  const w = weightMatrix(2, 4, [1, 2, 3, 4, 4, 3, -2, 1]);
  const request = (sparsity: number, granularity: PruneRequest['granularity'] = 'unstructured'): PruneRequest => ({
    kind: 'dense',
    matrix: w,
    sparsity,
    granularity,
    stats,
    seed: 0,
  });

  it('scores |W|·‖X_:,j‖ and prunes per row', () => {
    expect(Array.from(wandaScores('dense', w, stats))).toEqual([4, 4, 3, 2, 16, 6, 2, 0.5]);
    const result = wanda.prune(request(0.5));
    expect(Array.from(result.mask)).toEqual([1, 1, 0, 0, 1, 1, 0, 0]);
    expect(Array.from(result.values)).toEqual([1, 2, 0, 0, 4, 3, 0, 0]);
  });

  it('picks other weights than magnitude when input norms differ', () => {
    const byMagnitude = magnitude.prune({ ...request(0.5), stats: undefined });
    expect(Array.from(byMagnitude.mask)).toEqual([0, 0, 1, 1, 1, 1, 0, 0]);
    expect(Array.from(wanda.prune(request(0.5)).mask)).not.toEqual(Array.from(byMagnitude.mask));
  });

  it('prunes equal scores lowest column first', () => {
    expect(Array.from(wanda.prune(request(0.75)).mask)).toEqual([0, 1, 0, 0, 1, 0, 0, 0]);
  });

  it('prunes N:M within rows and channels by the L2 norm of rows of S', () => {
    expect(Array.from(wanda.prune(request(0, '2:4')).mask)).toEqual([1, 1, 0, 0, 1, 1, 0, 0]);
    // ‖S_0‖² = 45, ‖S_1‖² = 296.25
    expect(Array.from(wanda.prune(request(0.5, 'channels')).mask)).toEqual([0, 0, 0, 0, 1, 1, 1, 1]);
  });

  it('uses the norms of its own channel for each depthwise row', () => {
    // 2 channels × multiplier 2, 2 taps; channel 0 sees [1, 10], channel 1 sees [10, 1]
    const depthwise: PruneRequest = {
      kind: 'depthwise',
      matrix: weightMatrix(4, 2, [1, 1, 1, 1, 1, 1, 1, 1]),
      sparsity: 0.5,
      granularity: 'unstructured',
      stats: { samples: 4, inputNormsSq: Float64Array.from([1, 100, 100, 1]), groups: 2 },
      seed: 0,
    };
    expect(Array.from(wanda.prune(depthwise).mask)).toEqual([0, 1, 0, 1, 1, 0, 1, 0]);
    expect(() => wanda.prune({ ...depthwise, stats: { ...depthwise.stats!, groups: undefined } })).toThrow(/groups/);
  });

  it('says what is missing', () => {
    expect(() => wanda.prune({ ...request(0.5), stats: undefined })).toThrow(UnsupportedPruningError);
    expect(() => wanda.prune({ ...request(0.5), stats: undefined })).toThrow(/inputNormsSq/);
    expect(() => wanda.prune({ ...request(0.5), stats: { samples: 1, inputNormsSq: new Float64Array(3) } })).toThrow(/expected one per input column \(4\)/);
    expect(wanda.needs).toBe('norms');
  });

  it('hits the target within one weight per row on random matrices', () => {
    const [rows, cols] = [11, 23];
    const matrix = normalMatrix(rows, cols, 8);
    const norms: CalibrationStats = { samples: 1, inputNormsSq: Float64Array.from(normalMatrix(1, cols, 9).values, (v) => v * v) };
    for (const s of [0, 0.1, 0.5, 0.95, 1]) {
      const { mask } = wanda.prune({ kind: 'conv', matrix, sparsity: s, granularity: 'unstructured', stats: norms, seed: 0 });
      for (let r = 0; r < rows; r++) expect(Math.abs(zeroCount(mask, r * cols, (r + 1) * cols) - s * cols)).toBeLessThan(1);
    }
  });
});
