import * as tf from '@tensorflow/tfjs';
import type { RemovalTarget } from '../removal/types';
import type { SampleData } from './data';
import type { Prunable } from './prunable';

/** Probabilities are floored here before their log is taken, so that a zero stays finite. */
const PROBABILITY_FLOOR = 1e-30;

/**
 * Any kind with a synchronous forward pass as a FinerCut removal target: its removal candidates,
 * its outputs on the first min(128, N) samples in batches of 32 with candidates bypassed
 * (log-probabilities where the model ends in a softmax, which the metrics treat as logits).
 */
export function prunableRemovalTarget(model: Prunable, data: SampleData, options: { batchSize?: number; samples?: number } = {}): RemovalTarget {
  const [available, ...sampleShape] = data.shape;
  const samples = Math.min(options.samples ?? 128, available);
  const sampleSize = sampleShape.reduce((a, b) => a * b, 1);
  const batchSize = options.batchSize ?? 32;
  const batches = Math.ceil(samples / batchSize);
  const probabilities = model.outputsAreProbabilities?.() ?? false;
  const candidates = model.removalCandidates();
  return {
    batches,
    candidates: () => [...candidates],
    outputs(bypass, batch = 0) {
      if (!Number.isInteger(batch) || batch < 0 || batch >= batches) throw new Error(`calibration batch ${batch} does not exist (0…${batches - 1})`);
      const start = batch * batchSize;
      const count = Math.min(batchSize, samples - start);
      return tf.tidy(() => {
        const input = tf.tensor(data.inputs.subarray(start * sampleSize, (start + count) * sampleSize), [count, ...sampleShape], 'float32');
        const output = model.forward(input, { bypass }).reshape([count, -1]);
        return probabilities ? output.maximum(PROBABILITY_FLOOR).log() : output;
      });
    },
  };
}
