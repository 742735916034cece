import { describe, expect, it } from 'vitest';
import { kthSmallest, kthSmallestFloat32, pruneCount, pruneLowest } from './select';
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

/** Float32 scores with NaN, ±0, ±Infinity, subnormals, negatives and runs of ties. */
function awkwardFloat32(length: number, seed: number): Float32Array {
  const random = randomScores(length * 2, seed);
  const special = [NaN, 0, -0, Infinity, -Infinity, 1e-45, -1e-45, 0.25, -0.25];
  return Float32Array.from({ length }, (_, i) => {
    const roll = random[2 * i];
    if (roll < 0.1) return special[Math.floor(random[2 * i + 1] * special.length)];
    if (roll < 0.4) return Math.round(random[2 * i + 1] * 16) / 16;
    return (random[2 * i + 1] - 0.3) * 10;
  });
}

describe('kthSmallestFloat32', () => {
  it('finds the k-th of the sorted ranks (NaN as −Infinity) without reordering the values', () => {
    for (const values of [awkwardFloat32(20000, 3), Float32Array.from(awkwardFloat32(20000, 4)).sort(), new Float32Array(17000).fill(-0)]) {
      const copy = values.slice();
      const ranks = Float64Array.from(values, (v) => (v === v ? v : -Infinity)).sort();
      for (const k of [0, 1, 999, values.length >> 1, values.length - 2, values.length - 1]) {
        const found = kthSmallestFloat32(values, k);
        expect(found === ranks[k] || (Number.isNaN(found) && Number.isNaN(ranks[k]))).toBe(true);
      }
      expect(values).toEqual(copy);
    }
  });
});

describe('pruneLowest', () => {
  it('matches a full stable sort on long float32 segments (the histogram path)', () => {
    const scores = awkwardFloat32(40000, 5);
    const rankOf = (v: number): number => (v === v ? v : -Infinity);
    const order = Array.from(scores.keys()).sort((a, b) => rankOf(scores[a]) - rankOf(scores[b]) || a - b);
    for (const [start, length] of [
      [0, 40000],
      [1234, 20000],
    ]) {
      const segment = order.filter((i) => i >= start && i < start + length);
      for (const count of [1, 4321, length >> 1, length - 1]) {
        const mask = new Uint8Array(scores.length).fill(1);
        pruneLowest(scores, start, length, count, mask);
        const expected = new Uint8Array(scores.length).fill(1);
        for (const i of segment.slice(0, count)) expected[i] = 0;
        expect(Buffer.compare(Buffer.from(mask), Buffer.from(expected))).toBe(0);
      }
    }
  });

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
