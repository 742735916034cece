import { describe, expect, it } from 'vitest';
import { criteria, getCriterion, isCriterionKey } from './registry';
import { CRITERIA, UnsupportedPruningError } from './types';

describe('criteria registry', () => {
  it('holds one criterion per key, in order', () => {
    expect(criteria.map((c) => c.key)).toEqual([...CRITERIA]);
    for (const key of CRITERIA) expect(getCriterion(key).key).toBe(key);
    expect(isCriterionKey('wanda')).toBe(true);
    expect(isCriterionKey('owl')).toBe(false);
  });

  it('names the known criteria for an unknown key', () => {
    expect(() => getCriterion('taylor')).toThrow(UnsupportedPruningError);
    expect(() => getCriterion('taylor')).toThrow(/magnitude, wanda, sparsegpt, random/);
  });
});
