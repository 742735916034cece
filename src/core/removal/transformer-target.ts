import * as tf from '@tensorflow/tfjs';
import type { TransformerModel } from '../transformer/model';
import type { RemovalTarget } from './types';
import { windowBatches } from './windows';

export interface TransformerTargetOptions {
  /** Windows per forward pass (by default as many as keep the logits under ~4M values). */
  batchSize?: number;
}

/**
 * A transformer as a removal target: the candidates are its attention and MLP sublayers
 * (`model.layers.3.self_attn`, `transformer.h.0.mlp`), the outputs its logits on calibration token
 * windows of equal length (see `calibrationWindows`), and removing a sublayer bypasses it (the same
 * as zeroing its output projection's weight and bias).
 */
export function transformerTarget(model: TransformerModel, windows: readonly (readonly number[])[], options: TransformerTargetOptions = {}): RemovalTarget {
  const batches = windowBatches(windows, model.config.vocabSize, options.batchSize);
  const vocab = model.config.vocabSize;
  for (const { ids } of batches) {
    const bad = ids.findIndex((id) => id < 0 || id >= vocab);
    if (bad >= 0) throw new Error(`token id ${ids[bad]} is outside the vocabulary (0…${vocab - 1})`);
  }
  return {
    batches: batches.length,
    candidates: () => model.removalCandidates(),
    outputs(bypass, batch = 0) {
      const chosen = batches[batch];
      if (chosen === undefined) throw new Error(`calibration batch ${batch} does not exist (0…${batches.length - 1})`);
      return tf.tidy(() => model.forward(tf.tensor2d(chosen.ids, chosen.shape, 'int32'), { bypass }));
    },
  };
}
