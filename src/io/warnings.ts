import type { OpenedModel } from './types';

function countNonFinite(values: Float32Array): { nan: number; inf: number } {
  let nan = 0;
  let inf = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (Number.isNaN(v)) nan++;
    else if (v === Infinity || v === -Infinity) inf++;
  }
  return { nan, inf };
}

function describe(name: string, counts: { nan: number; inf: number }): string {
  const parts = [counts.nan > 0 ? `${counts.nan} NaN` : '', counts.inf > 0 ? `${counts.inf} ±Infinity` : ''].filter((p) => p !== '');
  return `weight ${name} holds ${parts.join(' and ')} values: evaluations of this model are not meaningful until they are fixed`;
}

/** The model's float32 weights by name, as opened (every kind). */
function* floatWeights(opened: OpenedModel): Generator<[string, Float32Array]> {
  if (opened.transformer) {
    for (const [name, tensor] of opened.transformer.tensors) yield [name, tensor.values];
    return;
  }
  const specs = opened.artifacts.weightSpecs ?? [];
  const data = opened.artifacts.weightData;
  if (data === undefined) return;
  const buffers = Array.isArray(data) ? data : [data];
  const total = buffers.reduce((n, b) => n + b.byteLength, 0);
  const joined = buffers.length === 1 ? new Uint8Array(buffers[0]) : new Uint8Array(total);
  if (buffers.length > 1) buffers.reduce((offset, b) => (joined.set(new Uint8Array(b), offset), offset + b.byteLength), 0);
  let offset = 0;
  for (const spec of specs) {
    const count = spec.shape.reduce((a, b) => a * b, 1);
    const bytes = spec.dtype === 'float32' || spec.dtype === 'int32' ? 4 : spec.dtype === 'bool' ? 1 : 4;
    if (spec.dtype === 'float32' && offset % 4 === 0) yield [spec.name, new Float32Array(joined.buffer, joined.byteOffset + offset, count)];
    else if (spec.dtype === 'float32') yield [spec.name, new Float32Array(joined.slice(offset, offset + 4 * count).buffer)];
    offset += count * bytes;
  }
}

/** One warning per weight that holds NaN or ±Infinity (DESIGN §6 `warnings`): the model still opens. */
export function nonFiniteWeightWarnings(opened: OpenedModel): string[] {
  const warnings: string[] = [];
  for (const [name, values] of floatWeights(opened)) {
    const warning = nonFiniteWeightWarning(name, values);
    if (warning !== undefined) warnings.push(warning);
  }
  return warnings;
}

/** The warning for one weight's values when they hold NaN or ±Infinity (as `nonFiniteWeightWarnings` gives it), else undefined. */
export function nonFiniteWeightWarning(name: string, values: Float32Array): string | undefined {
  const counts = countNonFinite(values);
  return counts.nan > 0 || counts.inf > 0 ? describe(name, counts) : undefined;
}

/** A warning when dataset inputs hold NaN or ±Infinity (JSON numbers such as 1e999 parse to Infinity). */
export function nonFiniteInputWarnings(source: string, inputs: Float32Array): string[] {
  const counts = countNonFinite(inputs);
  if (counts.nan === 0 && counts.inf === 0) return [];
  return [`${source}: ${counts.nan + counts.inf} inputs are NaN or ±Infinity: the metrics on this data are not meaningful`];
}
