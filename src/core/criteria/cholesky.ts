/**
 * Dense symmetric positive definite algebra in Float64 on row-major n×n arrays, with a fixed order
 * of operations so results are identical in every runtime.
 */

/** Thrown when a matrix that must be positive definite is not. */
export class NotPositiveDefiniteError extends Error {
  constructor(
    readonly column: number,
    readonly pivot: number,
  ) {
    super(`matrix is not positive definite: pivot ${pivot} at column ${column}`);
    this.name = 'NotPositiveDefiniteError';
  }
}

/** The lower triangular L with A = L·Lᵀ. */
export function choleskyLower(a: Float64Array, n: number): Float64Array {
  const l = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    const rowI = i * n;
    for (let j = 0; j <= i; j++) {
      const rowJ = j * n;
      let sum = a[rowI + j];
      for (let k = 0; k < j; k++) sum -= l[rowI + k] * l[rowJ + k];
      if (i === j) {
        if (!(sum > 0)) throw new NotPositiveDefiniteError(i, sum);
        l[rowI + i] = Math.sqrt(sum);
      } else {
        l[rowI + j] = sum / l[rowJ + j];
      }
    }
  }
  return l;
}

/** L⁻¹ of a lower triangular L, by forward substitution one row at a time. */
export function invertLower(l: Float64Array, n: number): Float64Array {
  const x = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    const rowI = i * n;
    for (let k = 0; k < i; k++) {
      const factor = l[rowI + k];
      if (factor === 0) continue;
      const rowK = k * n;
      for (let j = 0; j <= k; j++) x[rowI + j] -= factor * x[rowK + j];
    }
    x[rowI + i] += 1;
    const pivot = l[rowI + i];
    for (let j = 0; j <= i; j++) x[rowI + j] /= pivot;
  }
  return x;
}

/**
 * The upper triangular U with A⁻¹ = Uᵀ·U (the upper Cholesky factor of the inverse), from a single
 * factorisation: with J the reversal permutation, J·A·J = L·Lᵀ gives A = R·Rᵀ for the upper
 * R = J·L·J, so A⁻¹ = (R⁻¹)ᵀ·R⁻¹ and U = R⁻¹ = J·L⁻¹·J.
 */
export function upperCholeskyOfInverse(a: Float64Array, n: number): Float64Array {
  const reversed = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) reversed[i * n + j] = a[(n - 1 - i) * n + (n - 1 - j)];
  }
  const inverse = invertLower(choleskyLower(reversed, n), n);
  const u = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = i; j < n; j++) u[i * n + j] = inverse[(n - 1 - i) * n + (n - 1 - j)];
  }
  return u;
}
