import { describe, expect, it } from 'vitest';
import { metricDamage, sensitivity } from './sensitivity';
import { expectSparsities, expectTarget, SWEEP, UNITS } from './testing';
import type { SensitivityCurves } from './types';

// SWEEP: accuracy (dense 0.9) of a (100), b (100), c (200) pruned alone at 0, 0.5, 0.9.
// Cost = damage / (sparsity · size):
//   a: 0.02/50 = 4e-4,  0.4/90 ≈ 4.4e-3
//   b: 0.01/50 = 2e-4,  0.05/90 ≈ 5.6e-4
//   c: 0.2/100 = 2e-3,  0.3/180 ≈ 1.7e-3
// Steps in order of least cost: b→0.5 (50 zeros), a→0.5 (+50 = 100), b→0.9 (+40 = 140),
// c→0.5 (+100 = 240), c→0.9 (+80 = 320), a→0.9 (+40 = 360).

describe('sensitivity allocation', () => {
  it('takes the cheapest steps first and interpolates the last one', () => {
    // 40 zeros: b→0.5 covers 50, stopped at 40/100
    expectSparsities(sensitivity.allocate({ units: UNITS, target: 0.1, locked: {}, sweep: SWEEP }), { a: 0, b: 0.4, c: 0 });
    // 120 zeros: b 0.5, a 0.5 (100), then b→0.9 stopped at 0.5 + 20/100
    expectSparsities(sensitivity.allocate({ units: UNITS, target: 0.3, locked: {}, sweep: SWEEP }), { a: 0.5, b: 0.7, c: 0 });
    // 200 zeros: a 0.5, b 0.9 (140), then c→0.5 stopped at 60/200
    expectSparsities(sensitivity.allocate({ units: UNITS, target: 0.5, locked: {}, sweep: SWEEP }), { a: 0.5, b: 0.9, c: 0.3 });
    // 300 zeros: … c 0.5 (240), c→0.9 stopped at 0.5 + 60/200
    expectSparsities(sensitivity.allocate({ units: UNITS, target: 0.75, locked: {}, sweep: SWEEP }), { a: 0.5, b: 0.9, c: 0.8 });
  });

  it('reads loss the other way round', () => {
    const loss: SensitivityCurves = { ...SWEEP, metric: 'loss', dense: 0.1, values: SWEEP.values.map((row) => row.map((v) => 1 - v)) };
    expect(metricDamage('loss', 0.3, 0.1)).toBeCloseTo(0.2, 12);
    expect(metricDamage('accuracy', 0.7, 0.9)).toBeCloseTo(0.2, 12);
    expectSparsities(sensitivity.allocate({ units: UNITS, target: 0.5, locked: {}, sweep: loss }), { a: 0.5, b: 0.9, c: 0.3 });
  });

  it('respects the cap with an interpolated rung', () => {
    // cap 0.6: a rung at 0.6 with damage(0.5) + ¼·(damage(0.9) − damage(0.5)):
    //   a 0.115/60 ≈ 1.92e-3, b 0.02/60 ≈ 3.3e-4, c 0.225/120 ≈ 1.88e-3
    // b→0.5 (50), b→0.6 (+10 = 60), a→0.5 (+50 = 110), a→0.6 (1.92e-3 < c→0.5's 2e-3; +10 = 120),
    // then c→0.5 stops at 80/200.
    expectSparsities(sensitivity.allocate({ units: UNITS, target: 0.5, locked: {}, sweep: SWEEP, maxSparsity: 0.6 }), { a: 0.6, b: 0.6, c: 0.4 });
  });

  it('keeps locked units', () => {
    // b locked at 0.3 (30); a and c need 170: a→0.5 (50), c→0.5 (+100), c→0.9 stops at 0.5 + 20/200
    expectSparsities(sensitivity.allocate({ units: UNITS, target: 0.5, locked: { b: 0.3 }, sweep: SWEEP }), { a: 0.5, b: 0.3, c: 0.6 });
  });

  it('raises the swept units together when the grid ends below the target', () => {
    const short: SensitivityCurves = { ...SWEEP, sparsities: [0, 0.5], values: SWEEP.values.map((row) => row.slice(0, 2)) };
    // every unit at 0.5 gives 200; 280 needs 0.2 more on each
    expectSparsities(sensitivity.allocate({ units: UNITS, target: 0.7, locked: {}, sweep: short }), { a: 0.7, b: 0.7, c: 0.7 });
  });

  it('leaves units out of the sweep or unmeasured where they are', () => {
    const partial: SensitivityCurves = { ...SWEEP, layers: ['a', 'b'], values: [SWEEP.values[0], [0.9, NaN, NaN]] };
    // only a can move: 0.2 · 400 = 80 zeros → a 0.8
    expectSparsities(sensitivity.allocate({ units: UNITS, target: 0.2, locked: {}, sweep: partial }), { a: 0.8, b: 0, c: 0 });
  });

  it('hits several targets and is deterministic', () => {
    for (const target of [0.05, 0.33, 0.6, 0.85, 0.9]) {
      const sparsity = sensitivity.allocate({ units: UNITS, target, locked: {}, sweep: SWEEP });
      expectTarget(UNITS, sparsity, target, 1e-9);
      expect(sensitivity.allocate({ units: UNITS, target, locked: {}, sweep: SWEEP })).toEqual(sparsity);
    }
  });

  it('needs a sweep', () => {
    expect(() => sensitivity.allocate({ units: UNITS, target: 0.5, locked: {} })).toThrow(/needs a sweep/);
  });
});
