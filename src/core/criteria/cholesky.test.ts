import { describe, expect, it } from 'vitest';
import { choleskyLower, invertLower, NotPositiveDefiniteError, upperCholeskyOfInverse } from './cholesky';
import { correlatedInputs, statsOf } from './testing';

function spd(n: number): Float64Array {
  const gram = statsOf(correlatedInputs(40, n, 4), 40, n).gram!;
  for (let i = 0; i < n; i++) gram[i * n + i] += 1;
  return gram;
}

function product(a: Float64Array, b: Float64Array, n: number, transposeA = false): Float64Array {
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let sum = 0;
      for (let k = 0; k < n; k++) sum += (transposeA ? a[k * n + i] : a[i * n + k]) * b[k * n + j];
      out[i * n + j] = sum;
    }
  }
  return out;
}

function expectIdentity(m: Float64Array, n: number): void {
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) expect(m[i * n + j]).toBeCloseTo(i === j ? 1 : 0, 10);
}

describe('cholesky', () => {
  const n = 7;
  const a = spd(n);

  it('factors A = L·Lᵀ and inverts L', () => {
    const l = choleskyLower(a, n);
    const lt = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) lt[i * n + j] = l[j * n + i];
    const back = product(l, lt, n);
    for (let i = 0; i < n * n; i++) expect(back[i]).toBeCloseTo(a[i], 10);
    expectIdentity(product(invertLower(l, n), l, n), n);
  });

  it('gives the upper U with Uᵀ·U = A⁻¹', () => {
    const u = upperCholeskyOfInverse(a, n);
    for (let i = 0; i < n; i++) {
      expect(u[i * n + i]).toBeGreaterThan(0);
      for (let j = 0; j < i; j++) expect(u[i * n + j]).toBe(0);
    }
    expectIdentity(product(product(u, u, n, true), a, n), n);
  });

  it('refuses a matrix that is not positive definite', () => {
    expect(() => choleskyLower(Float64Array.from([1, 2, 2, 1]), 2)).toThrow(NotPositiveDefiniteError);
  });
});
