import { mulberry32, normalGenerator } from '../data/synthetic';
import type { CalibrationStats, WeightMatrix } from './types';

export function weightMatrix(rows: number, cols: number, values: number[] | Float32Array): WeightMatrix {
  return { rows, cols, values: Float32Array.from(values) };
}

export function normalMatrix(rows: number, cols: number, seed: number): WeightMatrix {
  const next = normalGenerator(mulberry32(seed));
  return weightMatrix(rows, cols, Array.from({ length: rows * cols }, next));
}

/**
 * Calibration inputs with strongly correlated columns, like a layer's activations: X = Z·A + 0.3·E
 * with Z (samples × latent), A (latent × cols) and E standard normal, latent = ⌈cols/4⌉.
 */
export function correlatedInputs(samples: number, cols: number, seed: number): Float64Array {
  const next = normalGenerator(mulberry32(seed));
  const latent = Math.ceil(cols / 4);
  const z = Float64Array.from({ length: samples * latent }, next);
  const a = Float64Array.from({ length: latent * cols }, next);
  const x = new Float64Array(samples * cols);
  for (let s = 0; s < samples; s++) {
    for (let j = 0; j < cols; j++) {
      let value = 0.3 * next();
      for (let k = 0; k < latent; k++) value += z[s * latent + k] * a[k * cols + j];
      x[s * cols + j] = value;
    }
  }
  return x;
}

/** Σ X_ij², XᵀX and the sample count of an X of `samples` rows. */
export function statsOf(x: Float64Array, samples: number, cols: number): CalibrationStats {
  const gram = new Float64Array(cols * cols);
  const inputNormsSq = new Float64Array(cols);
  for (let s = 0; s < samples; s++) {
    for (let i = 0; i < cols; i++) {
      const xi = x[s * cols + i];
      inputNormsSq[i] += xi * xi;
      for (let j = 0; j < cols; j++) gram[i * cols + j] += xi * x[s * cols + j];
    }
  }
  return { samples, inputNormsSq, gram };
}

/** ‖X·Wᵀ − X·Ŵᵀ‖² = Σ_rows δᵀ·XᵀX·δ with δ a row of W − Ŵ. */
export function reconstructionError(gram: Float64Array, dense: Float32Array, pruned: Float32Array, rows: number, cols: number): number {
  let total = 0;
  for (let r = 0; r < rows; r++) {
    for (let i = 0; i < cols; i++) {
      const di = dense[r * cols + i] - pruned[r * cols + i];
      for (let j = 0; j < cols; j++) total += di * gram[i * cols + j] * (dense[r * cols + j] - pruned[r * cols + j]);
    }
  }
  return total;
}

export function zeroCount(values: ArrayLike<number>, start = 0, end = values.length): number {
  let count = 0;
  for (let i = start; i < end; i++) if (values[i] === 0) count++;
  return count;
}
