/** A score matrix, row-major rows × cols; higher = more important. */
export type Scores = Float64Array | Float32Array;

const RELATIVE_SLACK = 1e-12;

/**
 * How many of `n` weights a share `sparsity` prunes: ⌊sparsity·n⌋, with the product nudged up by a
 * relative 1e-12 so that a decimal share lands on the integer it names (0.29·100 evaluates to
 * 28.999999999999996 in binary floating point and still prunes 29).
 */
export function pruneCount(sparsity: number, n: number): number {
  return Math.min(n, Math.floor(sparsity * n * (1 + RELATIVE_SLACK)));
}

export function checkSparsity(sparsity: number): void {
  if (!(sparsity >= 0 && sparsity <= 1)) throw new RangeError(`sparsity must be in [0, 1], got ${sparsity}`);
}

export function checkShape(scores: Scores, rows: number, cols: number): void {
  if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows < 0 || cols < 0) {
    throw new RangeError(`rows and cols must be non-negative integers, got ${rows}×${cols}`);
  }
  if (scores.length !== rows * cols) {
    throw new RangeError(`scores have ${scores.length} values, expected ${rows}×${cols} = ${rows * cols}`);
  }
}

/** A NaN score ranks below every number: a weight that is not a number is pruned first. */
function rank(score: number): number {
  return score === score ? score : -Infinity;
}

const SMALL_SEGMENT = 32;

/**
 * Prunes (sets to 0 in `mask`) the `count` lowest-scored entries of `scores[start, start + length)`.
 * Equal scores are pruned in order of index, lowest first. The segment of `mask` must be all ones.
 */
export function pruneLowest(scores: Scores, start: number, length: number, count: number, mask: Uint8Array): void {
  if (count <= 0) return;
  const end = start + length;
  if (count >= length) {
    mask.fill(0, start, end);
    return;
  }
  if (length <= SMALL_SEGMENT) {
    for (let k = 0; k < count; k++) {
      let lowest = -1;
      let lowestRank = 0;
      for (let i = start; i < end; i++) {
        if (mask[i] === 0) continue;
        const r = rank(scores[i]);
        if (lowest < 0 || r < lowestRank) {
          lowest = i;
          lowestRank = r;
        }
      }
      mask[lowest] = 0;
    }
    return;
  }
  const sorted = scores instanceof Float32Array ? new Float32Array(length) : new Float64Array(length);
  for (let i = 0; i < length; i++) sorted[i] = rank(scores[start + i]);
  sorted.sort();
  const threshold = sorted[count - 1];
  let left = count;
  for (let i = start; i < end; i++) {
    if (rank(scores[i]) < threshold) {
      mask[i] = 0;
      left--;
    }
  }
  for (let i = start; i < end && left > 0; i++) {
    if (rank(scores[i]) === threshold) {
      mask[i] = 0;
      left--;
    }
  }
}
