import { AllocationInputError, type AllocationInput, type AllocationUnit } from './types';

export const DEFAULT_MAX_SPARSITY = 0.95;

/** What an allocation has to distribute: the unlocked units and the zeros they must hold. */
export interface Budget {
  /** Unlocked units, in input order. */
  free: AllocationUnit[];
  /** Every unit's fixed sparsity where locked. */
  locked: Map<string, number>;
  /** Σ size over all units. */
  total: number;
  /** Σ size over the unlocked units. */
  freeSize: number;
  /** Zeros the unlocked units must hold so that the whole hits the target (may lie outside [0, cap·freeSize]). */
  goal: number;
  /** The cap on an unlocked unit's sparsity. */
  cap: number;
}

function checkShare(value: number, what: string): void {
  if (!(value >= 0 && value <= 1)) throw new AllocationInputError(`${what} must be in [0, 1], received ${value}`);
}

/** Checks the input and splits it into locked and unlocked units. */
export function budgetOf(input: AllocationInput): Budget {
  checkShare(input.target, 'the target sparsity');
  const cap = input.maxSparsity ?? DEFAULT_MAX_SPARSITY;
  checkShare(cap, 'maxSparsity');
  const seen = new Set<string>();
  const locked = new Map<string, number>();
  const free: AllocationUnit[] = [];
  let total = 0;
  let lockedZeros = 0;
  for (const unit of input.units) {
    if (seen.has(unit.name)) throw new AllocationInputError(`unit ${unit.name} is listed twice`);
    seen.add(unit.name);
    if (!Number.isInteger(unit.size) || unit.size < 0) {
      throw new AllocationInputError(`unit ${unit.name}: size must be a non-negative integer, received ${unit.size}`);
    }
    total += unit.size;
    const fixed = Object.hasOwn(input.locked, unit.name) ? input.locked[unit.name] : undefined;
    if (fixed === undefined) {
      free.push(unit);
    } else {
      checkShare(fixed, `the locked sparsity of ${unit.name}`);
      locked.set(unit.name, fixed);
      lockedZeros += fixed * unit.size;
    }
  }
  const freeSize = free.reduce((sum, unit) => sum + unit.size, 0);
  return { free, locked, total, freeSize, goal: input.target * total - lockedZeros, cap };
}

/** Every unit's sparsity: the locked values, then `freeSparsity[i]` for the i-th unlocked unit. */
export function assemble(input: AllocationInput, budget: Budget, freeSparsity: ArrayLike<number>): Record<string, number> {
  const byName = new Map(budget.free.map((unit, i) => [unit.name, freeSparsity[i]]));
  const out: Record<string, number> = {};
  for (const unit of input.units) out[unit.name] = budget.locked.get(unit.name) ?? byName.get(unit.name) ?? 0;
  return out;
}

/** Parameter-weighted mean sparsity of an allocation over `units`. */
export function weightedSparsity(units: readonly AllocationUnit[], sparsity: Readonly<Record<string, number>>): number {
  let zeros = 0;
  let total = 0;
  for (const unit of units) {
    zeros += unit.size * (sparsity[unit.name] ?? 0);
    total += unit.size;
  }
  return total === 0 ? 0 : zeros / total;
}

/** A value that follows a shared parameter t: clamp(offset + slope·t, low, high), with slope ≥ 0. */
export interface Ramp {
  size: number;
  offset: number;
  slope: number;
  low: number;
  high: number;
}

function rampAt(ramp: Ramp, t: number): number {
  return Math.min(ramp.high, Math.max(ramp.low, ramp.offset + ramp.slope * t));
}

function totalAt(ramps: readonly Ramp[], t: number): number {
  return ramps.reduce((sum, ramp) => sum + ramp.size * rampAt(ramp, t), 0);
}

/**
 * The values of the ramps at the smallest t where Σ size·value = `goal`. Σ size·value is
 * piecewise linear and non-decreasing in t, so t is found exactly between two breakpoints; when
 * the goal is out of reach the ramps stop at the nearer end.
 */
export function solveRamps(ramps: readonly Ramp[], goal: number): Float64Array {
  const breakpoints = [...new Set(ramps.filter((r) => r.slope > 0).flatMap((r) => [(r.low - r.offset) / r.slope, (r.high - r.offset) / r.slope]))].sort((a, b) => a - b);
  let t = 0;
  if (breakpoints.length > 0) {
    const totals = breakpoints.map((b) => totalAt(ramps, b));
    const last = breakpoints.length - 1;
    if (goal <= totals[0]) {
      t = breakpoints[0];
    } else if (goal >= totals[last]) {
      t = breakpoints[last];
    } else {
      let k = 0;
      while (totals[k + 1] < goal) k++;
      t = breakpoints[k] + ((goal - totals[k]) * (breakpoints[k + 1] - breakpoints[k])) / (totals[k + 1] - totals[k]);
    }
  }
  return Float64Array.from(ramps, (ramp) => rampAt(ramp, t));
}
