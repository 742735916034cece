import { describe, expect, it } from 'vitest';
import { expectSparsities, expectTarget, UNITS } from './testing';
import { uniform } from './uniform';

describe('uniform allocation', () => {
  it('gives every unit the target when nothing is locked', () => {
    for (const target of [0, 0.25, 0.5, 0.9]) {
      const sparsity = uniform.allocate({ units: UNITS, target, locked: {} });
      expectSparsities(sparsity, { a: target, b: target, c: target });
      expectTarget(UNITS, sparsity, target);
    }
  });

  it('keeps locked units and makes up for them with the others', () => {
    // 0.5 · 400 = 200 zeros, c holds 0.2 · 200 = 40, so a and b share 160 over 200 weights.
    const sparsity = uniform.allocate({ units: UNITS, target: 0.5, locked: { c: 0.2 } });
    expectSparsities(sparsity, { a: 0.8, b: 0.8, c: 0.2 });
    expectTarget(UNITS, sparsity, 0.5);
  });

  it('stops at the cap when the target needs more', () => {
    // 0.6 · 400 = 240 zeros with c dense would need 1.2 on a and b.
    const sparsity = uniform.allocate({ units: UNITS, target: 0.6, locked: { c: 0 }, maxSparsity: 0.9 });
    expectSparsities(sparsity, { a: 0.9, b: 0.9, c: 0 });
  });

  it('rejects values outside [0, 1]', () => {
    expect(() => uniform.allocate({ units: UNITS, target: 1.5, locked: {} })).toThrow(/target/);
    expect(() => uniform.allocate({ units: UNITS, target: 0.5, locked: { a: -0.1 } })).toThrow(/locked sparsity of a/);
  });
});
