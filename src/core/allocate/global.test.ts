import { describe, expect, it } from 'vitest';
import { mulberry32, normalGenerator } from '../data/synthetic';
import { global } from './global';
import { budgetOf } from './budget';
import { pruneCount } from '../masks';
import { expectSparsities, expectTarget } from './testing';
import type { AllocationInput, AllocationUnit } from './types';

// |w| in ascending order: .05b .1a .15b .2a .25b .3a .35b .4b .45b .5a .55b .6b
const KERNELS = new Map([
  ['a', Float32Array.from([0.1, -0.5, 0.3, 0.2])],
  ['b', Float32Array.from([0.05, 0.4, -0.6, 0.15, 0.35, 0.25, 0.45, 0.55])],
]);
const UNITS: AllocationUnit[] = [
  { name: 'a', size: 4 },
  { name: 'b', size: 8 },
];

function run(input: Partial<AllocationInput> & { target: number }): Record<string, number> {
  return global.allocate({ units: UNITS, locked: {}, kernels: KERNELS, maxSparsity: 1, ...input });
}

/**
 * The per-unit counts by full sorts (the slow reference): every unit's |w| sorted (NaN lowest), a
 * binary search over all of them for the lowest value whose capped count reaches the goal, ties
 * given out in unit order.
 */
function sortedCounts(input: AllocationInput): number[] {
  const budget = budgetOf(input);
  const key = (v: number): number => (v === v ? Math.abs(v) : -1);
  const sorted = budget.free.map((unit) => Float32Array.from(input.kernels?.get(unit.name) ?? [], key).sort());
  const caps = budget.free.map((unit) => pruneCount(budget.cap, unit.size));
  const wanted = Math.max(
    0,
    Math.min(
      caps.reduce((a, b) => a + b, 0),
      Math.round(budget.goal),
    ),
  );
  const count = (values: Float32Array, value: number, inclusive: boolean): number => values.filter((v) => v < value || (inclusive && v === value)).length;
  const upTo = (value: number, inclusive: boolean): number[] => sorted.map((values, i) => Math.min(caps[i], count(values, value, inclusive)));
  const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);
  if (wanted === 0) return caps.map(() => 0);
  const candidates = Float32Array.from(sorted.flatMap((values) => [...values])).sort();
  let lo = 0;
  let hi = candidates.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sum(upTo(candidates[mid], true)) >= wanted) hi = mid;
    else lo = mid + 1;
  }
  const counts = upTo(candidates[lo], false);
  const atMost = upTo(candidates[lo], true);
  let left = wanted - sum(counts);
  for (let i = 0; i < counts.length && left > 0; i++) {
    const extra = Math.min(left, atMost[i] - counts[i]);
    counts[i] += extra;
    left -= extra;
  }
  return counts;
}

describe('global magnitude allocation', () => {
  it('gives the counts of a full sort, ties, zeros, −0, NaN, ±Infinity and caps included', () => {
    const next = mulberry32(11);
    const normal = normalGenerator(mulberry32(12));
    const units: AllocationUnit[] = [
      { name: 'p', size: 700 },
      { name: 'q', size: 1300 },
      { name: 'r', size: 64 },
      { name: 's', size: 900 },
    ];
    const special = [0, -0, NaN, Infinity, -Infinity, 0.5, -0.5, 1e-40, -1e-40];
    const kernels = new Map(
      units.map((u, i) => [
        u.name,
        Float32Array.from({ length: u.size }, () => {
          const roll = next();
          if (roll < 0.15) return special[Math.floor(next() * special.length)];
          // Coarse values in some units: many exact ties across units.
          return i % 2 === 0 ? Math.round(normal() * 8) / 8 : normal() * (i + 1);
        }),
      ]),
    );
    for (const maxSparsity of [1, 0.6]) {
      for (const target of [0.01, 0.1, 0.33, 0.5, 0.59, 0.9, 1]) {
        for (const locked of [{}, { r: 0.25 }] as Record<string, number>[]) {
          const input: AllocationInput = { units, target, locked, kernels, maxSparsity };
          const sparsity = global.allocate(input);
          const free = units.filter((u) => !(u.name in locked));
          const expected = sortedCounts(input);
          expect(free.map((u) => Math.round(sparsity[u.name] * u.size))).toEqual(expected);
        }
      }
    }
  });

  it('prunes the smallest |w| across units', () => {
    // 3 of 12: .05b .1a .15b; 4: + .2a; 6: + .25b .3a; 9: + .35b .4b .45b
    expectSparsities(run({ target: 0.25 }), { a: 1 / 4, b: 2 / 8 });
    expectSparsities(run({ target: 1 / 3 }), { a: 2 / 4, b: 2 / 8 });
    expectSparsities(run({ target: 0.5 }), { a: 3 / 4, b: 3 / 8 });
    expectSparsities(run({ target: 0.75 }), { a: 3 / 4, b: 6 / 8 });
  });

  it('stops a unit at the cap and keeps raising the threshold for the others', () => {
    // a may lose ⌊0.5 · 4⌋ = 2 (.1 and .2); the other 4 of 6 come from b: .05 .15 .25 .35
    expectSparsities(run({ target: 0.5, maxSparsity: 0.5 }), { a: 0.5, b: 0.5 });
  });

  it('keeps locked units and takes their zeros into account', () => {
    // a locked dense: all 6 zeros come from b
    expectSparsities(run({ target: 0.5, locked: { a: 0 } }), { a: 0, b: 6 / 8 });
  });

  it('breaks ties by unit order', () => {
    const kernels = new Map([
      ['a', Float32Array.from([0.1, 0.2])],
      ['b', Float32Array.from([0.2, 0.1])],
    ]);
    const units = [
      { name: 'a', size: 2 },
      { name: 'b', size: 2 },
    ];
    expectSparsities(global.allocate({ units, target: 0.25, locked: {}, kernels }), { a: 0.5, b: 0 });
    expectSparsities(global.allocate({ units: [...units].reverse(), target: 0.25, locked: {}, kernels }), { a: 0, b: 0.5 });
  });

  it('matches one threshold over all weights and hits several targets', () => {
    const next = normalGenerator(mulberry32(3));
    const units: AllocationUnit[] = [
      { name: 'x', size: 1000 },
      { name: 'y', size: 3000 },
      { name: 'z', size: 500 },
    ];
    const kernels = new Map(units.map((u, i) => [u.name, Float32Array.from({ length: u.size }, () => next() * (i + 1))]));
    const everything = [...kernels.values()].flatMap((k) => [...k].map(Math.abs)).sort((p, q) => p - q);
    for (const target of [0.1, 0.37, 0.5, 0.8]) {
      const sparsity = global.allocate({ units, target, locked: {}, kernels, maxSparsity: 1 });
      expectTarget(units, sparsity, target);
      const threshold = everything[Math.round(target * everything.length)];
      for (const unit of units) {
        const below = [...(kernels.get(unit.name) ?? [])].filter((w) => Math.abs(w) < threshold).length;
        expect(sparsity[unit.name] * unit.size).toBeCloseTo(below, 6);
      }
    }
  });

  it('is deterministic', () => {
    expect(run({ target: 0.5 })).toEqual(run({ target: 0.5 }));
  });

  it('needs every unlocked kernel', () => {
    expect(() => global.allocate({ units: UNITS, target: 0.5, locked: {} })).toThrow(/kernel of a/);
  });
});
