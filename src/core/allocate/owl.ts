import { assemble, budgetOf, solveRamps } from './budget';
import { AllocationInputError, type Allocation } from './types';

/** λ: the half-width of OWL's band of layer sparsities around the target. */
export const OWL_LAMBDA = 0.08;
/** M: a Wanda score above M·mean counts as an outlier. */
export const OWL_OUTLIER_THRESHOLD = 5;

/** Share of `wandaScores` above M·mean(wandaScores) (Yin et al. 2023); 0 for no scores. */
export function outlierRatio(wandaScores: ArrayLike<number>, threshold = OWL_OUTLIER_THRESHOLD): number {
  const n = wandaScores.length;
  if (n === 0) return 0;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += wandaScores[i];
  const limit = (threshold * sum) / n;
  let count = 0;
  for (let i = 0; i < n; i++) if (wandaScores[i] > limit) count++;
  return count / n;
}

/**
 * OWL (outlier-weighted layerwise sparsity): the outlier ratios D of the unlocked units are mapped
 * linearly onto [0, 2λ] (fewest outliers → 0), and unit l gets S_l = t − m_l clamped to [0, cap],
 * with t such that the parameter-weighted sparsity hits the target. Without clamping, S_l lies in
 * [S − λ, S + λ] when the mapped values average λ; fewer outliers → more pruning. Equal ratios
 * give the uniform allocation.
 */
export const owl: Allocation = {
  key: 'owl',
  allocate(input) {
    const budget = budgetOf(input);
    const lambda = input.lambda ?? OWL_LAMBDA;
    if (!(lambda >= 0)) throw new AllocationInputError(`owl: λ must be non-negative, received ${lambda}`);
    const ratios = budget.free.map((unit) => input.outlierRatios?.get(unit.name));
    const missing = budget.free.filter((_, i) => ratios[i] === undefined || !Number.isFinite(ratios[i]));
    if (missing.length > 0) {
      throw new AllocationInputError(`owl needs an outlier ratio for ${missing.map((u) => u.name).join(', ')}`);
    }
    const values = ratios as number[];
    const lowest = Math.min(...values);
    const spread = Math.max(...values) - lowest;
    const mapped = values.map((d) => (spread > 0 ? (2 * lambda * (d - lowest)) / spread : lambda));
    const ramps = budget.free.map((unit, i) => ({ size: unit.size, offset: -mapped[i], slope: 1, low: 0, high: budget.cap }));
    return assemble(input, budget, solveRamps(ramps, budget.goal));
  },
};
