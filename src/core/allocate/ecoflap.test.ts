import { describe, expect, it } from 'vitest';
import { ecoflap } from './ecoflap';
import { expectSparsities, expectTarget, IMPORTANCE, UNITS } from './testing';

// IMPORTANCE per weight: a 1/100, b 3/100, c 4/200 → density d = k·(0.01, 0.03, 0.02),
// kept weights 100·0.01k + 100·0.03k + 200·0.02k = 8k.

describe('ECoFLaP allocation', () => {
  it('keeps weights in proportion to importance per weight', () => {
    // S = 0.5: 8k = 200 → k = 25, d = 0.25, 0.75, 0.5
    expectSparsities(ecoflap.allocate({ units: UNITS, target: 0.5, locked: {}, importance: IMPORTANCE }), { a: 0.75, b: 0.25, c: 0.5 });
    // S = 0.7: 8k = 120 → k = 15, d = 0.15, 0.45, 0.3
    expectSparsities(ecoflap.allocate({ units: UNITS, target: 0.7, locked: {}, importance: IMPORTANCE }), { a: 0.85, b: 0.55, c: 0.7 });
  });

  it('clamps the keep-budget to [1 − cap, 1] and solves for the rest', () => {
    // S = 0.2: k = 40 gives b 1.2 → 1; 100·0.01k + 200·0.02k = 320 − 100 → k = 44, d = 0.44, 1, 0.88
    expectSparsities(ecoflap.allocate({ units: UNITS, target: 0.2, locked: {}, importance: IMPORTANCE }), { a: 0.56, b: 0, c: 0.12 });
    // S = 0.92: k = 4 gives a 0.04 < 0.05 → 0.05; 100·0.03k + 200·0.02k = 32 − 5 → k = 27/7
    expectSparsities(ecoflap.allocate({ units: UNITS, target: 0.92, locked: {}, importance: IMPORTANCE }), {
      a: 0.95,
      b: 1 - (0.03 * 27) / 7,
      c: 1 - (0.02 * 27) / 7,
    });
  });

  it('keeps locked units', () => {
    // c locked at 0.5 keeps 100; a and b keep 100 of 200: 0.01k·100 + 0.03k·100 = 100 → k = 25
    expectSparsities(ecoflap.allocate({ units: UNITS, target: 0.5, locked: { c: 0.5 }, importance: IMPORTANCE }), { a: 0.75, b: 0.25, c: 0.5 });
  });

  it('is uniform when importance per weight is equal, or all zero', () => {
    const equal = new Map([
      ['a', 2],
      ['b', 2],
      ['c', 4],
    ]);
    expectSparsities(ecoflap.allocate({ units: UNITS, target: 0.6, locked: {}, importance: equal }), { a: 0.6, b: 0.6, c: 0.6 });
    const zero = new Map([...IMPORTANCE.keys()].map((k) => [k, 0]));
    expectSparsities(ecoflap.allocate({ units: UNITS, target: 0.6, locked: {}, importance: zero }), { a: 0.6, b: 0.6, c: 0.6 });
  });

  it('hits several targets within the cap and is deterministic', () => {
    for (const target of [0.05, 0.3, 0.5, 0.8, 0.95]) {
      const sparsity = ecoflap.allocate({ units: UNITS, target, locked: {}, importance: IMPORTANCE });
      expectTarget(UNITS, sparsity, target, 1e-9);
      expect(Object.values(sparsity).every((s) => s >= -1e-12 && s <= 0.95 + 1e-12)).toBe(true);
      expect(ecoflap.allocate({ units: UNITS, target, locked: {}, importance: IMPORTANCE })).toEqual(sparsity);
    }
  });

  it('rejects missing or negative scores', () => {
    expect(() => ecoflap.allocate({ units: UNITS, target: 0.5, locked: {}, importance: new Map([['a', 1]]) })).toThrow(/importance score for b/);
    expect(() => ecoflap.allocate({ units: UNITS, target: 0.5, locked: {}, importance: new Map([...IMPORTANCE, ['a', -1]]) })).toThrow(/non-negative/);
  });
});
