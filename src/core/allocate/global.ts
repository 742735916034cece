import { pruneCount } from '../masks';
import { assemble, budgetOf } from './budget';
import { AllocationInputError, type Allocation } from './types';

/** |w| with NaN ranked below every number, as the masks rank scores. */
function magnitudeKey(value: number): number {
  return value === value ? Math.abs(value) : -1;
}

/** How many entries of an ascending array are < value (strict) or ≤ value. */
function countBelow(sorted: Float32Array, value: number, inclusive: boolean): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid] < value || (inclusive && sorted[mid] === value)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Global magnitude: one threshold on |W| across every unlocked unit's kernel; a unit's sparsity is
 * the share of its weights below it. Exactly round(goal) weights are pruned, no unit beyond the
 * cap (a unit at its cap drops out and the threshold keeps rising for the others); weights equal
 * to the threshold are pruned in unit order (input order), as a lower index goes first.
 */
export const global: Allocation = {
  key: 'global',
  allocate(input) {
    const budget = budgetOf(input);
    const sorted = budget.free.map((unit) => {
      const kernel = input.kernels?.get(unit.name);
      if (kernel === undefined) throw new AllocationInputError(`global needs the kernel of ${unit.name}`);
      if (kernel.length !== unit.size) {
        throw new AllocationInputError(`global: the kernel of ${unit.name} has ${kernel.length} values, its size is ${unit.size}`);
      }
      return Float32Array.from(kernel, magnitudeKey).sort();
    });
    const caps = budget.free.map((unit) => pruneCount(budget.cap, unit.size));
    const capacity = caps.reduce((a, b) => a + b, 0);
    const wanted = Math.max(0, Math.min(capacity, Math.round(budget.goal)));
    const prunedUpTo = (value: number, inclusive: boolean): number[] => sorted.map((values, i) => Math.min(caps[i], countBelow(values, value, inclusive)));
    const sum = (counts: number[]): number => counts.reduce((a, b) => a + b, 0);

    const candidates = new Float32Array(sorted.reduce((n, values) => n + values.length, 0));
    let offset = 0;
    for (const values of sorted) {
      candidates.set(values, offset);
      offset += values.length;
    }
    candidates.sort();
    let counts = budget.free.map(() => 0);
    if (wanted > 0) {
      let lo = 0;
      let hi = candidates.length - 1;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (sum(prunedUpTo(candidates[mid], true)) >= wanted) hi = mid;
        else lo = mid + 1;
      }
      const threshold = candidates[lo];
      counts = prunedUpTo(threshold, false);
      const atMost = prunedUpTo(threshold, true);
      let left = wanted - sum(counts);
      for (let i = 0; i < counts.length && left > 0; i++) {
        const extra = Math.min(left, atMost[i] - counts[i]);
        counts[i] += extra;
        left -= extra;
      }
    }
    return assemble(
      input,
      budget,
      counts.map((count, i) => (budget.free[i].size === 0 ? 0 : count / budget.free[i].size)),
    );
  },
};
