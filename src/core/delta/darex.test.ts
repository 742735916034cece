import { describe, expect, it } from 'vitest';
import { mulberry32, normalGenerator } from '../data/synthetic';
import { dare } from './dare';
import { rescaleGrid, searchRescale } from './darex';

describe('rescaleGrid', () => {
  it('starts at DARE’s 1 − p and rises evenly to 1', () => {
    const grid = rescaleGrid(0.9);
    expect(grid).toHaveLength(13);
    expect(grid[0]).toBeCloseTo(0.1, 12);
    expect(grid[12]).toBe(1);
    grid.slice(1).forEach((q, i) => expect(q - grid[i]).toBeCloseTo(0.075, 12));
    expect(rescaleGrid(0.5, 4)).toEqual([0.5, 0.625, 0.75, 0.875, 1]);
    expect(rescaleGrid(0)).toEqual([1]);
    expect(() => rescaleGrid(1)).toThrow(/\[0, 1\)/);
    expect(() => rescaleGrid(0.5, 0)).toThrow(/at least one/);
  });
});

/**
 * A linear layer y = W x (OUT outputs, IN inputs) and a fine-tuned copy; the objective is the
 * mean squared change of DARE's outputs from the fine-tuned outputs on fixed inputs.
 */
function linearCase(meanDelta: number): { p: number; objective: (q: number) => Promise<number> } {
  const [OUT, IN, SAMPLES, p] = [8, 256, 16, 0.9];
  const normal = normalGenerator(mulberry32(9));
  const base = Float32Array.from({ length: OUT * IN }, () => normal());
  const fine = base.map((w) => w + meanDelta + 0.05 * normal());
  const inputs = Float32Array.from({ length: SAMPLES * IN }, () => Math.abs(normal()));
  const outputs = (weights: Float32Array): number[] =>
    Array.from({ length: SAMPLES * OUT }, (_, k) => {
      const [s, o] = [Math.floor(k / OUT), k % OUT];
      let sum = 0;
      for (let i = 0; i < IN; i++) sum += weights[o * IN + i] * inputs[s * IN + i];
      return sum;
    });
  const target = outputs(fine);
  const objective = async (q: number): Promise<number> => {
    const y = outputs(dare(base, fine, { p, q, seed: 1 }));
    return y.reduce((sum, v, k) => sum + (v - target[k]) ** 2, 0) / y.length;
  };
  return { p, objective };
}

describe('searchRescale (DAREx-q)', () => {
  it('finds the minimum of an objective built to have it at q = 0.55, not at 1 − p', async () => {
    const asked: number[] = [];
    const result = await searchRescale(0.9, async (q) => {
      asked.push(q);
      return (q - 0.55) ** 2;
    });
    expect(asked).toEqual(rescaleGrid(0.9));
    expect(result.q).toBeCloseTo(0.55, 12);
    expect(result.curve.map((point) => point.q)).toEqual(asked);
    expect(result.value).toBe(Math.min(...result.curve.map((point) => point.value)));
  });

  it('rescales less than DARE when the deltas are zero-mean noise, where 1/(1 − p) mostly amplifies the noise', async () => {
    const { p, objective } = linearCase(0);
    const result = await searchRescale(p, objective);
    expect(result.q).toBeGreaterThan(0.5);
    expect(result.value).toBeLessThan(result.curve[0].value / 2);
  });

  it('keeps DARE’s 1 − p when the deltas share one direction, where the unbiased rescale is right', async () => {
    const { p, objective } = linearCase(0.2);
    const result = await searchRescale(p, objective);
    expect(result.q).toBeCloseTo(1 - p, 12);
  });

  it('is deterministic', async () => {
    const { p, objective } = linearCase(0);
    expect(await searchRescale(p, objective, { steps: 4 })).toEqual(await searchRescale(p, objective, { steps: 4 }));
  });

  it('skips NaN values, keeps the first of equal ones, reports progress and stops when asked', async () => {
    const flat = await searchRescale(0.5, async (q) => (q < 0.6 ? NaN : 1), { steps: 4 });
    expect(flat.q).toBe(0.625);
    const seen: number[] = [];
    let calls = 0;
    const countCalls = async (q: number): Promise<number> => {
      calls++;
      return 1 - q;
    };
    const stopped = await searchRescale(0.5, countCalls, {
      steps: 4,
      onProgress: (_, done, total) => seen.push(done / total),
      shouldStop: () => calls === 2,
    });
    expect(stopped.cancelled).toBe(true);
    expect(stopped.curve).toEqual([
      { q: 0.5, value: 0.5 },
      { q: 0.625, value: 0.375 },
    ]);
    expect(stopped.q).toBe(0.625);
    expect(seen).toEqual([0.2, 0.4]);
  });
});
