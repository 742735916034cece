import { expect } from 'vitest';
import { weightedSparsity } from './budget';
import type { AllocationUnit, SensitivityCurves } from './types';

/** Three units of unequal size, shared by the allocation tests: 400 weights in all. */
export const UNITS: readonly AllocationUnit[] = [
  { name: 'a', size: 100 },
  { name: 'b', size: 100 },
  { name: 'c', size: 200 },
];

/** Every unit's sparsity equals the hand-computed value. */
export function expectSparsities(actual: Record<string, number>, expected: Record<string, number>, digits = 10): void {
  expect(Object.keys(actual).sort()).toEqual(Object.keys(expected).sort());
  for (const [unit, value] of Object.entries(expected)) expect(actual[unit], unit).toBeCloseTo(value, digits);
}

/** The parameter-weighted sparsity is within `tolerance` of the target. */
export function expectTarget(units: readonly AllocationUnit[], sparsity: Record<string, number>, target: number, tolerance = 0.005): void {
  expect(Math.abs(weightedSparsity(units, sparsity) - target)).toBeLessThanOrEqual(tolerance);
}

/** OWL outlier ratios for UNITS: a 2%, b 6%, c 4%. */
export const RATIOS: ReadonlyMap<string, number> = new Map([
  ['a', 0.02],
  ['b', 0.06],
  ['c', 0.04],
]);

/** ECoFLaP importances for UNITS: per weight a 1/100, b 3/100, c 4/200. */
export const IMPORTANCE: ReadonlyMap<string, number> = new Map([
  ['a', 1],
  ['b', 3],
  ['c', 4],
]);

/** Accuracy (dense 0.9) of each of UNITS pruned alone at 0, 0.5 and 0.9. */
export const SWEEP: SensitivityCurves = {
  layers: ['a', 'b', 'c'],
  sparsities: [0, 0.5, 0.9],
  values: [
    [0.9, 0.88, 0.5],
    [0.9, 0.89, 0.85],
    [0.9, 0.7, 0.6],
  ],
  dense: 0.9,
  metric: 'accuracy',
};
