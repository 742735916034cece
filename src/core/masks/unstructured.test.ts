import { describe, expect, it } from 'vitest';
import { randomScores, zeros } from './testing';
import { unstructuredMask } from './unstructured';

describe('unstructuredMask', () => {
  // 2×4: row 0 = [4, 1, 3, 2], row 1 = [0.5, 6, 5, 7]
  const scores = Float64Array.from([4, 1, 3, 2, 0.5, 6, 5, 7]);

  it('layer scope prunes the lowest ⌊s·size⌋ of the whole matrix', () => {
    expect(Array.from(unstructuredMask(scores, 2, 4, 0.5, 'layer'))).toEqual([1, 0, 0, 0, 0, 1, 1, 1]);
  });

  it('row scope prunes ⌊s·cols⌋ per row', () => {
    expect(Array.from(unstructuredMask(scores, 2, 4, 0.5, 'row'))).toEqual([1, 0, 1, 0, 0, 1, 0, 1]);
  });

  it('breaks ties by the lower flat index', () => {
    const flat = new Float64Array(8).fill(1);
    expect(Array.from(unstructuredMask(flat, 2, 4, 0.5, 'layer'))).toEqual([0, 0, 0, 0, 1, 1, 1, 1]);
    expect(Array.from(unstructuredMask(flat, 2, 4, 0.5, 'row'))).toEqual([0, 0, 1, 1, 0, 0, 1, 1]);
  });

  it('hits the target within one weight (layer) and one weight per row (row)', () => {
    const [rows, cols] = [13, 37];
    const random = randomScores(rows * cols, 7);
    for (const s of [0, 0.1, 0.5, 0.95, 1]) {
      expect(Math.abs(zeros(unstructuredMask(random, rows, cols, s, 'layer')) - s * rows * cols)).toBeLessThan(1);
      const mask = unstructuredMask(random, rows, cols, s, 'row');
      for (let r = 0; r < rows; r++) expect(Math.abs(zeros(mask, r * cols, (r + 1) * cols) - s * cols)).toBeLessThan(1);
    }
  });

  it('rejects a sparsity outside [0, 1] and a wrong shape', () => {
    expect(() => unstructuredMask(scores, 2, 4, 1.5, 'layer')).toThrow(/sparsity/);
    expect(() => unstructuredMask(scores, 3, 4, 0.5, 'layer')).toThrow(/expected 3×4/);
  });
});
