import { pruneCount } from '../masks';
import { assemble, budgetOf } from './budget';
import { AllocationInputError, type Allocation } from './types';

const BUCKETS = 1 << 16;
const ABS_BITS = 0x7fffffff;
const INF_BITS = 0x7f800000;

/**
 * The order of |w| as an integer: 0 for NaN (ranked below every number, as the masks rank scores),
 * else the bits of |w| plus 1 — for non-negative float32 values the bit patterns order as the values
 * do, and +0 and −0 share one.
 */
function rankOf(bits: number): number {
  const abs = bits & ABS_BITS;
  return abs > INF_BITS ? 0 : abs + 1;
}

/**
 * The smallest integer r for which Σ_i min(cap_i, #{ranks of unit i ≤ r}) reaches `wanted`, found
 * digit by digit (16 high bits, then 16 low) from histograms — two passes over the weights, no sort —
 * with, for every unit, the ranks below r and those at most r. Equal to the lowest candidate of a
 * binary search over all sorted |w| (the sum only steps up at a rank some weight has).
 */
function thresholdByHistogram(bits: readonly Uint32Array[], caps: readonly number[], wanted: number): { below: number[]; atMost: number[] } {
  const histogram = new Uint32Array(BUCKETS);
  const totals = new Float64Array(BUCKETS);
  /** Adds min(cap, base + cumulative histogram) to `totals` at every digit. */
  const accumulate = (cap: number, base: number): void => {
    let running = base;
    for (let d = 0; d < BUCKETS; d++) {
      running += histogram[d];
      totals[d] += Math.min(cap, running);
    }
  };
  const firstReaching = (): number => {
    for (let d = 0; d < BUCKETS; d++) if (totals[d] >= wanted) return d;
    return BUCKETS - 1;
  };
  for (const [i, unit] of bits.entries()) {
    histogram.fill(0);
    for (let k = 0; k < unit.length; k++) histogram[rankOf(unit[k]) >>> 16]++;
    accumulate(caps[i], 0);
  }
  const high = firstReaching();
  totals.fill(0);
  const bases: number[] = [];
  const lows: Uint32Array[] = [];
  for (const [i, unit] of bits.entries()) {
    histogram.fill(0);
    let base = 0;
    for (let k = 0; k < unit.length; k++) {
      const rank = rankOf(unit[k]);
      const digit = rank >>> 16;
      if (digit < high) base++;
      else if (digit === high) histogram[rank & 0xffff]++;
    }
    accumulate(caps[i], base);
    bases.push(base);
    lows.push(histogram.slice());
  }
  const low = firstReaching();
  const below: number[] = [];
  const atMost: number[] = [];
  for (const [i, counts] of lows.entries()) {
    let under = bases[i];
    for (let d = 0; d < low; d++) under += counts[d];
    below.push(Math.min(caps[i], under));
    atMost.push(Math.min(caps[i], under + counts[low]));
  }
  return { below, atMost };
}

/**
 * Global magnitude: one threshold on |W| across every unlocked unit's kernel; a unit's sparsity is
 * the share of its weights below it. Exactly round(goal) weights are pruned, no unit beyond the
 * cap (a unit at its cap drops out and the threshold keeps rising for the others); weights equal
 * to the threshold are pruned in unit order (input order), as a lower index goes first. The
 * threshold comes from two histogram passes over the weights' bits (`thresholdByHistogram`), not from
 * sorting every weight of the model on each slider move.
 */
export const global: Allocation = {
  key: 'global',
  allocate(input) {
    const budget = budgetOf(input);
    const bits = budget.free.map((unit) => {
      const kernel = input.kernels?.get(unit.name);
      if (kernel === undefined) throw new AllocationInputError(`global needs the kernel of ${unit.name}`);
      if (kernel.length !== unit.size) {
        throw new AllocationInputError(`global: the kernel of ${unit.name} has ${kernel.length} values, its size is ${unit.size}`);
      }
      return new Uint32Array(kernel.buffer, kernel.byteOffset, kernel.length);
    });
    const caps = budget.free.map((unit) => pruneCount(budget.cap, unit.size));
    const capacity = caps.reduce((a, b) => a + b, 0);
    const wanted = Math.max(0, Math.min(capacity, Math.round(budget.goal)));
    let counts = budget.free.map(() => 0);
    if (wanted > 0) {
      const { below, atMost } = thresholdByHistogram(bits, caps, wanted);
      counts = below;
      let left = wanted - counts.reduce((a, b) => a + b, 0);
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
