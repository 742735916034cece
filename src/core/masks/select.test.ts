import { describe, expect, it } from 'vitest';
import { kthSmallest, pruneCount, pruneLowest } from './select';
import { randomScores } from './testing';

function pruned(scores: number[], count: number, type: 'f32' | 'f64' = 'f64'): number[] {
  const values = type === 'f32' ? Float32Array.from(scores) : Float64Array.from(scores);
  const mask = new Uint8Array(values.length).fill(1);
  pruneLowest(values, 0, values.length, count, mask);
  return Array.from(mask);
}

describe('pruneCount', () => {
  it('floors s·n (Distiller) and lands decimal shares on the integer they name', () => {
    expect(pruneCount(0, 10)).toBe(0);
    expect(pruneCount(1, 10)).toBe(10);
    expect(pruneCount(0.3, 10)).toBe(3);
    expect(pruneCount(0.5, 7)).toBe(3);
    expect(pruneCount(0.95, 20)).toBe(19);
    expect(pruneCount(0.7 - 0.4, 10)).toBe(3); // s·n = 2.999999999999999
    expect(pruneCount(0.29, 100)).toBe(29); // s·n = 28.999999999999996
    expect(pruneCount(0.57, 100)).toBe(57);
    expect(pruneCount(0.1, 3)).toBe(0);
    expect(pruneCount(0.5, 2 ** 24 + 1)).toBe(2 ** 23);
    expect(pruneCount(0, 5)).toBe(0);
  });
});

describe('kthSmallest', () => {
  it('finds the k-th of a sorted copy on random, sorted, reversed and repetitive input', () => {
    const random = randomScores(5000, 9);
    const inputs = [
      random,
      Float64Array.from(random).sort(),
      Float64Array.from(random).sort().reverse(),
      Float64Array.from(random, (v) => Math.floor(v * 3)),
      new Float64Array(1000).fill(2),
      Float32Array.from(random, (v, i) => (i % 2 ? 0 : v)),
    ];
    for (const values of inputs) {
      const sorted = Float64Array.from(values).sort();
      for (const k of [0, 1, 17, values.length >> 1, values.length - 2, values.length - 1]) {
        expect(kthSmallest(values.slice(), k)).toBe(sorted[k]);
      }
    }
  });
});

describe('pruneLowest', () => {
  it('prunes the lowest scores, ties lowest index first, in both the small and the sorting path', () => {
    expect(pruned([3, 1, 2, 1], 1)).toEqual([1, 0, 1, 1]);
    expect(pruned([3, 1, 2, 1], 2)).toEqual([1, 0, 1, 0]);
    const big = Array.from({ length: 40 }, (_, i) => (i % 4 === 0 ? 1 : 2));
    const expected = big.map((_, i) => (i % 4 === 0 && i < 24 ? 0 : 1));
    expect(pruned(big, 6)).toEqual(expected);
    expect(pruned(big, 6, 'f32')).toEqual(expected);
  });

  it('prunes NaN scores first and treats -0 and 0 as equal', () => {
    expect(pruned([1, NaN, 0.5, NaN], 3)).toEqual([1, 0, 0, 0]);
    const big = [...Array<number>(40).fill(5), NaN, -0, 0, -0];
    const mask = pruned(big, 3);
    expect(mask.slice(40)).toEqual([0, 0, 0, 1]);
  });

  it('matches a full stable sort on random segments', () => {
    for (const length of [5, 33, 200]) {
      const scores = randomScores(length, length);
      for (let i = 0; i < length; i += 3) scores[i] = scores[0];
      for (const count of [0, 1, Math.floor(length / 2), length - 1, length]) {
        const order = Array.from(scores.keys()).sort((a, b) => scores[a] - scores[b] || a - b);
        const expected = new Array<number>(length).fill(1);
        for (const i of order.slice(0, count)) expected[i] = 0;
        expect(pruned(Array.from(scores), count)).toEqual(expected);
      }
    }
  });
});
