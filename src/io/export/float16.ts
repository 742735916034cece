const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** Rounds `shifted + remainder / 2^bits` to the nearest integer, ties to even. */
function roundHalfEven(shifted: number, remainder: number, bits: number): number {
  const half = 2 ** (bits - 1);
  return remainder > half || (remainder === half && (shifted & 1) === 1) ? shifted + 1 : shifted;
}

/**
 * The IEEE 754 half-precision bits nearest to a float32 (ties to even, as numpy's
 * `astype(float16)` and the TF.js converter's `--quantize_float16`): overflow gives ±Infinity,
 * tiny values go subnormal or to ±0, NaN stays NaN.
 */
export function float32ToFloat16Bits(value: number): number {
  f32[0] = value;
  const bits = u32[0];
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff;
  const mantissa = bits & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa === 0 ? 0 : 0x200 | (mantissa >>> 13));
  const halfExponent = exponent - 127 + 15;
  if (halfExponent >= 0x1f) return sign | 0x7c00;
  if (halfExponent <= 0) {
    const shift = 126 - exponent;
    if (shift > 24) return sign;
    const full = mantissa | 0x800000;
    return sign | roundHalfEven(full >>> shift, full & ((1 << shift) - 1), shift);
  }
  return sign | roundHalfEven((halfExponent << 10) | (mantissa >>> 13), mantissa & 0x1fff, 13);
}

export function encodeFloat16(values: Float32Array): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = float32ToFloat16Bits(values[i]);
  return out;
}
