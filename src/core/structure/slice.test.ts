import { describe, expect, it } from 'vitest';
import { removeIndices } from './slice';

describe('removeIndices', () => {
  it('removes indices along several axes of a row-major array', () => {
    // [2, 3, 2]: value = 100·i + 10·j + k
    const values = Float32Array.from({ length: 12 }, (_, n) => 100 * Math.floor(n / 6) + 10 * (Math.floor(n / 2) % 3) + (n % 2));
    const { shape, values: out } = removeIndices(
      values,
      [2, 3, 2],
      new Map([
        [1, new Set([1])],
        [2, new Set([0])],
      ]),
    );
    expect(shape).toEqual([2, 2, 1]);
    expect(Array.from(out)).toEqual([1, 21, 101, 121]);
  });

  it('keeps the dtype and copies when nothing goes', () => {
    const values = Int32Array.from([1, 2, 3]);
    const result = removeIndices(values, [3], new Map());
    expect(result.values).toBeInstanceOf(Int32Array);
    expect(result.values).not.toBe(values);
    expect(Array.from(result.values)).toEqual([1, 2, 3]);
  });

  it('rejects a shape that does not fit the values or an axis outside it', () => {
    expect(() => removeIndices(new Float32Array(5), [2, 3], new Map())).toThrow(/expected 6 values/);
    expect(() => removeIndices(new Float32Array(6), [2, 3], new Map([[2, new Set([0])]]))).toThrow(/axis 2/);
  });
});
