import * as tf from '@tensorflow/tfjs';
import type { RemovalTarget } from '../removal/types';
import type { SampleData } from './data';
import type { Prunable } from './prunable';

/** Probabilities are floored here before their log is taken, so that a zero stays finite. */
const PROBABILITY_FLOOR = 1e-30;

/**
 * Any kind on the seam as a FinerCut removal target: its removal candidates,
 * its outputs on the first min(128, N) samples in batches of 32 with candidates bypassed
 * (log-probabilities where the model ends in a softmax, which the metrics treat as logits).
 * `async` runs the passes through the kind's `forwardAsync` (graphs with control flow).
 */
export function prunableRemovalTarget(model: Prunable, data: SampleData, options: { batchSize?: number; samples?: number; async?: boolean } = {}): RemovalTarget {
  const [available, ...sampleShape] = data.shape;
  const samples = Math.min(options.samples ?? 128, available);
  const sampleSize = sampleShape.reduce((a, b) => a * b, 1);
  const batchSize = options.batchSize ?? 32;
  const batches = Math.ceil(samples / batchSize);
  const probabilities = model.outputsAreProbabilities?.() ?? false;
  const candidates = model.removalCandidates();
  const input = (batch: number): { tensor: tf.Tensor; count: number } => {
    if (!Number.isInteger(batch) || batch < 0 || batch >= batches) throw new Error(`calibration batch ${batch} does not exist (0…${batches - 1})`);
    const start = batch * batchSize;
    const count = Math.min(batchSize, samples - start);
    return { tensor: tf.tensor(data.inputs.subarray(start * sampleSize, (start + count) * sampleSize), [count, ...sampleShape], 'float32'), count };
  };
  const flat = (output: tf.Tensor, count: number): tf.Tensor =>
    tf.tidy(() => {
      const rows = output.reshape([count, -1]);
      return probabilities ? rows.maximum(PROBABILITY_FLOOR).log() : rows;
    });
  const target: RemovalTarget = {
    batches,
    candidates: () => [...candidates],
    outputs: (bypass, batch = 0) =>
      tf.tidy(() => {
        const { tensor, count } = input(batch);
        return flat(model.forward(tensor, { bypass }), count);
      }),
  };
  const forwardAsync = model.forwardAsync?.bind(model);
  if (options.async === true && forwardAsync) {
    target.outputsAsync = async (bypass, batch = 0) => {
      const { tensor, count } = input(batch);
      const output = await forwardAsync(tensor, { bypass }).finally(() => tensor.dispose());
      const result = flat(output, count);
      output.dispose();
      return result;
    };
  }
  return target;
}
