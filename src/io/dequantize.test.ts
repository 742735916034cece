import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { decodeFloat16, dequantizeAffine, dequantizeWeights, float16BitsToNumber } from './dequantize';
import type { WeightSpec } from './manifest';

describe('float16BitsToNumber', () => {
  it.each(
    [
      [0x3c00, 1],
      [0xc000, -2],
      [0x7bff, 65504],
      [0x0001, 2 ** -24],
      [0x03ff, 1023 * 2 ** -24],
      [0x0400, 2 ** -14],
      [0x3555, 0.333251953125],
      [0x7c00, Infinity],
      [0xfc00, -Infinity],
      [0x0000, 0],
    ].map(([bits, value]) => ({ hex: `0x${(bits ?? 0).toString(16).padStart(4, '0')}`, bits: bits ?? 0, value })),
  )('$hex decodes to $value', ({ bits, value }) => {
    expect(float16BitsToNumber(bits)).toBe(value);
  });

  it('keeps the sign of zero and decodes NaNs', () => {
    expect(Object.is(float16BitsToNumber(0x8000), -0)).toBe(true);
    expect(float16BitsToNumber(0x7e00)).toBeNaN();
    expect(float16BitsToNumber(0xfc01)).toBeNaN();
  });

  it('matches tfjs for every one of the 65536 half values', () => {
    const all = new Uint16Array(65536).map((_, i) => i);
    const ours = decodeFloat16(all);
    const decoded = tf.io.decodeWeights(all.buffer, [{ name: 'w', shape: [65536], dtype: 'float32', quantization: { dtype: 'float16' } }]);
    const theirs = decoded['w']?.dataSync() ?? new Float32Array(0);
    tf.dispose(Object.values(decoded));
    let mismatches = 0;
    for (let i = 0; i < 65536; i++) if (!Object.is(ours[i], theirs[i]) && !(Number.isNaN(ours[i]) && Number.isNaN(theirs[i]))) mismatches++;
    expect(mismatches).toBe(0);
  });
});

describe('dequantizeAffine', () => {
  it('computes value * scale + min', () => {
    expect(Array.from(dequantizeAffine(Uint8Array.from([0, 1, 255]), 0.5, -1))).toEqual([-1, -0.5, 126.5]);
    expect(Array.from(dequantizeAffine(Uint16Array.from([0, 2, 65535]), 0.25, 1))).toEqual([1, 1.5, 16384.75]);
  });

  it('rounds into float32 like tfjs', () => {
    expect(dequantizeAffine(Uint8Array.from([3]), 0.1, 0)[0]).toBe(Math.fround(0.30000000000000004));
  });
});

describe('dequantizeWeights', () => {
  it('decodes mixed quantized and plain weights laid out back to back, unaligned', () => {
    const specs: WeightSpec[] = [
      { name: 'a', shape: [3], dtype: 'float32', quantization: { dtype: 'uint8', scale: 0.5, min: -1 } },
      { name: 'b', shape: [2], dtype: 'float32' },
      { name: 'c', shape: [1], dtype: 'float32', quantization: { dtype: 'float16' } },
      { name: 'd', shape: [2], dtype: 'int32', quantization: { dtype: 'uint16', scale: 0.4, min: 0 } },
      { name: 'e', shape: [2], dtype: 'int32' },
    ];
    const bytes = new Uint8Array(3 + 8 + 2 + 4 + 8);
    const view = new DataView(bytes.buffer);
    bytes.set([0, 1, 255], 0);
    view.setFloat32(3, 1.5, true);
    view.setFloat32(7, -2.25, true);
    view.setUint16(11, 0xc000, true);
    view.setUint16(13, 5, true);
    view.setUint16(15, 6, true);
    view.setInt32(17, -7, true);
    view.setInt32(21, 9, true);

    const decoded = dequantizeWeights(specs, bytes);
    expect(decoded.specs.map((s) => [s.name, s.dtype, 'quantization' in s])).toEqual([
      ['a', 'float32', false],
      ['b', 'float32', false],
      ['c', 'float32', false],
      ['d', 'int32', false],
      ['e', 'int32', false],
    ]);
    expect(Array.from(new Float32Array(decoded.data, 0, 6))).toEqual([-1, -0.5, 126.5, 1.5, -2.25, -2]);
    expect(Array.from(new Int32Array(decoded.data, 24, 4))).toEqual([2, 2, -7, 9]);
  });

  it('refuses data shorter than the specs', () => {
    expect(() => dequantizeWeights([{ name: 'w', shape: [4], dtype: 'float32' }], new Uint8Array(12))).toThrow(/"w" ends at byte 16/);
  });
});
