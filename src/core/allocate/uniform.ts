import { assemble, budgetOf, solveRamps } from './budget';
import type { Allocation } from './types';

/** Every unlocked unit gets the same sparsity s (≤ the cap), chosen so that the whole hits the target. */
export const uniform: Allocation = {
  key: 'uniform',
  allocate(input) {
    const budget = budgetOf(input);
    const ramps = budget.free.map((unit) => ({ size: unit.size, offset: 0, slope: 1, low: 0, high: budget.cap }));
    return assemble(input, budget, solveRamps(ramps, budget.goal));
  },
};
