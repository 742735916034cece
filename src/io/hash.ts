import type { OpenedModel } from './types';
import { weightByteLengthAt, type StoredDtype } from './manifest';

/** Hex SHA-256 of some bytes, through Web Crypto (Node 20 and browsers alike). */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const view = bytes.buffer instanceof ArrayBuffer ? new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) : Uint8Array.from(bytes);
  const digest = await globalThis.crypto.subtle.digest('SHA-256', view);
  let hex = '';
  for (const byte of new Uint8Array(digest)) hex += byte.toString(16).padStart(2, '0');
  return hex;
}

const BYTES_PER_ELEMENT: Record<string, number> = { float32: 4, int32: 4, bool: 1, complex64: 8, string: 4 };

/** One weight as `weightsDigest` sees it. */
interface DigestedWeight {
  name: string;
  dtype: string;
  shape: number[];
  bytes: Uint8Array;
}

function joinedWeightData(data: ArrayBuffer | ArrayBuffer[] | undefined): Uint8Array {
  if (data === undefined) return new Uint8Array(0);
  if (!Array.isArray(data)) return new Uint8Array(data);
  if (data.length === 1 && data[0] !== undefined) return new Uint8Array(data[0]);
  const out = new Uint8Array(data.reduce((sum, buffer) => sum + buffer.byteLength, 0));
  let offset = 0;
  for (const buffer of data) {
    out.set(new Uint8Array(buffer), offset);
    offset += buffer.byteLength;
  }
  return out;
}

/** The weights of an opened model in digest order: manifest order, or transformer parameters sorted by name. */
function weightsInOrder(opened: Pick<OpenedModel, 'artifacts' | 'transformer'>): DigestedWeight[] {
  if (opened.transformer !== undefined) {
    const names = [...opened.transformer.tensors.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    return names.map((name) => {
      const { shape, values } = opened.transformer?.tensors.get(name) ?? { shape: [], values: new Float32Array(0) };
      return { name, dtype: 'float32', shape, bytes: new Uint8Array(values.buffer, values.byteOffset, values.byteLength) };
    });
  }
  const data = joinedWeightData(opened.artifacts.weightData);
  const weights: DigestedWeight[] = [];
  let offset = 0;
  for (const spec of opened.artifacts.weightSpecs ?? []) {
    const dtype = spec.dtype ?? 'float32';
    if (BYTES_PER_ELEMENT[dtype] === undefined)
      throw new RangeError(`weightsDigest: weight ${spec.name} has dtype ${String(spec.dtype)}; an opened model holds float32, int32, bool, string and complex64 only`);
    const length = weightByteLengthAt({ name: spec.name, shape: spec.shape, dtype: dtype as StoredDtype }, data, offset);
    if (offset + length > data.byteLength) throw new RangeError(`weightsDigest: weight ${spec.name} runs past the end of the weight data (${data.byteLength} bytes)`);
    weights.push({ name: spec.name, dtype: spec.dtype ?? 'float32', shape: [...spec.shape], bytes: data.subarray(offset, offset + length) });
    offset += length;
  }
  return weights;
}

/**
 * Hex SHA-256 naming a model's weights as opened (recipe.json's `model.weightsSha256`, beside
 * `model.sha256` of model.json/config.json): the weights after dequantization, so a float16 copy
 * and its float32 original differ only where their values do.
 *
 * Order: a LayersModel or GraphModel in its manifest order (`artifacts.weightSpecs`); a transformer's
 * parameters sorted by canonical name (UTF-16 code units). Each weight gives the entry
 * `[name, dtype, shape, hex SHA-256 of its values' bytes]` (little-endian float32, int32 or bool
 * bytes, as held in memory); the digest is the SHA-256 of the UTF-8 bytes of `JSON.stringify` of the
 * list of entries, e.g. `[["dense/kernel","float32",[2,1],"3f…"],["dense/bias","float32",[1],"…"]]`.
 * Hashing each weight on its own buffer keeps memory flat: nothing is copied into one large buffer.
 */
export async function weightsDigest(opened: Pick<OpenedModel, 'artifacts' | 'transformer'>): Promise<string> {
  const entries: [string, string, number[], string][] = [];
  for (const weight of weightsInOrder(opened)) entries.push([weight.name, weight.dtype, weight.shape, await sha256Hex(weight.bytes)]);
  return sha256Hex(new TextEncoder().encode(JSON.stringify(entries)));
}
