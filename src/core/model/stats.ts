import type { WeightStats } from '../types';

/**
 * Summary statistics of a weight array. min/max/mean/std (population) and the histogram cover
 * the finite values only; `zeros` is the share of exact zeros among all values. When every
 * finite value is the same v, the histogram is one bin [v − 0.5, v + 0.5]; with no finite
 * value at all, the moments are NaN and the histogram is empty (no edges, no counts). With `range`
 * (which must hold every finite value), the histogram's bins span it instead, so that two arrays'
 * histograms share their edges.
 */
export function weightStats(values: Float32Array, bins = 40, range?: readonly [number, number]): WeightStats {
  if (!Number.isInteger(bins) || bins < 1) throw new Error(`bins must be a positive integer, received ${bins}`);
  let finite = 0;
  let zeros = 0;
  let nan = 0;
  let inf = 0;
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  for (const v of values) {
    if (Number.isNaN(v)) {
      nan++;
    } else if (!Number.isFinite(v)) {
      inf++;
    } else {
      finite++;
      sum += v;
      if (v < min) min = v;
      if (v > max) max = v;
      if (v === 0) zeros++;
    }
  }
  const count = values.length;
  const zeroShare = count === 0 ? 0 : zeros / count;
  if (finite === 0) {
    return { count, min: NaN, max: NaN, mean: NaN, std: NaN, zeros: zeroShare, nan, inf, histogram: { edges: [], counts: [] } };
  }
  const mean = sum / finite;
  let squares = 0;
  for (const v of values) {
    if (Number.isFinite(v)) squares += (v - mean) * (v - mean);
  }
  const std = Math.sqrt(squares / finite);
  const [lo, hi] = range ?? [min, max];
  return { count, min, max, mean, std, zeros: zeroShare, nan, inf, histogram: histogram(values, Math.min(lo, min), Math.max(hi, max), finite, bins) };
}

function histogram(values: Float32Array, min: number, max: number, finite: number, bins: number): WeightStats['histogram'] {
  if (min === max) return { edges: [min - 0.5, max + 0.5], counts: [finite] };
  const width = (max - min) / bins;
  const edges = Array.from({ length: bins + 1 }, (_, i) => (i === bins ? max : min + i * width));
  const counts = new Array<number>(bins).fill(0);
  for (const v of values) {
    if (!Number.isFinite(v)) continue;
    counts[Math.min(bins - 1, Math.floor((v - min) / width))]++;
  }
  return { edges, counts };
}
