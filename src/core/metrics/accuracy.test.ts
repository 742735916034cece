import { describe, expect, it } from 'vitest';
import { accuracy, argMaxRows } from './accuracy';

describe('accuracy', () => {
  it('compares each row arg-max with its label', () => {
    const outputs = new Float32Array([0.1, 0.7, 0.2, 0.5, 0.3, 0.2, 0.3, 0.3, 0.4, 0.4, 0.4, 0.2]);
    // rows → 1, 0, 2, 0 (a tie goes to the first index)
    expect(Array.from(argMaxRows(outputs, 3))).toEqual([1, 0, 2, 0]);
    expect(accuracy(outputs, new Int32Array([1, 0, 0, 1]), 3)).toBe(0.5);
    expect(accuracy(outputs, [1, 0, 2, 0], 3)).toBe(1);
  });

  it('gives the same answer on logits and rejects mismatched sizes', () => {
    expect(accuracy(new Float32Array([-3, 2, 5, -1]), [1, 0], 2)).toBe(1);
    expect(() => accuracy(new Float32Array(5), [0, 0], 2)).toThrow(/do not split into rows of 2/);
    expect(() => accuracy(new Float32Array(4), [0], 2)).toThrow(/2 output rows but 1 labels/);
  });
});
