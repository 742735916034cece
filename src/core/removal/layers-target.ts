import * as tf from '@tensorflow/tfjs';
import type { PrunableModel } from '../model/runtime';
import { forwardWithRemovals, layerRemovalCandidates } from './layer-removal';
import type { RemovalTarget } from './types';

export interface LayersTargetOptions {
  /** Samples per forward pass (32). */
  batchSize?: number;
}

/** Probabilities are floored here before their log is taken, so that a zero stays finite. */
const PROBABILITY_FLOOR = 1e-30;

/**
 * A LayersModel as a removal target: the candidates are its residual branches and shape-preserving
 * layers (`layerRemovalCandidates`), the outputs its outputs on the calibration samples (flat
 * row-major `inputs` of `shape` `[N, ...]`, as in a dataset file). A model whose output passes
 * through a softmax gives log-probabilities, which the metrics treat as logits (softmax of log p is p).
 */
export function layersModelTarget(model: PrunableModel, data: { inputs: Float32Array; shape: readonly number[] }, options: LayersTargetOptions = {}): RemovalTarget {
  const [samples, ...sampleShape] = data.shape;
  const sampleSize = sampleShape.reduce((a, b) => a * b, 1);
  if (!Number.isInteger(samples) || samples < 1) throw new Error(`calibration needs at least one sample, received shape [${data.shape.join(', ')}]`);
  if (data.inputs.length !== samples * sampleSize)
    throw new Error(`calibration data has ${data.inputs.length} values, shape [${data.shape.join(', ')}] needs ${samples * sampleSize}`);
  const batchSize = options.batchSize ?? 32;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`batch size must be a positive integer, received ${batchSize}`);
  const candidates = layerRemovalCandidates(model);
  const probabilities = model.outputIsProbability();
  const batches = Math.ceil(samples / batchSize);
  return {
    batches,
    candidates: () => candidates.map((c) => c.name),
    outputs(bypass, batch = 0) {
      if (!Number.isInteger(batch) || batch < 0 || batch >= batches) throw new Error(`calibration batch ${batch} does not exist (0…${batches - 1})`);
      const start = batch * batchSize;
      const count = Math.min(batchSize, samples - start);
      return tf.tidy(() => {
        const input = tf.tensor(data.inputs.subarray(start * sampleSize, (start + count) * sampleSize), [count, ...sampleShape], 'float32');
        const output = forwardWithRemovals(model, input, bypass, candidates);
        return probabilities ? output.maximum(PROBABILITY_FLOOR).log() : output;
      });
    },
  };
}
