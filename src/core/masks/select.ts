/** A score matrix, row-major rows × cols; higher = more important. */
export type Scores = Float64Array | Float32Array;

const RELATIVE_SLACK = 1e-12;

/**
 * The count rule, the one place it lives: a share `sparsity` of a group of `n` weights (a layer, a
 * row, a block, a group of channels, an N:M tail) prunes ⌊sparsity·n⌋ of them (Distiller's rule,
 * DESIGN §3), at most n. Floating-point guard: the product is nudged up by a relative 1e-12 before
 * flooring, so a decimal share lands on the integer it names (0.29·100 evaluates to
 * 28.999999999999996 and still prunes 29; (0.7 − 0.4)·10 = 2.999999999999999 prunes 3). A relative
 * guard rather than an absolute one (s·n + 1e-9): rounding errors grow with n, and a layer of 2²⁴
 * weights can already err by more than 1e-9, while 1e-12·n stays far below the gap between a
 * genuinely fractional s·n and the next integer (at least 10⁻ᵈ for a share with d decimals).
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
/** From this length on, float32 scores find their threshold by histograms of their bits. */
const HISTOGRAM_SEGMENT = 1 << 14;

/**
 * An unsigned key that orders float32 bit patterns as `rank` orders their values: NaN as −Infinity,
 * −0 as +0, negative values below positive ones.
 */
function sortableKey(bits: number): number {
  if ((bits & 0x7fffffff) > 0x7f800000) bits = 0xff800000;
  else if (bits === 0x80000000) bits = 0;
  return (bits & 0x80000000 ? ~bits : bits | 0x80000000) >>> 0;
}

/**
 * `kthSmallest` of `rank(values)` for float32 values, without reordering them: the key's 16 high
 * bits from one histogram pass, then its 16 low bits from a second pass over the values in that
 * bucket. Two linear passes where quickselect partitions several times.
 */
export function kthSmallestFloat32(values: Float32Array, k: number): number {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const histogram = new Uint32Array(1 << 16);
  for (let i = 0; i < bits.length; i++) histogram[sortableKey(bits[i]) >>> 16]++;
  let high = 0;
  let before = 0;
  while (before + histogram[high] <= k) before += histogram[high++];
  histogram.fill(0);
  for (let i = 0; i < bits.length; i++) {
    const key = sortableKey(bits[i]);
    if (key >>> 16 === high) histogram[key & 0xffff]++;
  }
  let low = 0;
  while (before + histogram[low] <= k) before += histogram[low++];
  const key = ((high << 16) | low) >>> 0;
  const pattern = key & 0x80000000 ? key & 0x7fffffff : ~key >>> 0;
  const out = new Float32Array(new Uint32Array([pattern]).buffer)[0];
  return rank(out);
}

/** The 16 high bits of `sortableKey(bits & 0x7fffffff)`: a magnitude's bucket, NaN lowest. */
function magnitudeBucket(bits: number): number {
  const magnitude = bits & 0x7fffffff;
  return magnitude > 0x7f800000 ? 0x7f : (magnitude >>> 16) | 0x8000;
}

/**
 * A kernel stored as W's transpose (`[cols, rows]` row-major, W being rows × cols; `transposed`:
 * stored as W itself) with its `count` lowest magnitudes set to +0: the weights that pruning W's
 * scores |W| with `pruneLowest` over the whole layer gives, equal magnitudes at the threshold going
 * in W's flat index order, but without transposing the kernel twice or holding its scores. The
 * kept weights are copied bit for bit. Two passes: a histogram of the magnitudes' high bits finds
 * the threshold's bucket; the masking pass zeroes what lies below it and lists what lies in it,
 * and only that list is ranked further.
 */
export function pruneLowestMagnitudes(kernel: Float32Array, rows: number, cols: number, count: number, transposed: boolean): Float32Array {
  const n = kernel.length;
  if (n !== rows * cols) throw new RangeError(`the kernel has ${n} values, expected ${rows}×${cols} = ${rows * cols}`);
  if (count <= 0) return kernel.slice();
  if (count >= n) return new Float32Array(n);
  const from = new Uint32Array(kernel.buffer, kernel.byteOffset, n);
  const histogram = new Uint32Array(1 << 16);
  for (let i = 0; i < n; i++) histogram[magnitudeBucket(from[i])]++;
  let high = 0;
  let below = 0;
  while (below + histogram[high] <= count - 1) below += histogram[high++];
  const out = new Float32Array(n);
  const to = new Uint32Array(out.buffer);
  const bucket = new Uint32Array(histogram[high]);
  let listed = 0;
  for (let i = 0; i < n; i++) {
    const bits = from[i];
    const at = magnitudeBucket(bits);
    to[i] = bits & (+(at < high) - 1);
    if (at === high) bucket[listed++] = i;
  }
  let left = count - below;
  // The bucket's low key bits rank it; NaN's bucket holds NaN alone, all tied.
  const lowKey = (bits: number): number => sortableKey(bits & 0x7fffffff) & 0xffff;
  histogram.fill(0);
  for (let j = 0; j < listed; j++) histogram[lowKey(from[bucket[j]])]++;
  let low = 0;
  while (histogram[low] < left) left -= histogram[low++];
  const tied = new Uint32Array(histogram[low]);
  let ties = 0;
  for (let j = 0; j < listed; j++) {
    const i = bucket[j];
    const key = lowKey(from[i]);
    if (key < low) to[i] = 0;
    else if (key === low) tied[ties++] = i;
  }
  if (left === ties || transposed) {
    for (let j = 0; j < left; j++) to[tied[j]] = 0;
    return out;
  }
  // Fewer to prune than are tied: they go in W's order, row by row, which is the kernel's column by column.
  const order = new Float64Array(ties);
  for (let j = 0; j < ties; j++) order[j] = (tied[j] % rows) * cols + Math.floor(tied[j] / rows);
  order.sort();
  for (let j = 0; j < left; j++) {
    const w = order[j];
    const r = Math.floor(w / cols);
    to[(w - r * cols) * rows + r] = 0;
  }
  return out;
}

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
  let threshold: number;
  if (scores instanceof Float32Array && length >= HISTOGRAM_SEGMENT) {
    threshold = kthSmallestFloat32(scores.subarray(start, end), count - 1);
  } else {
    const scratch = scores instanceof Float32Array ? new Float32Array(length) : new Float64Array(length);
    for (let i = 0; i < length; i++) scratch[i] = rank(scores[start + i]);
    threshold = kthSmallest(scratch, count - 1);
  }
  // Without branches on the scores (they are as often below as not): NaN ranks below every number but −Infinity.
  const nanBelow = threshold > -Infinity ? 1 : 0;
  let left = count;
  for (let i = start; i < end; i++) {
    const score = scores[i];
    const below = +(score < threshold) | (+(score !== score) & nanBelow);
    mask[i] = 1 - below;
    left -= below;
  }
  for (let i = start; i < end && left > 0; i++) {
    if (rank(scores[i]) === threshold) {
      mask[i] = 0;
      left--;
    }
  }
}

/**
 * The value that would sit at index `k` of `values` sorted ascending (no NaN), by quickselect: the
 * pivot is the median of three pseudo-random entries (a fixed xorshift sequence, so sorted or
 * patterned input is no worse than shuffled) and the partition is three-way, so runs of equal values
 * (a layer full of zeros) cost no more than distinct ones; after 2·log₂(n) + 8 rounds it sorts what
 * is left. O(n) expected where a sort is O(n log n). Reorders `values`. −0 and 0 count as equal, so
 * either may be returned for them.
 */
export function kthSmallest(values: Float64Array | Float32Array, k: number): number {
  let lo = 0;
  let hi = values.length - 1;
  let rounds = 2 * Math.ceil(Math.log2(values.length + 1)) + 8;
  let state = 0x9e3779b9;
  const next = (): number => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return state >>> 0;
  };
  while (hi - lo > 16) {
    if (rounds-- === 0) {
      values.subarray(lo, hi + 1).sort();
      return values[k];
    }
    const span = hi - lo + 1;
    const a = values[lo + (next() % span)];
    const b = values[lo + (next() % span)];
    const c = values[lo + (next() % span)];
    const pivot = a < b ? (b < c ? b : a < c ? c : a) : a < c ? a : b < c ? c : b;
    // [lo, lt) < pivot, [lt, i) = pivot, (gt, hi] > pivot
    let lt = lo;
    let gt = hi;
    let i = lo;
    while (i <= gt) {
      const v = values[i];
      if (v < pivot) {
        values[i++] = values[lt];
        values[lt++] = v;
      } else if (v > pivot) {
        values[i] = values[gt];
        values[gt--] = v;
      } else {
        i++;
      }
    }
    if (k < lt) hi = lt - 1;
    else if (k > gt) lo = gt + 1;
    else return pivot;
  }
  values.subarray(lo, hi + 1).sort();
  return values[k];
}
