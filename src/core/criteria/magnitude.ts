import { checkSparsity, pruneCount, pruneLowestMagnitudes } from '../masks';
import { scoringCriterion } from './request';
import type { Criterion, WeightMatrix } from './types';

/** |W_ij| (exact in Float32: the sign bit cleared). */
export function magnitudeScores(matrix: WeightMatrix): Float32Array {
  const { values } = matrix;
  const out = new Float32Array(values.length);
  const from = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const to = new Uint32Array(out.buffer);
  for (let i = 0; i < from.length; i++) to[i] = from[i] & 0x7fffffff;
  return out;
}

const scored = scoringCriterion({
  key: 'magnitude',
  needs: 'none',
  scope: 'layer',
  scores: (request) => magnitudeScores(request.matrix),
});

/** Below this many weights a layer takes the scored path (its threshold by quickselect). */
const STORED_MINIMUM = 1 << 14;

/**
 * Magnitude pruning: unstructured over the whole layer (the pruneCount(s, size) = ⌊s·size⌋ lowest |W|,
 * Distiller's rule, as every criterion counts), N:M within each row, channels by the L2 norm of each
 * row of W. An unstructured large kernel is pruned as it is stored (the same weights).
 */
export const magnitude: Criterion = {
  ...scored,
  pruneStored({ kernel, rows, cols, transposed, sparsity, granularity }) {
    if (granularity !== 'unstructured' || kernel.length < STORED_MINIMUM) return undefined;
    checkSparsity(sparsity);
    return pruneLowestMagnitudes(kernel, rows, cols, pruneCount(sparsity, kernel.length), transposed);
  },
};
