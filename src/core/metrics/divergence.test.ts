import { describe, expect, it } from 'vitest';
import { jsDivergence, klDivergence } from './divergence';

const p = new Float32Array([0.5, 0.5, 1, 0]);
const q = new Float32Array([0.25, 0.75, 0.5, 0.5]);

describe('klDivergence', () => {
  it('averages Σ p ln(p/q) over rows', () => {
    const row0 = 0.5 * Math.log(0.5 / 0.25) + 0.5 * Math.log(0.5 / 0.75);
    const row1 = Math.log(1 / 0.5);
    expect(klDivergence(p, q, 2)).toBeCloseTo((row0 + row1) / 2, 6);
    expect(klDivergence(p, p, 2)).toBe(0);
  });

  it('clamps q at 1e-7 and accepts logits', () => {
    expect(klDivergence(new Float32Array([1, 0]), new Float32Array([0, 1]), 2)).toBeCloseTo(-Math.log(1e-7), 6);
    // logits [0, ln 3] → [1/4, 3/4]; [ln 3, 0] → [3/4, 1/4]
    const a = new Float32Array([0, Math.log(3)]);
    const b = new Float32Array([Math.log(3), 0]);
    const expected = 0.25 * Math.log(1 / 3) + 0.75 * Math.log(3);
    expect(klDivergence(a, b, 2, { fromLogits: true })).toBeCloseTo(expected, 6);
  });
});

describe('jsDivergence', () => {
  it('averages ½KL(p‖m) + ½KL(q‖m) over rows', () => {
    const kl = (x: number[], y: number[]): number => x.reduce((s, v, j) => (v > 0 ? s + v * Math.log(v / y[j]) : s), 0);
    const rows = [
      [
        [0.5, 0.5],
        [0.25, 0.75],
      ],
      [
        [1, 0],
        [0.5, 0.5],
      ],
    ];
    const expected =
      rows.reduce((sum, [a, b]) => {
        const m = a.map((v, j) => (v + b[j]) / 2);
        return sum + 0.5 * kl(a, m) + 0.5 * kl(b, m);
      }, 0) / 2;
    expect(jsDivergence(p, q, 2)).toBeCloseTo(expected, 6);
    expect(jsDivergence(q, p, 2)).toBeCloseTo(expected, 6);
  });

  it('reaches ln 2 for disjoint distributions and 0 for equal logits', () => {
    expect(jsDivergence(new Float32Array([1, 0]), new Float32Array([0, 1]), 2)).toBeCloseTo(Math.log(2), 9);
    const logits = new Float32Array([1, 2, 3, -1, 0, 1]);
    expect(jsDivergence(logits, logits, 3, { fromLogits: true })).toBe(0);
    expect(() => jsDivergence(logits, new Float32Array(3), 3)).toThrow(/p has 6 values, q has 3/);
  });
});
