import { describe, expect, it } from 'vitest';
import { ALLOCATIONS } from '../plan';
import { allocate, allocations, getAllocation, isAllocationKey } from './registry';
import { IMPORTANCE, RATIOS, SWEEP, UNITS } from './testing';
import type { AllocationInput } from './types';

const INPUT: AllocationInput = {
  units: UNITS,
  target: 0.5,
  locked: {},
  kernels: new Map(UNITS.map((u, i) => [u.name, Float32Array.from({ length: u.size }, (_, j) => (j + 1) * (i + 1))])),
  outlierRatios: RATIOS,
  importance: IMPORTANCE,
  sweep: SWEEP,
};

describe('allocation registry', () => {
  it('registers every key of ALLOCATIONS once, in order', () => {
    expect(allocations.map((a) => a.key)).toEqual([...ALLOCATIONS]);
    for (const key of ALLOCATIONS) expect(getAllocation(key).key).toBe(key);
    expect(isAllocationKey('owl')).toBe(true);
    expect(isAllocationKey('lamp')).toBe(false);
    expect(() => getAllocation('lamp')).toThrow(/uniform, global, sensitivity, owl, ecoflap/);
  });

  it('every strategy but uniform gives unequal sparsities on this input, all hitting the target', () => {
    for (const key of ALLOCATIONS) {
      const result = allocate(key, INPUT);
      expect(result.note, key).toBeUndefined();
      expect(Math.abs(result.achieved - 0.5), key).toBeLessThanOrEqual(0.005);
      const distinct = new Set(Object.values(result.sparsity).map((s) => s.toFixed(6)));
      expect(distinct.size > 1, key).toBe(key !== 'uniform');
    }
  });

  it('notes a target out of reach and gets as close as it can, locks unchanged', () => {
    for (const key of ALLOCATIONS) {
      const high = allocate(key, { ...INPUT, target: 0.9, locked: { c: 0.5 } });
      // c holds 100 zeros, a and b at most 0.95 · 200 = 190: 290 / 400 = 72.5%
      expect(high.note, key).toMatch(/out of reach.*25\.00% to 72\.50%/);
      expect(high.sparsity.c).toBe(0.5);
      expect(high.achieved, key).toBeCloseTo(0.725, 9);
      const low = allocate(key, { ...INPUT, target: 0.1, locked: { c: 0.5 } });
      expect(low.note, key).toMatch(/out of reach/);
      expect(low.achieved, key).toBeCloseTo(0.25, 9);
    }
  });
});
