import type * as tf from '@tensorflow/tfjs';
import { weightByteLengthAt, type StoredDtype } from '../../io/manifest';

/** Some of a model's weights: their specs and their bytes, laid out in spec order. */
export interface WeightSubset {
  specs: tf.io.WeightsManifestEntry[];
  data: ArrayBuffer;
}

const DTYPES = new Set(['float32', 'int32', 'bool', 'string', 'complex64']);

function byteLength(spec: tf.io.WeightsManifestEntry, data: Uint8Array, offset: number): number {
  if (!DTYPES.has(spec.dtype) || spec.quantization !== undefined)
    throw new Error(
      `weight ${spec.name}: expected decoded float32, int32, bool, string or complex64, got ${spec.dtype}${spec.quantization ? ` quantized to ${spec.quantization.dtype}` : ''}`,
    );
  return weightByteLengthAt({ name: spec.name, shape: spec.shape, dtype: spec.dtype as StoredDtype }, data, offset);
}

function joined(data: tf.io.WeightData): Uint8Array {
  if (!Array.isArray(data)) return new Uint8Array(data);
  const out = new Uint8Array(data.reduce((sum, buffer) => sum + buffer.byteLength, 0));
  let offset = 0;
  for (const buffer of data) {
    out.set(new Uint8Array(buffer), offset);
    offset += buffer.byteLength;
  }
  return out;
}

/** Splits decoded weights (OpenedModel artifacts) into those `isMain` accepts and the rest, each with its own bytes. */
export function splitWeights(
  specs: readonly tf.io.WeightsManifestEntry[],
  data: tf.io.WeightData,
  isMain: (name: string) => boolean,
): { main: WeightSubset; rest: WeightSubset; all: WeightSubset } {
  const bytes = joined(data);
  const parts = { main: [] as [tf.io.WeightsManifestEntry, number, number][], rest: [] as [tf.io.WeightsManifestEntry, number, number][] };
  let offset = 0;
  for (const spec of specs) {
    const length = byteLength(spec, bytes, offset);
    parts[isMain(spec.name) ? 'main' : 'rest'].push([spec, offset, length]);
    offset += length;
  }
  if (offset !== bytes.byteLength) throw new Error(`the weights need ${offset} bytes, the weight data holds ${bytes.byteLength}`);
  const subset = (list: [tf.io.WeightsManifestEntry, number, number][]): WeightSubset => {
    const out = new Uint8Array(list.reduce((sum, [, , length]) => sum + length, 0));
    let at = 0;
    for (const [, start, length] of list) {
      out.set(bytes.subarray(start, start + length), at);
      at += length;
    }
    return { specs: list.map(([spec]) => ({ ...spec, shape: [...spec.shape] })), data: out.buffer };
  };
  return { main: subset(parts.main), rest: subset(parts.rest), all: { specs: specs.map((spec) => ({ ...spec, shape: [...spec.shape] })), data: bytes.slice().buffer } };
}
