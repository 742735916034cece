import * as tf from '@tensorflow/tfjs';
import type { CalibrationStats } from '../criteria/types';
import type { Prunable, PrunableForward } from './prunable';

/** X matrices of at most this many values are reduced at once; larger inputs go in slices of samples. */
const SLICE_VALUES = 1 << 22;

interface Sums {
  rows: number;
  norms: Float64Array;
  gram?: Float64Array;
}

/** Thrown from the input hook to end a pass once every wanted unit has been seen. */
class PassComplete extends Error {}

interface Pending {
  unit: string;
  rows: number;
  norms: tf.Tensor;
  gram?: tf.Tensor;
}

function addInto(total: Float64Array, values: ArrayLike<number>): void {
  for (let i = 0; i < total.length; i++) total[i] += values[i];
}

/**
 * Calibration statistics of `units` (DESIGN §3; criteria/types.ts): one forward pass per batch with
 * `forward`'s kernels and bypasses, each unit's input turned into X by its kind (`inputRows`), and
 * Σ X² per column (and XᵀX for `gram`) summed in float64 over slices and batches. A unit called
 * more than once in a pass counts its first call where the kind is `stoppable` (the pass then ends
 * as soon as every unit has been seen), every call otherwise. The one place
 * every kind's Wanda, SparseGPT and OWL statistics come from.
 */
/**
 * XᵀX through an explicit transpose and a plain product: tfjs-wasm runs a transposed-first product
 * about 15× slower than the plain one.
 */
export function gramOf(x: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => tf.matMul(tf.transpose(x), x));
}

export async function captureStats(
  model: Prunable,
  batches: readonly tf.Tensor[],
  units: ReadonlySet<string>,
  needs: 'norms' | 'gram',
  forward: PrunableForward = {},
): Promise<Map<string, CalibrationStats>> {
  const groups = new Map<string, number | undefined>();
  for (const unit of units) {
    const layout = model.layout(unit);
    if (typeof layout === 'string') throw new Error(`${unit}: ${layout}`);
    groups.set(unit, layout.kind === 'depthwise' ? (layout.channels ?? 1) : undefined);
  }
  const sums = new Map<string, Sums>();
  for (const batch of batches) {
    const pending: Pending[] = [];
    const seen = new Set<string>();
    const onUnitInput = (unit: string, input: tf.Tensor): void => {
      if (!units.has(unit)) return;
      if (model.stoppable && seen.has(unit)) return;
      const samples = input.shape[0] ?? 1;
      const perSample = input.size / Math.max(1, samples);
      const step = Math.max(1, Math.floor(SLICE_VALUES / Math.max(1, perSample * 9)));
      for (let start = 0; start < samples; start += step) {
        const count = Math.min(step, samples - start);
        const slice = count === samples ? input : input.slice(start, count);
        const x = model.inputRows(unit, slice);
        if (slice !== input) slice.dispose();
        const withGram = needs === 'gram' && groups.get(unit) === undefined;
        pending.push({ unit, rows: x.shape[0], norms: tf.keep(tf.tidy(() => x.square().sum(0))), ...(withGram && { gram: tf.keep(gramOf(x)) }) });
        x.dispose();
      }
      seen.add(unit);
      if (model.stoppable && seen.size === units.size) throw new PassComplete();
    };
    try {
      const options = { ...forward, onUnitInput, observe: units };
      try {
        (model.forwardAsync ? await model.forwardAsync(batch, options) : model.forward(batch, options)).dispose();
      } catch (error) {
        if (!(error instanceof PassComplete)) throw error;
      }
      for (const item of pending) {
        const cols = item.norms.size;
        const sum = sums.get(item.unit) ?? { rows: 0, norms: new Float64Array(cols), ...(item.gram && { gram: new Float64Array(cols * cols) }) };
        sum.rows += item.rows;
        addInto(sum.norms, await item.norms.data());
        if (item.gram && sum.gram) addInto(sum.gram, await item.gram.data());
        sums.set(item.unit, sum);
      }
    } finally {
      for (const item of pending) tf.dispose([item.norms, ...(item.gram ? [item.gram] : [])]);
    }
  }
  const stats = new Map<string, CalibrationStats>();
  for (const [unit, sum] of sums) {
    const group = groups.get(unit);
    stats.set(unit, { samples: sum.rows, inputNormsSq: sum.norms, ...(sum.gram && { gram: sum.gram }), ...(group !== undefined && { groups: group }) });
  }
  return stats;
}
