import * as tf from '@tensorflow/tfjs';
import type { EvalData } from '../evaluate';
import { disposeActivations, type CapturedActivations, type PrunableModel } from '../model/runtime';
import { yieldToEventLoop } from '../yield';

type StopCheck = (() => boolean) | undefined;

/** The evaluation samples cut into batches once, as tensors that live for the whole sweep. */
export function inputBatches(data: EvalData, batchSize: number): tf.Tensor[] {
  const [samples, ...sampleShape] = data.shape;
  const sampleSize = sampleShape.reduce((a, b) => a * b, 1);
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`batch size must be a positive integer, received ${batchSize}`);
  const batches: tf.Tensor[] = [];
  for (let done = 0; done < samples; done += batchSize) {
    const size = Math.min(batchSize, samples - done);
    batches.push(tf.tensor(data.inputs.subarray(done * sampleSize, (done + size) * sampleSize), [size, ...sampleShape], 'float32'));
  }
  return batches;
}

/**
 * Runs `batch(i)` for every batch, reads each output back and concatenates them (flat, samples
 * first). Checks `shouldStop` and yields to the event loop between batches; `undefined` when stopped.
 */
export async function collectOutputs(count: number, batch: (index: number) => tf.Tensor, shouldStop: StopCheck): Promise<Float32Array | undefined> {
  const parts: Float32Array[] = [];
  let length = 0;
  for (let i = 0; i < count; i++) {
    if (shouldStop?.()) return undefined;
    const y = batch(i);
    try {
      const values = (await y.data()) as Float32Array;
      parts.push(values);
      length += values.length;
    } finally {
      y.dispose();
    }
    if (i + 1 < count) await yieldToEventLoop();
  }
  if (parts.length === 1) return parts[0];
  const out = new Float32Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** The first `count` samples of a list of batches, concatenated; the caller disposes the result. */
function firstSamples(batches: readonly tf.Tensor[], count: number): tf.Tensor {
  return tf.tidy(() => {
    const parts: tf.Tensor[] = [];
    let left = count;
    for (const batch of batches) {
      if (left <= 0) break;
      const take = Math.min(left, batch.shape[0]);
      parts.push(take === batch.shape[0] ? batch.clone() : batch.slice(0, take));
      left -= take;
    }
    return parts.length === 1 ? parts[0] : tf.concat(parts, 0);
  });
}

/** Evaluates the model over every batch with substitute kernels in one layer. */
export interface LayerRunner {
  readonly layer: string;
  /** The layer's input at its first call, for the first `count` samples; the caller disposes it. */
  layerInput(count: number): tf.Tensor;
  /** Flat model outputs over every sample with `kernels` in place; `undefined` when stopped. */
  outputs(kernels: ReadonlyMap<string, tf.Tensor>, shouldStop: StopCheck): Promise<Float32Array | undefined>;
  dispose(): void;
}

/** Makes the runner of one layer; `undefined` when stopped while preparing it. */
export type RunnerFactory = (model: PrunableModel, batches: readonly tf.Tensor[], layer: string, shouldStop: StopCheck) => Promise<LayerRunner | undefined>;

/**
 * Keeps what enters `layer` (every value alive there, per batch) and runs each evaluation from
 * there: the layers before it run once per sweep row, not once per cell.
 */
export const cachedRunner: RunnerFactory = async (model, batches, layer, shouldStop) => {
  const captured: CapturedActivations[] = [];
  for (const x of batches) {
    if (shouldStop?.()) {
      disposeActivations(captured);
      return undefined;
    }
    const kept = model.captureInputs(x, [layer]);
    const activations = kept.get(layer);
    if (activations === undefined) {
      disposeActivations(kept);
      disposeActivations(captured);
      throw new Error(`nothing was captured before ${layer}`);
    }
    captured.push(activations);
  }
  return {
    layer,
    layerInput: (count) => firstSamples(captured.map((c) => c.inputs[0]), count),
    outputs: (kernels, stop) => collectOutputs(captured.length, (i) => model.forwardFrom(layer, captured[i], { kernels }), stop),
    dispose: () => disposeActivations(captured),
  };
};

/** The baseline: the whole model runs for every evaluation. */
export const naiveRunner: RunnerFactory = async (model, batches, layer) => ({
  layer,
  layerInput: (count) => {
    const inputs: tf.Tensor[] = [];
    let taken = 0;
    try {
      for (const x of batches) {
        if (taken >= count) break;
        const kept = model.captureInputs(x, [layer]);
        const activations = kept.get(layer);
        if (activations !== undefined) inputs.push(activations.inputs[0].clone());
        disposeActivations(kept);
        if (activations === undefined) throw new Error(`nothing was captured before ${layer}`);
        taken += x.shape[0];
      }
      return firstSamples(inputs, count);
    } finally {
      tf.dispose(inputs);
    }
  },
  outputs: (kernels, stop) => collectOutputs(batches.length, (i) => model.forward(batches[i], { kernels }), stop),
  dispose: () => undefined,
});
