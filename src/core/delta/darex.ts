/** One evaluated rescale: DARE with kept deltas multiplied by 1/q gave `value` (lower is better). */
export interface RescalePoint {
  q: number;
  value: number;
}

export interface RescaleSearch {
  /** The q with the lowest value (the first of equal ones; NaN values never win). */
  q: number;
  value: number;
  /** Every point evaluated, in grid order: 1 − p (plain DARE) first, then q rising to 1. */
  curve: RescalePoint[];
  /** True when `shouldStop` ended the search early: the best is over `curve` only. */
  cancelled?: boolean;
}

export interface RescaleSearchOptions {
  /** Grid points above 1 − p (12). */
  steps?: number;
  /** Called after each point with the points done and the total. */
  onProgress?(point: RescalePoint, done: number, total: number): void;
  /** Checked before each point. */
  shouldStop?(): boolean;
}

/**
 * The DAREx-q grid for drop probability p: 1 − p (DARE's own rescale, as the baseline) and
 * `steps` evenly spaced values above it up to 1 (no rescaling): q_i = 1 − p·(steps − i)/steps.
 */
export function rescaleGrid(p: number, steps = 12): number[] {
  if (!(p >= 0 && p < 1)) throw new RangeError(`DARE drop probability p must be in [0, 1), got ${p}`);
  if (!Number.isInteger(steps) || steps < 1) throw new RangeError(`DAREx-q needs at least one grid step, got ${steps}`);
  if (p === 0) return [1];
  return Array.from({ length: steps + 1 }, (_, i) => 1 - (p * (steps - i)) / steps);
}

/**
 * DAREx-q: evaluates `objective(q)` (validation loss, or the output change on unlabelled data;
 * lower is better) at every point of `rescaleGrid(p, steps)`, in order, and returns the best q
 * with the whole curve.
 */
export async function searchRescale(p: number, objective: (q: number) => Promise<number>, options: RescaleSearchOptions = {}): Promise<RescaleSearch> {
  const grid = rescaleGrid(p, options.steps);
  const curve: RescalePoint[] = [];
  let best: RescalePoint | undefined;
  let cancelled = false;
  for (const q of grid) {
    if (options.shouldStop?.()) {
      cancelled = true;
      break;
    }
    const point = { q, value: await objective(q) };
    curve.push(point);
    if (!Number.isNaN(point.value) && (best === undefined || point.value < best.value)) best = point;
    options.onProgress?.(point, curve.length, grid.length);
  }
  const chosen = best ?? { q: grid[0], value: NaN };
  const search: RescaleSearch = { q: chosen.q, value: chosen.value, curve };
  if (cancelled) search.cancelled = true;
  return search;
}
