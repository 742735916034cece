import { describe, expect, it } from 'vitest';
import { pruneCount, type NMPattern } from '../masks';
import { magnitude } from './magnitude';
import { sparseGpt, sparsegpt } from './sparsegpt';
import { mulberry32, normalGenerator } from '../data/synthetic';
import { correlatedInputs, normalMatrix, reconstructionError, statsOf, weightMatrix, zeroCount } from './testing';
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
 * Optimal Brain Surgeon one column at a time, unblocked (the mask is still chosen per block of
 * columns, over all rows at once): the inverse of H restricted to the columns
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
  const score = (r: number, j: number) => (w[r][j] * w[r][j]) / inverseDiagonal[j];
  /** The `count` lowest scores of rows × [start, end) together, ties lower flat index first. */
  const pruneBlock = (start: number, end: number, count: number) => {
    const order: [number, number][] = [];
    for (let r = 0; r < rows; r++) for (let j = start; j < end; j++) order.push([r, j]);
    order.sort(([ra, ja], [rb, jb]) => score(ra, ja) - score(rb, jb) || ra * cols + ja - (rb * cols + jb));
    for (const [r, j] of order.slice(0, count)) kept[r][j] = false;
  };
  /** The `count` lowest of each row within [start, end), ties lower column first. */
  const pruneInRows = (start: number, end: number, count: number) => {
    for (let r = 0; r < rows; r++) {
      const order = Array.from({ length: end - start }, (_, k) => start + k);
      order.sort((a, b) => score(r, a) - score(r, b) || a - b);
      for (const j of order.slice(0, count)) kept[r][j] = false;
    }
  };
  for (let c = 0; c < cols; c++) {
    if (!pattern && c % blockSize === 0) {
      const end = Math.min(c + blockSize, cols);
      pruneBlock(c, end, Math.floor(sparsity * rows * end + 1e-9) - Math.floor(sparsity * rows * c + 1e-9));
    }
    if (pattern && c % pattern.m === 0) {
      const end = Math.min(c + pattern.m, cols);
      pruneInRows(c, end, end - c === pattern.m ? pattern.n : Math.floor((pattern.n * (end - c)) / pattern.m));
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

/**
 * IST-DASLab/sparsegpt `SparseGPT.fasterprune` transcribed into plain loops: H⁻¹ by Gauss–Jordan,
 * its upper Cholesky factor by the textbook recurrence, Q1/Err1 per block and the lazy update of the
 * later columns. One deliberate difference: the reference prunes `tmp <= sort(tmp.flatten())[int(numel·s)]`
 * (⌊s·numel⌋ + 1 per block); here a block prunes ⌊s·rows·end⌋ − ⌊s·rows·start⌋, ties lower flat index.
 */
function referenceFasterPrune(matrix: WeightMatrix, stats: CalibrationStats, sparsity: number, pattern: NMPattern | null, blockSize = 128) {
  const { rows, cols } = matrix;
  const gram = stats.gram!;
  const h: number[][] = [];
  for (let i = 0; i < cols; i++) {
    h.push([]);
    for (let j = 0; j < cols; j++) h[i].push((2 / stats.samples) * gram[i * cols + j]);
  }
  const w: number[][] = [];
  for (let r = 0; r < rows; r++) {
    w.push([]);
    for (let j = 0; j < cols; j++) w[r].push(matrix.values[r * cols + j]);
  }
  let meanDiagonal = 0;
  for (let j = 0; j < cols; j++) {
    if (h[j][j] === 0) {
      h[j][j] = 1;
      for (let r = 0; r < rows; r++) w[r][j] = 0;
    }
    meanDiagonal += h[j][j] / cols;
  }
  for (let j = 0; j < cols; j++) h[j][j] += 0.01 * meanDiagonal;

  // H⁻¹, Gauss–Jordan on [H | I] with partial pivoting.
  const aug: number[][] = [];
  for (let i = 0; i < cols; i++) {
    aug.push([]);
    for (let j = 0; j < 2 * cols; j++) aug[i].push(j < cols ? h[i][j] : j - cols === i ? 1 : 0);
  }
  for (let c = 0; c < cols; c++) {
    let pivot = c;
    for (let r = c + 1; r < cols; r++) if (Math.abs(aug[r][c]) > Math.abs(aug[pivot][c])) pivot = r;
    [aug[c], aug[pivot]] = [aug[pivot], aug[c]];
    const p = aug[c][c];
    for (let j = 0; j < 2 * cols; j++) aug[c][j] /= p;
    for (let r = 0; r < cols; r++) {
      const f = aug[r][c];
      if (r === c || f === 0) continue;
      for (let j = 0; j < 2 * cols; j++) aug[r][j] -= f * aug[c][j];
    }
  }
  const hinv = aug.map((row) => row.slice(cols));
  // torch.linalg.cholesky(Hinv, upper=True): Hinv = UᵀU.
  const u: number[][] = [];
  for (let i = 0; i < cols; i++) u.push(new Array<number>(cols).fill(0));
  for (let i = 0; i < cols; i++) {
    let diagonal = hinv[i][i];
    for (let k = 0; k < i; k++) diagonal -= u[k][i] * u[k][i];
    u[i][i] = Math.sqrt(diagonal);
    for (let j = i + 1; j < cols; j++) {
      let sum = hinv[i][j];
      for (let k = 0; k < i; k++) sum -= u[k][i] * u[k][j];
      u[i][j] = sum / u[i][i];
    }
  }

  const pruned: boolean[][] = [];
  for (let r = 0; r < rows; r++) pruned.push(new Array<boolean>(cols).fill(false));
  for (let i1 = 0; i1 < cols; i1 += blockSize) {
    const i2 = Math.min(i1 + blockSize, cols);
    const count = i2 - i1;
    const w1 = w.map((row) => row.slice(i1, i2));
    const q1 = w.map(() => new Array<number>(count).fill(0));
    const err1 = w.map(() => new Array<number>(count).fill(0));
    const mask1 = w.map(() => new Array<boolean>(count).fill(false));
    if (!pattern) {
      const tmp: { value: number; flat: number; r: number; i: number }[] = [];
      for (let r = 0; r < rows; r++) {
        for (let i = 0; i < count; i++) tmp.push({ value: w1[r][i] ** 2 / u[i1 + i][i1 + i] ** 2, flat: r * cols + i1 + i, r, i });
      }
      tmp.sort((a, b) => a.value - b.value || a.flat - b.flat);
      const prunes = Math.floor(sparsity * rows * i2 + 1e-9) - Math.floor(sparsity * rows * i1 + 1e-9);
      for (const { r, i } of tmp.slice(0, prunes)) mask1[r][i] = true;
    }
    for (let i = 0; i < count; i++) {
      const d = u[i1 + i][i1 + i];
      if (pattern && i % pattern.m === 0) {
        const end = Math.min(i + pattern.m, count);
        const n = end - i === pattern.m ? pattern.n : Math.floor((pattern.n * (end - i)) / pattern.m);
        for (let r = 0; r < rows; r++) {
          const group: { value: number; i: number }[] = [];
          for (let k = i; k < end; k++) group.push({ value: w1[r][k] ** 2 / u[i1 + k][i1 + k] ** 2, i: k });
          group.sort((a, b) => a.value - b.value || a.i - b.i);
          for (const { i: k } of group.slice(0, n)) mask1[r][k] = true;
        }
      }
      for (let r = 0; r < rows; r++) {
        const q = mask1[r][i] ? 0 : w1[r][i];
        q1[r][i] = q;
        const e = (w1[r][i] - q) / d;
        for (let k = i; k < count; k++) w1[r][k] -= e * u[i1 + i][i1 + k];
        err1[r][i] = e;
      }
    }
    for (let r = 0; r < rows; r++) {
      for (let i = 0; i < count; i++) {
        w[r][i1 + i] = q1[r][i];
        pruned[r][i1 + i] = mask1[r][i];
      }
      for (let j = i2; j < cols; j++) {
        let sum = 0;
        for (let i = 0; i < count; i++) sum += err1[r][i] * u[i1 + i][j];
        w[r][j] -= sum;
      }
    }
  }
  return { values: w.flat(), mask: pruned.flat().map((p) => (p ? 0 : 1)) };
}

/** A Gram matrix XᵀX of standard normal X (samples × cols), some columns dead (all zero). */
function randomGram(samples: number, cols: number, seed: number, deadColumns: number[] = []): CalibrationStats {
  const next = normalGenerator(mulberry32(seed));
  const x = Float64Array.from({ length: samples * cols }, next);
  for (let s = 0; s < samples; s++) for (const j of deadColumns) x[s * cols + j] = 0;
  return statsOf(x, samples, cols);
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

  it('matches a loop transcription of the reference fasterprune on 6×300 (three blocks)', () => {
    const [rows, cols] = [6, 300];
    const stats = randomGram(600, cols, 81, [17, 250]);
    const plain = normalMatrix(rows, cols, 82);
    // Row 0 ten times larger: a per-block threshold prunes it far less than ⌊s·cols⌋, a per-row one would not.
    const loud = weightMatrix(
      rows,
      cols,
      plain.values.map((v, i) => (i < cols ? 10 * v : v)),
    );
    const cases: [WeightMatrix, number, NMPattern | null][] = [
      [plain, 0.5, null],
      [loud, 0.5, null],
      [loud, 0.3, null],
      [plain, 0, { n: 2, m: 4 }],
      [loud, 0, { n: 4, m: 8 }],
    ];
    for (const [matrix, sparsity, pattern] of cases) {
      const fast = sparseGpt(matrix, stats, { sparsity, pattern });
      const reference = referenceFasterPrune(matrix, stats, sparsity, pattern);
      expect(Array.from(fast.mask)).toEqual(reference.mask);
      fast.values.forEach((v, i) => expect(Math.abs(v - reference.values[i])).toBeLessThan(1e-4));
    }
    const { mask } = sparseGpt(loud, stats, { sparsity: 0.5 });
    expect(zeroCount(mask, 0, cols)).toBeLessThan(0.5 * Math.floor(0.5 * cols));
    expect(zeroCount(mask)).toBe(Math.floor(0.5 * rows * cols));
  });

  it('prunes ⌊s·rows·cols⌋ per layer, each block its share, and N of every M per row', () => {
    const [rows, cols] = [4, 300];
    const matrix = normalMatrix(rows, cols, 41);
    const stats = calibration(400, cols, 42);
    for (const s of [0, 0.1, 0.3, 0.5, 0.95, 1]) {
      const { values, mask } = sparsegpt.prune(request(matrix, stats, s, 'unstructured'));
      expect(zeroCount(mask)).toBe(pruneCount(s, rows * cols));
      for (const [start, end] of [
        [0, 128],
        [128, 256],
        [256, 300],
      ]) {
        let zeros = 0;
        for (let r = 0; r < rows; r++) zeros += zeroCount(mask, r * cols + start, r * cols + end);
        expect(zeros).toBe(pruneCount(s, rows * end) - pruneCount(s, rows * start));
      }
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
