import { describe, expect, it } from 'vitest';
import { GRANULARITIES, type PruneRequest, type WeightMatrix } from './types';
import { magnitude } from './magnitude';
import { normalMatrix, weightMatrix, zeroCount } from './testing';

function request(matrix: WeightMatrix, sparsity: number, granularity: PruneRequest['granularity'] = 'unstructured'): PruneRequest {
  return { kind: 'dense', matrix, sparsity, granularity, seed: 0 };
}

describe('magnitude', () => {
  const w = weightMatrix(2, 4, [4, -1, 3, -2, 0.5, -6, 5, 7]);

  it('prunes the lowest |W| of the whole layer', () => {
    const result = magnitude.prune(request(w, 0.5));
    expect(Array.from(result.mask)).toEqual([1, 0, 0, 0, 0, 1, 1, 1]);
    expect(Array.from(result.values)).toEqual([4, 0, 0, 0, 0, -6, 5, 7]);
    expect(Object.is(result.values[1], 0)).toBe(true);
  });

  it('prunes equal magnitudes lowest flat index first', () => {
    const ties = weightMatrix(2, 4, [1, -1, 1, -1, 2, 2, 2, 2]);
    expect(Array.from(magnitude.prune(request(ties, 0.25)).mask)).toEqual([0, 0, 1, 1, 1, 1, 1, 1]);
    expect(Array.from(magnitude.prune(request(ties, 0.75)).mask)).toEqual([0, 0, 0, 0, 0, 0, 1, 1]);
  });

  it('prunes 2:4 within rows and channels by row norm', () => {
    expect(Array.from(magnitude.prune(request(w, 0, '2:4')).mask)).toEqual([1, 0, 1, 0, 0, 1, 0, 1]);
    expect(Array.from(magnitude.prune(request(w, 0.5, 'channels')).mask)).toEqual([0, 0, 0, 0, 1, 1, 1, 1]);
  });

  it('hits the target within one weight on random matrices', () => {
    const matrix = normalMatrix(17, 29, 5);
    for (const s of [0, 0.1, 0.5, 0.95, 1]) {
      const { values, mask } = magnitude.prune(request(matrix, s));
      expect(Math.abs(zeroCount(mask) - s * 17 * 29)).toBeLessThan(1);
      expect(zeroCount(values)).toBe(zeroCount(mask));
    }
  });

  it('supports every kind and granularity and is deterministic', () => {
    for (const granularity of GRANULARITIES) {
      expect(magnitude.supports('depthwise', granularity)).toBe(true);
      const depthwise: PruneRequest = { ...request(normalMatrix(6, 9, 1), 0.5, granularity), kind: 'depthwise' };
      expect(magnitude.prune(depthwise)).toEqual(magnitude.prune(depthwise));
    }
  });

  it('rejects a sparsity outside [0, 1] and a matrix of the wrong size', () => {
    expect(() => magnitude.prune(request(w, -0.1))).toThrow(RangeError);
    expect(() => magnitude.prune(request({ rows: 3, cols: 4, values: w.values }, 0.5))).toThrow(/expected 3×4/);
  });
});

describe('magnitude on a stored kernel', () => {
  /** The kernel of W (rows × cols) as stored: W's transpose, or W itself. */
  function stored(matrix: WeightMatrix, transposed: boolean): Float32Array {
    if (transposed) return matrix.values.slice();
    const out = new Float32Array(matrix.values.length);
    for (let r = 0; r < matrix.rows; r++) for (let c = 0; c < matrix.cols; c++) out[c * matrix.rows + r] = matrix.values[r * matrix.cols + c];
    return out;
  }

  /** A 128 × 160 layer whose values come from `value(i)`: large enough for the stored path. */
  function layer(value: (i: number) => number): WeightMatrix {
    return weightMatrix(
      128,
      160,
      Array.from({ length: 128 * 160 }, (_, i) => value(i)),
    );
  }

  const layers: Record<string, WeightMatrix> = {
    normal: normalMatrix(128, 160, 7),
    // Eight distinct magnitudes of both signs: most thresholds fall inside a run of equal magnitudes.
    'quantized, with ties': layer((i) => (((i * 7919) % 8) - 4) / 4),
    'with NaN and ±Infinity': layer((i) => (i % 97 === 0 ? NaN : i % 89 === 0 ? (i % 2 ? Infinity : -Infinity) : Math.sin(i))),
    'NaN over a third': layer((i) => (i % 3 === 0 ? NaN : i % 5)),
  };

  for (const [name, w] of Object.entries(layers)) {
    for (const transposed of [false, true]) {
      it(`gives the scored path's weights bit for bit: ${name}${transposed ? ', stored as W' : ''}`, () => {
        for (const sparsity of [0, 0.1, 0.3, 0.5, 0.77, 0.9, 1]) {
          const scored = magnitude.prune(request(w, sparsity)).values;
          const kernel = magnitude.pruneStored?.({ kernel: stored(w, transposed), rows: w.rows, cols: w.cols, transposed, sparsity, granularity: 'unstructured' });
          expect(kernel).toBeDefined();
          const want = Buffer.from(stored({ ...w, values: scored }, transposed).buffer);
          expect(Buffer.from((kernel as Float32Array).buffer).equals(want), `sparsity ${sparsity}`).toBe(true);
        }
      });
    }
  }

  it('leaves small layers and other granularities to the scored path', () => {
    const small = normalMatrix(8, 8, 1);
    expect(magnitude.pruneStored?.({ kernel: small.values, rows: 8, cols: 8, transposed: false, sparsity: 0.5, granularity: 'unstructured' })).toBeUndefined();
    const big = layers.normal;
    expect(magnitude.pruneStored?.({ kernel: big.values, rows: big.rows, cols: big.cols, transposed: false, sparsity: 0.5, granularity: '2:4' })).toBeUndefined();
  });
});
