import { describe, expect, it } from 'vitest';
import { maskFor } from './index';

describe('maskFor', () => {
  const scores = Float64Array.from([4, 1, 3, 2, 0.5, 6, 5, 7]);

  it('dispatches on the granularity and scope', () => {
    expect(Array.from(maskFor('unstructured', scores, 2, 4, 0.5))).toEqual([1, 0, 0, 0, 0, 1, 1, 1]);
    expect(Array.from(maskFor('unstructured', scores, 2, 4, 0.5, 'row'))).toEqual([1, 0, 1, 0, 0, 1, 0, 1]);
    expect(Array.from(maskFor('2:4', scores, 2, 4, 0.9))).toEqual([1, 0, 1, 0, 0, 1, 0, 1]);
    expect(Array.from(maskFor('4:8', scores, 1, 8, 0))).toEqual([1, 0, 0, 0, 0, 1, 1, 1]);
    expect(Array.from(maskFor('channels', scores, 2, 4, 0.5))).toEqual([0, 0, 0, 0, 1, 1, 1, 1]);
  });

  it('is deterministic', () => {
    expect(maskFor('unstructured', scores, 2, 4, 0.5)).toEqual(maskFor('unstructured', scores, 2, 4, 0.5));
  });
});
