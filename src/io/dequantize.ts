import { hasStrings, weightByteLengthAt, type WeightSpec } from './manifest';

/** Decoded weight specs: no quantization, float32/int32/bool (and a GraphModel's string/complex64 weights as stored). */
export type DecodedWeightSpec = Omit<WeightSpec, 'quantization'>;

/** IEEE 754 half-precision bits → the number they encode (subnormals, ±0, ±Infinity and NaN included). */
export function float16BitsToNumber(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 0x1f) return fraction === 0 ? sign * Infinity : NaN;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

export function decodeFloat16(values: Uint16Array): Float32Array {
  const out = new Float32Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = float16BitsToNumber(values[i] ?? 0);
  return out;
}

/** Affine uint8/uint16 dequantization as tfjs does it: `value * scale + min`, rounded into float32. */
export function dequantizeAffine(values: Uint8Array | Uint16Array, scale: number, min: number): Float32Array {
  const out = new Float32Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = (values[i] ?? 0) * scale + min;
  return out;
}

/** Integer weights stored as uint8/uint16: tfjs rounds `value * scale + min` to the nearest integer. */
function dequantizeAffineInt(values: Uint8Array | Uint16Array, scale: number, min: number): Int32Array {
  const out = new Int32Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = Math.round((values[i] ?? 0) * scale + min);
  return out;
}

function copyBytes(source: Uint8Array, start: number, length: number): ArrayBuffer {
  const copy = new Uint8Array(length);
  copy.set(source.subarray(start, start + length));
  return copy.buffer;
}

function decodeQuantized(spec: WeightSpec, stored: ArrayBuffer): Uint8Array {
  const quantization = spec.quantization;
  if (quantization === undefined) return new Uint8Array(stored);
  if (quantization.dtype === 'float16') return new Uint8Array(decodeFloat16(new Uint16Array(stored)).buffer);
  const values = quantization.dtype === 'uint8' ? new Uint8Array(stored) : new Uint16Array(stored);
  const scale = quantization.scale ?? 1;
  const min = quantization.min ?? 0;
  const decoded = spec.dtype === 'int32' ? dequantizeAffineInt(values, scale, min) : dequantizeAffine(values, scale, min);
  return new Uint8Array(decoded.buffer);
}

/**
 * Decodes the concatenated weight data of `specs` (laid out in order, quantized or not) into
 * plain float32/int32/bool data and specs without quantization.
 */
export function dequantizeWeights(specs: readonly WeightSpec[], data: Uint8Array): { specs: DecodedWeightSpec[]; data: ArrayBuffer } {
  const chunks: Uint8Array[] = [];
  const decodedSpecs: DecodedWeightSpec[] = [];
  let readOffset = 0;
  for (const spec of specs) {
    const storedLength = weightByteLengthAt(spec, data, readOffset);
    if (readOffset + storedLength > data.byteLength) {
      throw new RangeError(`weight "${spec.name}" ends at byte ${readOffset + storedLength} but the weight data has ${data.byteLength}`);
    }
    chunks.push(spec.quantization === undefined ? data.subarray(readOffset, readOffset + storedLength) : decodeQuantized(spec, copyBytes(data, readOffset, storedLength)));
    readOffset += storedLength;
    const plain: DecodedWeightSpec = { name: spec.name, shape: [...spec.shape], dtype: spec.dtype };
    if (spec.group !== undefined) plain.group = spec.group;
    decodedSpecs.push(plain);
  }
  if (hasStrings(specs) && readOffset !== data.byteLength) {
    throw new RangeError(`the weights (strings included) take ${readOffset} bytes but the weight data has ${data.byteLength}`);
  }
  const out = new Uint8Array(chunks.reduce((sum, chunk) => sum + chunk.byteLength, 0));
  let writeOffset = 0;
  for (const chunk of chunks) {
    out.set(chunk, writeOffset);
    writeOffset += chunk.byteLength;
  }
  return { specs: decodedSpecs, data: out.buffer };
}
