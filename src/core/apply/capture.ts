import * as tf from '@tensorflow/tfjs';
import type { EvalData } from '../evaluate';
import { disposeActivations, type CapturedActivations, type ForwardOptions, type PrunableModel } from '../model/runtime';

export { readKernel } from '../model/kernels';

/** Calibration samples as in a dataset file: flat row-major inputs, `[N, ...inputShape]`. */
export type CalibrationData = Pick<EvalData, 'inputs' | 'shape'>;

/** Calibration uses the first min(128, N) samples (DESIGN §6). */
export const CALIBRATION_SAMPLES = 128;

export interface CaptureOptions {
  /** Samples per forward pass (64). */
  batchSize?: number;
  /** How many of the first samples to use (128). */
  samples?: number;
}

/** The first `count` samples of the data as input batches; the caller disposes them. */
export function calibrationBatches(data: CalibrationData, options: CaptureOptions = {}): tf.Tensor[] {
  const [available, ...sampleShape] = data.shape;
  const sampleSize = sampleShape.reduce((a, b) => a * b, 1);
  if (data.inputs.length !== available * sampleSize) {
    throw new Error(`calibration data has ${data.inputs.length} input values, shape [${data.shape.join(', ')}] needs ${available * sampleSize}`);
  }
  const count = Math.min(options.samples ?? CALIBRATION_SAMPLES, available);
  if (!(count >= 1)) throw new Error('calibration needs at least one sample');
  const batchSize = options.batchSize ?? 64;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`batch size must be a positive integer, received ${batchSize}`);
  const batches: tf.Tensor[] = [];
  for (let done = 0; done < count; done += batchSize) {
    const size = Math.min(batchSize, count - done);
    batches.push(tf.tensor(data.inputs.subarray(done * sampleSize, (done + size) * sampleSize), [size, ...sampleShape], 'float32'));
  }
  return batches;
}

/**
 * What `captureInputs` keeps before `layer`'s first call, one entry per batch, under `forward`
 * (substitute kernels, bypasses). Free with `disposeActivations`.
 */
export function captureBefore(model: PrunableModel, batches: readonly tf.Tensor[], layer: string, forward: ForwardOptions = {}): CapturedActivations[] {
  const captured: CapturedActivations[] = [];
  try {
    for (const x of batches) {
      const kept = model.captureInputs(x, [layer], forward);
      const activations = kept.get(layer);
      if (activations === undefined) {
        disposeActivations(kept);
        throw new Error(`nothing was captured before ${layer}`);
      }
      captured.push(activations);
    }
  } catch (error) {
    disposeActivations(captured);
    throw error;
  }
  return captured;
}

/** What enters `layer` at its first call for every sample of the batches, concatenated; the caller disposes it. */
export function layerInput(model: PrunableModel, batches: readonly tf.Tensor[], layer: string, forward: ForwardOptions = {}): tf.Tensor {
  const captured = captureBefore(model, batches, layer, forward);
  try {
    return tf.tidy(() =>
      captured.length === 1
        ? captured[0].inputs[0].clone()
        : tf.concat(
            captured.map((c) => c.inputs[0]),
            0,
          ),
    );
  } finally {
    disposeActivations(captured);
  }
}
