import { describe, expect, it } from 'vitest';
import { weightStats } from './stats';

describe('weightStats', () => {
  it('computes moments, zeros and a histogram by hand', () => {
    const stats = weightStats(new Float32Array([-1, 0, 0, 1, 2, 4]), 5);
    expect(stats.count).toBe(6);
    expect(stats.min).toBe(-1);
    expect(stats.max).toBe(4);
    expect(stats.mean).toBe(1);
    // deviations 4, 1, 1, 0, 1, 9 → variance 16/6
    expect(stats.std).toBeCloseTo(Math.sqrt(16 / 6), 12);
    expect(stats.zeros).toBeCloseTo(2 / 6, 12);
    expect(stats.nan).toBe(0);
    expect(stats.inf).toBe(0);
    expect(stats.histogram.edges).toEqual([-1, 0, 1, 2, 3, 4]);
    // [-1,0) ∋ -1; [0,1) ∋ 0, 0; [1,2) ∋ 1; [2,3) ∋ 2; [3,4] ∋ 4
    expect(stats.histogram.counts).toEqual([1, 2, 1, 1, 1]);
  });

  it('leaves NaN and ±Inf out of the moments and the histogram but counts them', () => {
    const stats = weightStats(new Float32Array([NaN, 2, Infinity, 4, -Infinity, 0]), 2);
    expect(stats.count).toBe(6);
    expect(stats.nan).toBe(1);
    expect(stats.inf).toBe(2);
    expect([stats.min, stats.max, stats.mean]).toEqual([0, 4, 2]);
    expect(stats.std).toBeCloseTo(Math.sqrt(8 / 3), 12);
    expect(stats.zeros).toBeCloseTo(1 / 6, 12);
    expect(stats.histogram).toEqual({ edges: [0, 2, 4], counts: [1, 2] });
  });

  it('handles a single repeated value and the default 40 bins', () => {
    const stats = weightStats(new Float32Array([0.25, 0.25, 0.25]));
    expect(stats.std).toBe(0);
    expect(stats.histogram).toEqual({ edges: [-0.25, 0.75], counts: [3] });
    const spread = weightStats(Float32Array.from({ length: 400 }, (_, i) => i));
    expect(spread.histogram.counts).toHaveLength(40);
    expect(spread.histogram.edges).toHaveLength(41);
    expect(spread.histogram.counts.every((c) => c === 10)).toBe(true);
  });

  it('handles no finite values', () => {
    const stats = weightStats(new Float32Array([NaN, Infinity]));
    expect(stats.count).toBe(2);
    expect(Number.isNaN(stats.mean)).toBe(true);
    expect(stats.histogram).toEqual({ edges: [], counts: [] });
    expect(weightStats(new Float32Array(0)).zeros).toBe(0);
  });
});
