import { checkShape, checkSparsity, pruneCount, pruneLowest, type Scores } from './select';

/**
 * Where weights compete: `layer` — the whole matrix, ⌊s·rows·cols⌋ pruned (magnitude, random);
 * `row` — each output row on its own, ⌊s·cols⌋ pruned per row (Wanda). Both counts are pruneCount's.
 */
export type UnstructuredScope = 'layer' | 'row';

/** Keep-mask (1 = kept) that prunes the lowest scores; equal scores go lowest flat index first. */
export function unstructuredMask(scores: Scores, rows: number, cols: number, sparsity: number, scope: UnstructuredScope): Uint8Array {
  checkShape(scores, rows, cols);
  checkSparsity(sparsity);
  const mask = new Uint8Array(rows * cols).fill(1);
  if (scope === 'layer') {
    pruneLowest(scores, 0, rows * cols, pruneCount(sparsity, rows * cols), mask);
  } else {
    const perRow = pruneCount(sparsity, cols);
    for (let r = 0; r < rows; r++) pruneLowest(scores, r * cols, cols, perRow, mask);
  }
  return mask;
}
