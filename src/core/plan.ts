import type { CriterionKey, Granularity } from './criteria/types';

export const ALLOCATIONS = ['uniform', 'global', 'sensitivity', 'owl', 'ecoflap'] as const;
export type AllocationKey = (typeof ALLOCATIONS)[number];

/**
 * What to prune, as plain data (DESIGN §1 Plan, §6 Recipe). Applying it is a separate step;
 * undo is a stack of plans and a recipe is a plan on disk.
 */
export interface PruningPlan {
  criterion: CriterionKey;
  granularity: Granularity;
  allocation: AllocationKey;
  /** The global target sparsity in [0, 1] (the global slider). */
  target: number;
  /** Per-unit sparsity in [0, 1]; units not listed stay dense. */
  sparsity: Record<string, number>;
  /** Units whose sparsity the allocation must not change. */
  locked: string[];
  /** Removal candidates bypassed (FinerCut / layer removal). */
  removed: string[];
  seed: number;
  dataHash: string;
  /** Delta pruning against a base model (DARE / DAREx-q). */
  dare?: { base: string; p: number; q: number };
}

export function densePlan(units: readonly string[], dataHash: string): PruningPlan {
  return {
    criterion: 'magnitude',
    granularity: 'unstructured',
    allocation: 'uniform',
    target: 0,
    sparsity: Object.fromEntries(units.map((u) => [u, 0])),
    locked: [],
    removed: [],
    seed: 0,
    dataHash,
  };
}

/** The fixed sparsities of the plan's locked units (0 where the plan has none), as allocations take them. */
export function lockedSparsities(plan: PruningPlan): Record<string, number> {
  return Object.fromEntries(plan.locked.map((unit) => [unit, plan.sparsity[unit] ?? 0]));
}
