import { describe, expect, it } from 'vitest';
import { owl, outlierRatio } from './owl';
import { expectSparsities, expectTarget, RATIOS, UNITS } from './testing';

// RATIOS: a 2%, b 6%, c 4% → mapped onto [0, 2λ] = [0, 0.16]: a 0, b 0.16, c 0.08.
// S_l = t − m_l with 100·t + 100·(t − 0.16) + 200·(t − 0.08) = 400·S, so t = S + 0.08.

describe('outlierRatio', () => {
  it('counts scores above M times the mean', () => {
    const scores = Float64Array.from([1, 1, 1, 1, 1, 1, 1, 1, 1, 21]); // mean 3
    expect(outlierRatio(scores, 5)).toBe(0.1); // 21 > 15
    expect(outlierRatio(scores, 7)).toBe(0); // 21 = 21 is not above
    expect(outlierRatio(Float64Array.from([1, 1, 1, 5]), 1)).toBe(0.25);
    expect(outlierRatio(new Float64Array(0), 5)).toBe(0);
  });
});

describe('OWL allocation', () => {
  it('prunes units with fewer outliers more, within ±λ of the target', () => {
    expectSparsities(owl.allocate({ units: UNITS, target: 0.5, locked: {}, outlierRatios: RATIOS }), { a: 0.58, b: 0.42, c: 0.5 });
    expectSparsities(owl.allocate({ units: UNITS, target: 0.7, locked: {}, outlierRatios: RATIOS }), { a: 0.78, b: 0.62, c: 0.7 });
  });

  it('takes λ as an option', () => {
    expectSparsities(owl.allocate({ units: UNITS, target: 0.5, locked: {}, outlierRatios: RATIOS, lambda: 0.04 }), { a: 0.54, b: 0.46, c: 0.5 });
  });

  it('clamps at 0 and at the cap and shifts the rest to hit the target', () => {
    // S = 0.05: b would get −0.03 → 0; then 100·t + 200·(t − 0.08) = 20 → t = 0.12.
    expectSparsities(owl.allocate({ units: UNITS, target: 0.05, locked: {}, outlierRatios: RATIOS }), { a: 0.12, b: 0, c: 0.04 });
    // S = 0.9, cap 0.95: a would get 0.98 → 0.95; then 100·(t − 0.16) + 200·(t − 0.08) = 360 − 95 → t = 0.99.
    expectSparsities(owl.allocate({ units: UNITS, target: 0.9, locked: {}, outlierRatios: RATIOS }), { a: 0.95, b: 0.83, c: 0.91 });
  });

  it('keeps locked units and spreads the rest over the others', () => {
    // c locked at 0.3 holds 60 zeros; a and b need 140: m over them is a 0, b 0.16 → t = 0.78.
    expectSparsities(owl.allocate({ units: UNITS, target: 0.5, locked: { c: 0.3 }, outlierRatios: RATIOS }), { a: 0.78, b: 0.62, c: 0.3 });
  });

  it('is uniform when every unit has the same ratio', () => {
    const same = new Map([...RATIOS.keys()].map((k) => [k, 0.03]));
    expectSparsities(owl.allocate({ units: UNITS, target: 0.4, locked: {}, outlierRatios: same }), { a: 0.4, b: 0.4, c: 0.4 });
  });

  it('hits several targets and is deterministic', () => {
    for (const target of [0.01, 0.2, 0.5, 0.85, 0.94]) {
      const sparsity = owl.allocate({ units: UNITS, target, locked: {}, outlierRatios: RATIOS });
      expectTarget(UNITS, sparsity, target, 1e-9);
      expect(Object.values(sparsity).every((s) => s >= 0 && s <= 0.95)).toBe(true);
      expect(owl.allocate({ units: UNITS, target, locked: {}, outlierRatios: RATIOS })).toEqual(sparsity);
    }
  });

  it('needs a ratio for every unlocked unit', () => {
    expect(() => owl.allocate({ units: UNITS, target: 0.5, locked: {}, outlierRatios: new Map([['a', 0.1]]) })).toThrow(/b, c/);
    expect(() => owl.allocate({ units: UNITS, target: 0.5, locked: { b: 0, c: 0 }, outlierRatios: new Map([['a', 0.1]]) })).not.toThrow();
  });
});
