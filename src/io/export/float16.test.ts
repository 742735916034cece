import { describe, expect, it } from 'vitest';
import { float16BitsToNumber } from '../dequantize';
import { encodeFloat16, float32ToFloat16Bits } from './float16';

const isNaNBits = (bits: number): boolean => (bits & 0x7c00) === 0x7c00 && (bits & 0x3ff) !== 0;

describe('float32ToFloat16Bits', () => {
  it('gives back every half exactly', () => {
    const wrong: number[] = [];
    for (let bits = 0; bits < 0x10000; bits++) {
      if (!isNaNBits(bits) && float32ToFloat16Bits(float16BitsToNumber(bits)) !== bits) wrong.push(bits);
    }
    expect(wrong).toEqual([]);
  });

  it('rounds to the nearest half, ties to even, subnormals included', () => {
    const wrong: number[] = [];
    for (let bits = 0; bits < 0x7bff; bits++) {
      const low = float16BitsToNumber(bits);
      const high = float16BitsToNumber(bits + 1);
      const mid = (low + high) / 2;
      const step = (high - low) / 8;
      const even = bits % 2 === 0 ? bits : bits + 1;
      const ok =
        float32ToFloat16Bits(mid) === even &&
        float32ToFloat16Bits(-mid) === (even | 0x8000) &&
        float32ToFloat16Bits(mid - step) === bits &&
        float32ToFloat16Bits(mid + step) === bits + 1;
      if (!ok) wrong.push(bits);
    }
    expect(wrong).toEqual([]);
  });

  it('handles zeros, overflow, underflow and NaN', () => {
    expect(float32ToFloat16Bits(0)).toBe(0);
    expect(float32ToFloat16Bits(-0)).toBe(0x8000);
    expect(float32ToFloat16Bits(65504)).toBe(0x7bff);
    expect(float32ToFloat16Bits(65519)).toBe(0x7bff);
    expect(float32ToFloat16Bits(65520)).toBe(0x7c00);
    expect(float32ToFloat16Bits(-1e10)).toBe(0xfc00);
    expect(float32ToFloat16Bits(Infinity)).toBe(0x7c00);
    expect(float32ToFloat16Bits(2 ** -25)).toBe(0);
    expect(float32ToFloat16Bits(2 ** -25 * 1.001)).toBe(1);
    expect(float32ToFloat16Bits(1e-30)).toBe(0);
    expect(float32ToFloat16Bits(-1e-40)).toBe(0x8000);
    expect(isNaNBits(float32ToFloat16Bits(NaN))).toBe(true);
  });

  it('encodes arrays', () => {
    expect(Array.from(encodeFloat16(Float32Array.from([1, -2, 0.5, 1 / 3])))).toEqual([0x3c00, 0xc000, 0x3800, 0x3555]);
  });
});
