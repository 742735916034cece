import { checkShape, pruneCount, pruneLowest, type Scores } from './select';

/** N:M sparsity: N of every M consecutive inputs of an output row are zero. */
export interface NMPattern {
  n: number;
  m: number;
}

/** `'2:4'` → {n: 2, m: 4}; null for anything that is not an N:M pattern with 0 ≤ N ≤ M. */
export function parseNMPattern(granularity: string): NMPattern | null {
  const match = /^(\d+):(\d+)$/.exec(granularity);
  if (!match) return null;
  const n = Number(match[1]);
  const m = Number(match[2]);
  return m > 0 && n <= m ? { n, m } : null;
}

/**
 * Zeros in a group of `length` inputs: N for a full group, pruneCount(N/M, length) = ⌊N·length/M⌋
 * for a shorter tail group (the count rule with s = N/M).
 */
export function groupPruneCount(pattern: NMPattern, length: number): number {
  return length >= pattern.m ? pattern.n : pruneCount(pattern.n / pattern.m, length);
}

/**
 * Keep-mask (1 = kept) with the N lowest scores of every group of M consecutive columns of each row
 * zeroed (groups start at column 0; equal scores go lowest column first).
 */
export function nmMask(scores: Scores, rows: number, cols: number, pattern: NMPattern): Uint8Array {
  checkShape(scores, rows, cols);
  const mask = new Uint8Array(rows * cols).fill(1);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c += pattern.m) {
      const length = Math.min(pattern.m, cols - c);
      pruneLowest(scores, r * cols + c, length, groupPruneCount(pattern, length), mask);
    }
  }
  return mask;
}
