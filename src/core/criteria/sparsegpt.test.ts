import { describe, expect, it } from 'vitest';
import type { NMPattern } from '../masks';
import { magnitude } from './magnitude';
import { sparseGpt, sparsegpt } from './sparsegpt';
import { correlatedInputs, normalMatrix, reconstructionError, statsOf, zeroCount } from './testing';
import { UnsupportedPruningError, type CalibrationStats, type PruneRequest, type WeightMatrix } from './types';

/** Gauss–Jordan inverse with partial pivoting. */
function invert(a: number[][]): number[][] {
  const n = a.length;
  const m = a.map((row, i) => [...row, ...row.map((_, j) => (i === j ? 1 : 0))]);
  for (let c = 0; c < n; c++) {
    let pivot = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(m[r][c]) > Math.abs(m[pivot][c])) pivot = r;
    [m[c], m[pivot]] = [m[pivot], m[c]];
    const p = m[c][c];
    m[c] = m[c].map((v) => v / p);
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = m[r][c];
      m[r] = m[r].map((v, j) => v - f * m[c][j]);
    }
  }
  return m.map((row) => row.slice(n));
}

/**
 * Optimal Brain Surgeon one column at a time, unblocked: the inverse of H restricted to the columns
 * not yet processed is recomputed from scratch at every step.
 */
function slowSparseGpt(matrix: WeightMatrix, stats: CalibrationStats, sparsity: number, pattern: NMPattern | null, blockSize: number) {
  const { rows, cols } = matrix;
  const h = Array.from({ length: cols }, (_, i) => Array.from({ length: cols }, (_, j) => (2 / stats.samples) * stats.gram![i * cols + j]));
  const dead = h.map((row, j) => row[j] === 0);
  dead.forEach((isDead, j) => isDead && (h[j][j] = 1));
  const damp = (0.01 * h.reduce((sum, row, j) => sum + row[j], 0)) / cols;
  h.forEach((row, j) => (row[j] += damp));
  const tail = (c: number) => h.slice(c).map((row) => row.slice(c));
  const inverseDiagonal = h.map((_, j) => invert(tail(j))[0][0]);
  const w = Array.from({ length: rows }, (_, r) => Array.from({ length: cols }, (_, j) => (dead[j] ? 0 : matrix.values[r * cols + j])));
  const kept = w.map((row) => row.map(() => true));
  const prune = (start: number, end: number, count: number) => {
    for (let r = 0; r < rows; r++) {
      const order = Array.from({ length: end - start }, (_, k) => start + k);
      const score = (j: number) => (w[r][j] * w[r][j]) / inverseDiagonal[j];
      order.sort((a, b) => score(a) - score(b) || a - b);
      for (const j of order.slice(0, count)) kept[r][j] = false;
    }
  };
  for (let c = 0; c < cols; c++) {
    if (!pattern && c % blockSize === 0) {
      const end = Math.min(c + blockSize, cols);
      prune(c, end, Math.floor(sparsity * end) - Math.floor(sparsity * c));
    }
    if (pattern && c % pattern.m === 0) {
      const end = Math.min(c + pattern.m, cols);
      prune(c, end, end - c === pattern.m ? pattern.n : Math.floor((pattern.n * (end - c)) / pattern.m));
    }
    const hinv = invert(tail(c));
    for (let r = 0; r < rows; r++) {
      const q = kept[r][c] ? w[r][c] : 0;
      const error = (w[r][c] - q) / hinv[0][0];
      for (let j = c; j < cols; j++) w[r][j] -= error * hinv[0][j - c];
      w[r][c] = q;
    }
  }
  return { values: w.flat(), mask: kept.flat().map(Number) };
}

function calibration(samples: number, cols: number, seed: number, deadColumns: number[] = []): CalibrationStats {
  const x = correlatedInputs(samples, cols, seed);
  for (let s = 0; s < samples; s++) for (const j of deadColumns) x[s * cols + j] = 0;
  return statsOf(x, samples, cols);
}

const request = (matrix: WeightMatrix, stats: CalibrationStats, sparsity: number, granularity: PruneRequest['granularity']): PruneRequest => ({
  kind: 'dense',
  matrix,
  sparsity,
  granularity,
  stats,
  seed: 0,
});

describe('sparsegpt', () => {
  it('agrees with unblocked OBS using a freshly inverted Hessian at every column', () => {
    const matrix = normalMatrix(3, 10, 21);
    const stats = calibration(64, 10, 22, [4]);
    const cases: [number, NMPattern | null, number][] = [
      [0.5, null, 4],
      [0.3, null, 128],
      [0.7, null, 3],
      [0, { n: 2, m: 4 }, 4],
      [0, { n: 2, m: 4 }, 128],
      [0, { n: 4, m: 8 }, 8],
    ];
    for (const [sparsity, pattern, blockSize] of cases) {
      const fast = sparseGpt(matrix, stats, { sparsity, pattern, blockSize });
      const slow = slowSparseGpt(matrix, stats, sparsity, pattern, blockSize);
      expect(Array.from(fast.mask)).toEqual(slow.mask);
      fast.values.forEach((v, i) => expect(Math.abs(v - slow.values[i])).toBeLessThan(1e-5));
    }
  });

  it('reconstructs X·Wᵀ better than magnitude at 50% and 2:4', () => {
    const [rows, cols, samples] = [16, 32, 256];
    const matrix = normalMatrix(rows, cols, 31);
    const stats = calibration(samples, cols, 32);
    for (const granularity of ['unstructured', '2:4'] as const) {
      const error = (values: Float32Array) => reconstructionError(stats.gram!, matrix.values, values, rows, cols);
      const ours = error(sparsegpt.prune(request(matrix, stats, 0.5, granularity)).values);
      const baseline = error(magnitude.prune(request(matrix, stats, 0.5, granularity)).values);
      expect(ours).toBeLessThan(0.5 * baseline);
    }
  });

  it('prunes ⌊s·cols⌋ per row across blocks and N of every M', () => {
    const [rows, cols] = [4, 300];
    const matrix = normalMatrix(rows, cols, 41);
    const stats = calibration(400, cols, 42);
    for (const s of [0, 0.1, 0.5, 0.95, 1]) {
      const { values, mask } = sparsegpt.prune(request(matrix, stats, s, 'unstructured'));
      for (let r = 0; r < rows; r++) expect(zeroCount(mask, r * cols, (r + 1) * cols)).toBe(Math.floor(s * cols));
      mask.forEach((kept, i) => kept || expect(Object.is(values[i], 0)).toBe(true));
    }
    const { mask } = sparsegpt.prune(request(matrix, stats, 0, '4:8'));
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c += 8) expect(zeroCount(mask, r * cols + c, r * cols + Math.min(c + 8, cols))).toBe(c + 8 <= cols ? 4 : 2);
    }
  });

  it('zeros dead input columns without NaN', () => {
    const matrix = normalMatrix(5, 12, 51);
    const stats = calibration(50, 12, 52, [0, 7]);
    for (const granularity of ['unstructured', '2:4'] as const) {
      const { values } = sparsegpt.prune(request(matrix, stats, 0.25, granularity));
      expect(values.every(Number.isFinite)).toBe(true);
      for (let r = 0; r < 5; r++) expect([values[r * 12], values[r * 12 + 7]]).toEqual([0, 0]);
    }
  });

  it('is deterministic', () => {
    const matrix = normalMatrix(6, 40, 61);
    const stats = calibration(80, 40, 62);
    expect(sparsegpt.prune(request(matrix, stats, 0.6, 'unstructured'))).toEqual(sparsegpt.prune(request(matrix, stats, 0.6, 'unstructured')));
  });

  it('refuses channels and depthwise layers and says what is missing', () => {
    expect(sparsegpt.supports('dense', 'channels')).toMatch(/sparsegpt with channels makes no sense/);
    expect(sparsegpt.supports('depthwise', 'unstructured')).toMatch(/depthwise/);
    expect(sparsegpt.supports('conv', '2:4')).toBe(true);
    const matrix = normalMatrix(2, 4, 71);
    const stats = calibration(8, 4, 72);
    expect(() => sparsegpt.prune(request(matrix, stats, 0.5, 'channels'))).toThrow(UnsupportedPruningError);
    expect(() => sparsegpt.prune(request(matrix, { samples: 8, inputNormsSq: new Float64Array(4) }, 0.5, 'unstructured'))).toThrow(/stats\.gram/);
    expect(() => sparsegpt.prune({ ...request(matrix, stats, 0.5, 'unstructured'), stats: undefined })).toThrow(UnsupportedPruningError);
    const broken = { ...stats, gram: stats.gram!.map((v, i) => (i === 5 ? NaN : v)) };
    expect(() => sparsegpt.prune(request(matrix, broken, 0.5, 'unstructured'))).toThrow(/not positive definite/);
  });
});
