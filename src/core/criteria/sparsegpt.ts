import { groupPruneCount, parseNMPattern, pruneCount, pruneLowest, type NMPattern } from '../masks';
import { NotPositiveDefiniteError, upperCholeskyOfInverse } from './cholesky';
import { checkRequest } from './request';
import { UnsupportedPruningError, type CalibrationStats, type Criterion, type PruneResult, type WeightMatrix } from './types';

export interface SparseGptOptions {
  /** Share of the layer to prune (unstructured, chosen per block of columns); ignored when `pattern` is given. */
  sparsity: number;
  pattern?: NMPattern | null;
  /** Columns whose mask is chosen together and whose updates are applied lazily; a multiple of M. */
  blockSize?: number;
  /** λ = dampening · mean(diag H). */
  dampening?: number;
}

export const SPARSEGPT_BLOCK_SIZE = 128;
export const SPARSEGPT_DAMPENING = 0.01;

/**
 * H = (2/n)·XᵀX with dead inputs (H_jj = 0) set to H_jj = 1, then λ·I added. Returns H and the
 * dead columns.
 */
export function sparseGptHessian(stats: CalibrationStats, cols: number, dampening: number): { hessian: Float64Array; dead: Uint8Array } {
  const { gram, samples } = stats;
  if (!gram) throw new UnsupportedPruningError('sparsegpt needs the Gram matrix XᵀX of the calibration inputs (stats.gram)');
  if (gram.length !== cols * cols) throw new RangeError(`sparsegpt: stats.gram has ${gram.length} values, expected ${cols}×${cols}`);
  if (!(samples > 0)) throw new RangeError(`sparsegpt: stats.samples must be positive, got ${samples}`);
  const scale = 2 / samples;
  const hessian = new Float64Array(cols * cols);
  for (let i = 0; i < hessian.length; i++) hessian[i] = gram[i] * scale;
  const dead = new Uint8Array(cols);
  let trace = 0;
  for (let j = 0; j < cols; j++) {
    if (hessian[j * cols + j] === 0) {
      dead[j] = 1;
      hessian[j * cols + j] = 1;
    }
    trace += hessian[j * cols + j];
  }
  const damp = (dampening * trace) / cols;
  for (let j = 0; j < cols; j++) hessian[j * cols + j] += damp;
  return { hessian, dead };
}

/**
 * SparseGPT (Frantar & Alistarh 2023, IST-DASLab/sparsegpt `fasterprune`): prunes W column by
 * column and updates the columns not yet processed to compensate, using U, the upper Cholesky
 * factor of H⁻¹: W[:, c+1:] −= (w_c − q_c)/U_cc · U[c, c+1:], within the block at once and for the
 * later blocks lazily when the block ends.
 *
 * Unstructured: at the start of each block of columns [start, end) the mask is chosen over the whole
 * rows × block at once, by the lowest w²/U_cc² of the current (already updated) weights — one
 * threshold per block across all rows, as the reference does, not one per row. The block prunes
 * pruneCount(s, rows·end) − pruneCount(s, rows·start) weights, so each block prunes ⌊s·rows·len⌋ or
 * one more and the layer prunes exactly pruneCount(s, rows·cols) = ⌊s·rows·cols⌋, the count every
 * criterion uses (DESIGN §3); when s·rows·blockSize is an integer, as at 50% on a layer of 128-column
 * blocks, every full block prunes exactly s·rows·blockSize. (The reference takes
 * `thresh = sort(tmp.flatten())[int(numel·s)]` and prunes `tmp <= thresh`, i.e. ⌊s·numel⌋ + 1 per
 * block plus any ties with that element; we prune the ⌊s·n⌋ rule's count instead.) Equal scores are
 * pruned lower flat index (row-major r·cols + c) first.
 *
 * N:M: at the start of every group of M columns (groups start at each block's start; the block
 * size is a multiple of M) the N lowest w²/U_cc² of each row within the group are pruned, with the
 * current weights, equal scores lower column first. Pruned weights are exactly 0, dead input columns
 * too.
 */
export function sparseGpt(matrix: WeightMatrix, stats: CalibrationStats, options: SparseGptOptions): PruneResult {
  const { rows, cols } = matrix;
  const pattern = options.pattern ?? null;
  const blockSize = options.blockSize ?? SPARSEGPT_BLOCK_SIZE;
  if (!Number.isInteger(blockSize) || blockSize <= 0 || (pattern && blockSize % pattern.m !== 0)) {
    throw new RangeError(`sparsegpt: block size ${blockSize} must be a positive integer${pattern ? ` and a multiple of ${pattern.m}` : ''}`);
  }
  const { hessian, dead } = sparseGptHessian(stats, cols, options.dampening ?? SPARSEGPT_DAMPENING);
  let u: Float64Array;
  try {
    u = upperCholeskyOfInverse(hessian, cols);
  } catch (error) {
    if (error instanceof NotPositiveDefiniteError) {
      throw new RangeError(`sparsegpt: the damped Hessian is not positive definite at column ${error.column}; the calibration statistics may hold NaN or Inf`);
    }
    throw error;
  }

  const w = new Float64Array(rows * cols);
  for (let i = 0; i < w.length; i++) w[i] = dead[i % cols] ? 0 : matrix.values[i];
  const mask = new Uint8Array(rows * cols).fill(1);
  const scores = new Float64Array(pattern ? rows * cols : 0);
  const errors = new Float64Array(rows * blockSize);

  const score = (r: number, c: number): number => {
    const d = u[c * cols + c];
    return (w[r * cols + c] * w[r * cols + c]) / (d * d);
  };
  /** N:M: the `count` lowest of each row within columns [start, start + length). */
  const chooseInRows = (start: number, length: number, count: number): void => {
    for (let r = 0; r < rows; r++) {
      for (let c = start; c < start + length; c++) scores[r * cols + c] = score(r, c);
      pruneLowest(scores, r * cols + start, length, count, mask);
    }
  };
  // The rows × block scores, block-local row-major: its index order is the flat index order.
  const blockScores = new Float64Array(pattern ? 0 : rows * Math.min(blockSize, cols));
  const blockMask = new Uint8Array(blockScores.length);
  /** Unstructured: the `count` lowest of the whole rows × [start, start + length). */
  const chooseInBlock = (start: number, length: number, count: number): void => {
    const size = rows * length;
    for (let r = 0; r < rows; r++) for (let k = 0; k < length; k++) blockScores[r * length + k] = score(r, start + k);
    blockMask.fill(1, 0, size);
    pruneLowest(blockScores, 0, size, count, blockMask);
    for (let r = 0; r < rows; r++) for (let k = 0; k < length; k++) mask[r * cols + start + k] = blockMask[r * length + k];
  };

  for (let blockStart = 0; blockStart < cols; blockStart += blockSize) {
    const blockEnd = Math.min(blockStart + blockSize, cols);
    if (!pattern) {
      const count = pruneCount(options.sparsity, rows * blockEnd) - pruneCount(options.sparsity, rows * blockStart);
      chooseInBlock(blockStart, blockEnd - blockStart, count);
    }
    for (let c = blockStart; c < blockEnd; c++) {
      if (pattern && (c - blockStart) % pattern.m === 0) {
        const length = Math.min(pattern.m, blockEnd - c);
        chooseInRows(c, length, groupPruneCount(pattern, length));
      }
      const uRow = c * cols;
      const d = u[uRow + c];
      for (let r = 0; r < rows; r++) {
        const at = r * cols + c;
        const error = mask[at] ? 0 : w[at] / d;
        errors[r * blockSize + (c - blockStart)] = error;
        if (!mask[at]) w[at] = 0;
        if (error === 0) continue;
        for (let j = c + 1; j < blockEnd; j++) w[r * cols + j] -= error * u[uRow + j];
      }
    }
    if (blockEnd === cols) break;
    for (let r = 0; r < rows; r++) {
      for (let c = blockStart; c < blockEnd; c++) {
        const error = errors[r * blockSize + (c - blockStart)];
        if (error === 0) continue;
        const uRow = c * cols;
        for (let j = blockEnd; j < cols; j++) w[r * cols + j] -= error * u[uRow + j];
      }
    }
  }
  return { values: Float32Array.from(w), mask };
}

/** SparseGPT as a criterion: unstructured and N:M on dense and conv layers. */
export const sparsegpt: Criterion = {
  key: 'sparsegpt',
  needs: 'gram',
  supports(kind, granularity) {
    if (granularity === 'channels') {
      return 'sparsegpt with channels makes no sense: it prunes single weights and updates the rest of the row; use magnitude or wanda for channels';
    }
    if (kind === 'depthwise') {
      return 'sparsegpt cannot prune depthwise layers: each row sees its own input channel, so there is no shared Gram matrix; use magnitude or wanda';
    }
    return true;
  },
  prune(request) {
    checkRequest(sparsegpt, request);
    if (!request.stats) {
      throw new UnsupportedPruningError('sparsegpt needs calibration statistics with the Gram matrix XᵀX (stats.gram); give it calibration data or use magnitude');
    }
    return sparseGpt(request.matrix, request.stats, { sparsity: request.sparsity, pattern: parseNMPattern(request.granularity) });
  },
};
