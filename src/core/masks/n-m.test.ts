import { describe, expect, it } from 'vitest';
import { nmMask, parseNMPattern } from './n-m';
import { randomScores, zeros } from './testing';

describe('parseNMPattern', () => {
  it('reads N:M granularities', () => {
    expect(parseNMPattern('2:4')).toEqual({ n: 2, m: 4 });
    expect(parseNMPattern('4:8')).toEqual({ n: 4, m: 8 });
    expect(parseNMPattern('channels')).toBeNull();
    expect(parseNMPattern('5:4')).toBeNull();
  });
});

describe('nmMask', () => {
  it('zeros the N lowest of every M consecutive inputs of a row', () => {
    const scores = Float64Array.from([4, 1, 3, 2, 0.5, 6, 5, 7]);
    expect(Array.from(nmMask(scores, 1, 8, { n: 2, m: 4 }))).toEqual([1, 0, 1, 0, 0, 1, 0, 1]);
    expect(Array.from(nmMask(scores, 2, 4, { n: 2, m: 4 }))).toEqual([1, 0, 1, 0, 0, 1, 0, 1]);
  });

  it('breaks ties by the lower column', () => {
    expect(Array.from(nmMask(new Float64Array(8).fill(2), 1, 8, { n: 2, m: 4 }))).toEqual([0, 0, 1, 1, 0, 0, 1, 1]);
  });

  it('has exactly N zeros in every full group and ⌊N·len/M⌋ in a tail group', () => {
    const [rows, cols] = [5, 30];
    for (const pattern of [
      { n: 2, m: 4 },
      { n: 4, m: 8 },
    ]) {
      const mask = nmMask(randomScores(rows * cols, 3), rows, cols, pattern);
      for (let r = 0; r < rows; r++) {
        for (let c = 0; c < cols; c += pattern.m) {
          const length = Math.min(pattern.m, cols - c);
          const expected = length === pattern.m ? pattern.n : Math.floor((pattern.n * length) / pattern.m);
          expect(zeros(mask, r * cols + c, r * cols + c + length)).toBe(expected);
        }
      }
    }
  });
});
