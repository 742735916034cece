import type { SweepMetric } from '../sweep/metric';
import { assemble, budgetOf, solveRamps } from './budget';
import { AllocationInputError, type Allocation, type SensitivityCurves } from './types';

/** One rung of a unit's ladder: a sparsity and the metric damage it causes (0 = as dense). */
interface Rung {
  sparsity: number;
  damage: number;
}

/** How much worse a metric value is than the dense one: accuracy falls, loss and divergences rise. */
export function metricDamage(metric: SweepMetric, value: number, dense: number): number {
  return metric === 'accuracy' ? dense - value : value - dense;
}

/**
 * A unit's ladder from the sweep: sparsity 0 (no damage), then every grid level up to the cap in
 * ascending order, stopping at the first level that was not measured; when the cap falls between
 * two measured levels it is a rung of its own, with the damage interpolated linearly.
 */
function ladderOf(sweep: SensitivityCurves, row: number, cap: number): { rungs: Rung[]; complete: boolean } {
  const columns = sweep.sparsities
    .map((sparsity, column) => ({ sparsity, damage: metricDamage(sweep.metric, sweep.values[row]?.[column] ?? NaN, sweep.dense) }))
    .filter((rung) => rung.sparsity > 0)
    .sort((a, b) => a.sparsity - b.sparsity);
  const rungs: Rung[] = [{ sparsity: 0, damage: 0 }];
  for (const rung of columns) {
    if (!Number.isFinite(rung.damage)) return { rungs, complete: false };
    const previous = rungs[rungs.length - 1];
    if (rung.sparsity <= cap) {
      if (rung.sparsity > previous.sparsity) rungs.push(rung);
      continue;
    }
    if (previous.sparsity < cap) {
      const share = (cap - previous.sparsity) / (rung.sparsity - previous.sparsity);
      rungs.push({ sparsity: cap, damage: previous.damage + share * (rung.damage - previous.damage) });
    }
    break;
  }
  return { rungs, complete: true };
}

/**
 * Sensitivity-guided allocation (Sparsify): the cost of taking a unit to a level of the sweep is
 * the metric damage there per pruned weight, damage / (sparsity · size). Starting from dense, the
 * step (unit, its next level) of least cost is taken (ties: the unit listed first) until the
 * unlocked units hold the zeros the target needs; the last step stops part way so that the target
 * is hit exactly. No unit goes beyond the cap. Should every ladder end first (a grid that stops
 * below the cap), the units whose sweep rows are complete are raised together, up to the cap.
 * Units missing from the sweep, or from the first unmeasured level on, are not pruned further.
 */
export const sensitivity: Allocation = {
  key: 'sensitivity',
  allocate(input) {
    const budget = budgetOf(input);
    const sweep = input.sweep;
    if (sweep === undefined) throw new AllocationInputError('sensitivity needs a sweep (run one, or load a saved sweep)');
    if (!Number.isFinite(sweep.dense)) throw new AllocationInputError(`sensitivity: the sweep's dense metric is ${sweep.dense}`);
    const rows = new Map(sweep.layers.map((name, row) => [name, row]));
    const ladders = budget.free.map((unit) => {
      const row = rows.get(unit.name);
      return row === undefined ? { rungs: [{ sparsity: 0, damage: 0 }], complete: false } : ladderOf(sweep, row, budget.cap);
    });
    const level = budget.free.map(() => 0);
    const sparsity = budget.free.map(() => 0);
    let pruned = 0;
    const costOf = (i: number): number => {
      const next = ladders[i].rungs[level[i] + 1];
      return next === undefined ? NaN : next.damage / (next.sparsity * budget.free[i].size);
    };
    while (pruned < budget.goal) {
      let best = -1;
      let bestCost = Infinity;
      for (let i = 0; i < budget.free.length; i++) {
        const cost = costOf(i);
        if (budget.free[i].size > 0 && !Number.isNaN(cost) && (best < 0 || cost < bestCost)) {
          best = i;
          bestCost = cost;
        }
      }
      if (best < 0) break;
      const size = budget.free[best].size;
      const next = ladders[best].rungs[level[best] + 1];
      const gain = (next.sparsity - sparsity[best]) * size;
      if (pruned + gain >= budget.goal) {
        sparsity[best] += (budget.goal - pruned) / size;
        pruned = budget.goal;
        break;
      }
      pruned += gain;
      sparsity[best] = next.sparsity;
      level[best]++;
    }
    if (pruned < budget.goal) {
      const ramps = budget.free.map((unit, i) => ({
        size: unit.size,
        offset: sparsity[i],
        slope: ladders[i].complete ? 1 : 0,
        low: sparsity[i],
        high: ladders[i].complete ? Math.max(sparsity[i], budget.cap) : sparsity[i],
      }));
      return assemble(input, budget, solveRamps(ramps, budget.goal));
    }
    return assemble(input, budget, sparsity);
  },
};
