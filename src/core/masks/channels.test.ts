import { describe, expect, it } from 'vitest';
import { channelMask, rowSquaredNorms } from './channels';
import { randomScores, zeros } from './testing';

describe('channelMask', () => {
  it('prunes whole rows with the lowest L2 norm', () => {
    // row norms²: 25, 2, 9, 8
    const scores = Float64Array.from([3, 4, 1, 1, 0, 3, 2, 2]);
    expect(Array.from(rowSquaredNorms(scores, 4, 2))).toEqual([25, 2, 9, 8]);
    expect(Array.from(channelMask(scores, 4, 2, 0.5))).toEqual([1, 1, 0, 0, 1, 1, 0, 0]);
    expect(Array.from(channelMask(scores, 4, 2, 0.3))).toEqual([1, 1, 0, 0, 1, 1, 1, 1]);
  });

  it('breaks ties by the lower row', () => {
    const scores = Float64Array.from([1, 0, 0, 1, 1, 0]);
    expect(Array.from(channelMask(scores, 3, 2, 0.67))).toEqual([0, 0, 0, 0, 1, 1]);
  });

  it('prunes ⌊s·rows⌋ rows', () => {
    const [rows, cols] = [21, 9];
    const scores = randomScores(rows * cols, 11);
    for (const s of [0, 0.1, 0.5, 0.95, 1]) {
      expect(zeros(channelMask(scores, rows, cols, s))).toBe(Math.floor(s * rows) * cols);
    }
  });
});
