import { ALLOCATIONS, type AllocationKey } from '../plan';
import { budgetOf, weightedSparsity } from './budget';
import { ecoflap } from './ecoflap';
import { global } from './global';
import { owl } from './owl';
import { sensitivity } from './sensitivity';
import { AllocationInputError, type Allocation, type AllocationInput } from './types';
import { uniform } from './uniform';

/** Every allocation strategy, in the order of `ALLOCATIONS`. */
export const allocations: readonly Allocation[] = [uniform, global, sensitivity, owl, ecoflap];

const byKey = new Map<string, Allocation>(allocations.map((allocation) => [allocation.key, allocation]));

export function isAllocationKey(key: string): key is AllocationKey {
  return byKey.has(key);
}

/** The strategy registered under `key`; throws AllocationInputError naming the known ones. */
export function getAllocation(key: string): Allocation {
  const allocation = byKey.get(key);
  if (!allocation) throw new AllocationInputError(`unknown allocation "${key}", expected one of ${ALLOCATIONS.join(', ')}`);
  return allocation;
}

export interface AllocationResult {
  /** Sparsity of every unit, locked ones unchanged. */
  sparsity: Record<string, number>;
  /** The parameter-weighted sparsity over all units that this allocation gives. */
  achieved: number;
  /** Set when the target is out of reach (locks and the cap) or the strategy could not get to it. */
  note?: string;
}

/**
 * Runs a strategy and says whether it reached the target: a miss of more than half a weight
 * (global magnitude prunes whole weights) comes with a note giving the reachable range.
 */
export function allocate(key: AllocationKey, input: AllocationInput): AllocationResult {
  const sparsity = getAllocation(key).allocate(input);
  const achieved = weightedSparsity(input.units, sparsity);
  const budget = budgetOf(input);
  if (Math.abs(achieved - input.target) * budget.total <= 0.5 + 1e-9 * budget.total) return { sparsity, achieved };
  const lockedZeros = input.target * budget.total - budget.goal;
  const floor = lockedZeros / budget.total;
  const ceiling = (lockedZeros + budget.cap * budget.freeSize) / budget.total;
  const percent = (share: number): string => `${(share * 100).toFixed(2)}%`;
  const reach = `locked units and the cap of ${percent(budget.cap)} allow ${percent(floor)} to ${percent(ceiling)}`;
  const note =
    input.target < floor || input.target > ceiling
      ? `the target ${percent(input.target)} is out of reach: ${reach}; allocated ${percent(achieved)}`
      : `${key} allocated ${percent(achieved)} instead of ${percent(input.target)} (${reach})`;
  return { sparsity, achieved, note };
}
