import { scoringCriterion } from './request';
import { UnsupportedPruningError, type CalibrationStats, type LayerKind, type WeightMatrix } from './types';

/**
 * Where a row's input norms start in `inputNormsSq`: 0 for dense and conv (entry j is column j);
 * c·cols for depthwise row r = c·m + k, whose inputs are those of channel c.
 */
function normOffset(kind: LayerKind, matrix: WeightMatrix, stats: CalibrationStats): (row: number) => number {
  const { rows, cols } = matrix;
  const have = stats.inputNormsSq.length;
  if (kind !== 'depthwise') {
    if (have !== cols) throw new RangeError(`wanda: inputNormsSq has ${have} values, expected one per input column (${cols})`);
    return () => 0;
  }
  const channels = stats.groups;
  if (channels === undefined || !Number.isInteger(channels) || channels <= 0 || rows % channels !== 0) {
    throw new RangeError(`wanda: a depthwise layer needs stats.groups = its input channels dividing ${rows} rows, got ${String(channels)}`);
  }
  if (have !== channels * cols) {
    throw new RangeError(`wanda: inputNormsSq has ${have} values, expected channels × cols = ${channels}×${cols}`);
  }
  const multiplier = rows / channels;
  return (row) => Math.floor(row / multiplier) * cols;
}

/** S_ij = |W_ij|·‖X_:,j‖₂ (Sun et al. 2023). */
export function wandaScores(kind: LayerKind, matrix: WeightMatrix, stats: CalibrationStats): Float64Array {
  const { rows, cols, values } = matrix;
  const offset = normOffset(kind, matrix, stats);
  const norms = stats.inputNormsSq.map((normSq) => Math.sqrt(normSq));
  const out = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const base = offset(r);
    for (let j = 0; j < cols; j++) out[r * cols + j] = Math.abs(values[r * cols + j]) * norms[base + j];
  }
  return out;
}

/**
 * Wanda: unstructured compares within each output row (⌊s·cols⌋ pruned per row), N:M within rows,
 * channels by the L2 norm of each row of S.
 */
export const wanda = scoringCriterion({
  key: 'wanda',
  needs: 'norms',
  scope: 'row',
  scores(request) {
    if (!request.stats) {
      throw new UnsupportedPruningError('wanda needs calibration input norms (stats.inputNormsSq); give it calibration data or use magnitude');
    }
    return wandaScores(request.kind, request.matrix, request.stats);
  },
});
