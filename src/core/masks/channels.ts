import { checkShape, checkSparsity, pruneCount, pruneLowest, type Scores } from './select';

/** Σ_j scores_ij² for each row: orders rows exactly as their L2 norms do, without rounding a square root. */
export function rowSquaredNorms(scores: Scores, rows: number, cols: number): Float64Array {
  checkShape(scores, rows, cols);
  const out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let sum = 0;
    for (let i = r * cols, end = i + cols; i < end; i++) sum += scores[i] * scores[i];
    out[r] = sum;
  }
  return out;
}

/**
 * Structured keep-mask: whole output rows (neurons, filters) ranked by the L2 norm of their scores;
 * the ⌊s·rows⌋ lowest rows are pruned, equal norms lowest row first.
 */
export function channelMask(scores: Scores, rows: number, cols: number, sparsity: number): Uint8Array {
  checkSparsity(sparsity);
  const norms = rowSquaredNorms(scores, rows, cols);
  const keptRows = new Uint8Array(rows).fill(1);
  pruneLowest(norms, 0, rows, pruneCount(sparsity, rows), keptRows);
  const mask = new Uint8Array(rows * cols);
  for (let r = 0; r < rows; r++) if (keptRows[r]) mask.fill(1, r * cols, (r + 1) * cols);
  return mask;
}
