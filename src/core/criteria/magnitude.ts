import { scoringCriterion } from './request';
import type { WeightMatrix } from './types';

/** |W_ij| (exact in Float32). */
export function magnitudeScores(matrix: WeightMatrix): Float32Array {
  const out = new Float32Array(matrix.values.length);
  for (let i = 0; i < out.length; i++) out[i] = Math.abs(matrix.values[i]);
  return out;
}

/**
 * Magnitude pruning: unstructured over the whole layer (the pruneCount(s, size) = ⌊s·size⌋ lowest |W|,
 * Distiller's rule, as every criterion counts), N:M within each row, channels by the L2 norm of each
 * row of W.
 */
export const magnitude = scoringCriterion({
  key: 'magnitude',
  needs: 'none',
  scope: 'layer',
  scores: (request) => magnitudeScores(request.matrix),
});
