import { describe, expect, it } from 'vitest';
import { mulberry32, normalGenerator, syntheticInputs } from './synthetic';

/** mulberry32(42), first three draws × 1e9, from an independent Python transcription of the algorithm. */
const PINNED = [601103752, 448290559, 852465793];

describe('mulberry32', () => {
  it('is a fixed sequence for a seed', () => {
    const a = mulberry32(42);
    const first = [a(), a(), a()];
    const b = mulberry32(42);
    expect([b(), b(), b()]).toEqual(first);
    // a change of generator would change what every `synthetic:<seed>:<samples>` hash stands for
    expect(first.map((v) => Math.round(v * 1e9))).toEqual(PINNED);
    expect(mulberry32(43)()).not.toBe(first[0]);
  });

  it('draws uniformly in [0, 1)', () => {
    const next = mulberry32(1);
    const values = Array.from({ length: 20000 }, next);
    expect(Math.min(...values)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...values)).toBeLessThan(1);
    expect(values.reduce((a, b) => a + b, 0) / values.length).toBeCloseTo(0.5, 2);
  });
});

describe('normalGenerator', () => {
  it('has mean 0 and variance 1', () => {
    const next = normalGenerator(mulberry32(3));
    const values = Array.from({ length: 40000 }, next);
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    const variance = values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length;
    expect(Math.abs(mean)).toBeLessThan(0.02);
    expect(Math.abs(variance - 1)).toBeLessThan(0.03);
  });
});

describe('syntheticInputs', () => {
  it('gives uniform image-like inputs, deterministic per seed', () => {
    const a = syntheticInputs([null, 4, 4, 1], 3, 7);
    expect(a.shape).toEqual([3, 4, 4, 1]);
    expect(a.inputs).toHaveLength(48);
    expect(a.hash).toBe('synthetic:7:3');
    expect(a.source).toBe('synthetic');
    expect(a.inputs.every((v) => v >= 0 && v < 1)).toBe(true);
    expect(syntheticInputs([null, 4, 4, 1], 3, 7).inputs).toEqual(a.inputs);
    expect(syntheticInputs([null, 4, 4, 1], 3, 8).inputs).not.toEqual(a.inputs);
  });

  it('gives standard normal inputs for vectors', () => {
    const { inputs, shape } = syntheticInputs([null, 10], 400, 0);
    expect(shape).toEqual([400, 10]);
    expect(inputs.some((v) => v < 0)).toBe(true);
    const mean = inputs.reduce((a, b) => a + b, 0) / inputs.length;
    expect(Math.abs(mean)).toBeLessThan(0.1);
  });

  it('rejects shapes with free dimensions', () => {
    expect(() => syntheticInputs([null, null, 8], 2, 0)).toThrow(/fixed input shape/);
    expect(() => syntheticInputs([null, 8], 0, 0)).toThrow(/samples must be a positive integer/);
  });
});
