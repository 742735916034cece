import * as tf from '@tensorflow/tfjs';
import type { EvalData } from '../evaluate';
import { liveKeys } from '../model/graph';
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
}

/** How a sweep runs the model: the dense outputs once, then the runner of each layer in turn. */
export interface SweepEvaluator {
  dense(shouldStop: StopCheck): Promise<Float32Array | undefined>;
  /** The runner of a layer; `undefined` when stopped while preparing it. Earlier runners may be invalid after this. */
  runner(layer: string, shouldStop: StopCheck): Promise<LayerRunner | undefined>;
  dispose(): void;
}

/**
 * `layers` in sweep order: each layer a unit of the sweep belongs to, consecutive repeats removed.
 * `budgetBytes`: captured activations held at once stay under it (estimated from static shapes).
 */
export type EvaluatorFactory = (model: PrunableModel, batches: readonly tf.Tensor[], layers: readonly string[], budgetBytes: number) => SweepEvaluator;

/** Index of a layer's first call in the execution graph. */
function firstStep(model: PrunableModel, layer: string): number {
  return model.graph.steps.findIndex((step) => step.layer.name === layer);
}

/** Float32 bytes per sample of every value alive just before a layer, from static shapes; Infinity when unknown. */
function captureBytesPerSample(model: PrunableModel, layer: string): number {
  const { graph } = model;
  let total = 0;
  for (const key of liveKeys(graph, firstStep(model, layer))) {
    const producer = graph.producedAt.get(key) ?? -1;
    const shape = producer < 0 ? model.layersModel.inputs[graph.inputKeys.indexOf(key)]?.shape : graph.steps[producer].outputShapes[graph.steps[producer].outputs.indexOf(key)];
    const dims = shape?.slice(1) ?? [null];
    total += dims.reduce<number>((size, d) => (d === null ? Infinity : size * d), 4);
  }
  return total;
}

/** Runs the batches from a layer's captured activations. */
function capturedRunner(model: PrunableModel, layer: string, captured: readonly CapturedActivations[]): LayerRunner {
  return {
    layer,
    layerInput: (count) =>
      firstSamples(
        captured.map((c) => c.inputs[0]),
        count,
      ),
    outputs: (kernels, stop) => collectOutputs(captured.length, (i) => model.forwardFrom(layer, captured[i], { kernels }), stop),
  };
}

/**
 * Keeps what enters each layer (every value alive there, per batch) and runs each evaluation from
 * there: the layers before it do not run again per cell. Consecutive layers are captured in one
 * pass while their activations fit the budget; each layer's are freed once the sweep moves on.
 * The dense outputs run from the last captured layer of the first pass.
 */
export const cachedEvaluator: EvaluatorFactory = (model, batches, layers, budgetBytes) => {
  const held = new Map<string, CapturedActivations[]>();
  const samples = batches.reduce((n, x) => n + x.shape[0], 0);
  const release = (layer: string): void => {
    disposeActivations(held.get(layer) ?? []);
    held.delete(layer);
  };
  const releaseAll = (): void => [...held.keys()].forEach(release);

  /** Captures `layers[from]` and the following layers that fit the budget, in one pass over the batches. */
  const captureFrom = async (from: number, shouldStop: StopCheck): Promise<boolean> => {
    const group: string[] = [];
    let bytes = 0;
    for (const layer of layers.slice(from)) {
      if (group.includes(layer)) continue;
      bytes += captureBytesPerSample(model, layer) * samples;
      if (group.length > 0 && bytes > budgetBytes) break;
      group.push(layer);
    }
    for (const layer of group) held.set(layer, []);
    for (const x of batches) {
      if (shouldStop?.()) {
        releaseAll();
        return false;
      }
      const kept = model.captureInputs(x, group);
      for (const [layer, activations] of kept) held.get(layer)?.push(activations);
    }
    return true;
  };

  let position = -1;
  return {
    async dense(shouldStop) {
      if (layers.length === 0) return collectOutputs(batches.length, (i) => model.forward(batches[i]), shouldStop);
      if (!(await captureFrom(0, shouldStop))) return undefined;
      const last = [...held.keys()].reduce((a, b) => (firstStep(model, b) > firstStep(model, a) ? b : a));
      return capturedRunner(model, last, held.get(last) ?? []).outputs(new Map(), shouldStop);
    },
    async runner(layer, shouldStop) {
      const next = layers.indexOf(layer, Math.max(0, position));
      if (next < 0) throw new Error(`layer ${layer} is not in the sweep order`);
      for (const done of layers.slice(Math.max(0, position), next)) release(done);
      position = next;
      if (!held.has(layer) && !(await captureFrom(next, shouldStop))) return undefined;
      return capturedRunner(model, layer, held.get(layer) ?? []);
    },
    dispose: releaseAll,
  };
};

/** The baseline: the whole model runs for every evaluation. */
export const naiveEvaluator: EvaluatorFactory = (model, batches) => {
  const forwardAll = (kernels: ReadonlyMap<string, tf.Tensor>, stop: StopCheck): Promise<Float32Array | undefined> =>
    collectOutputs(batches.length, (i) => model.forward(batches[i], { kernels }), stop);
  return {
    dense: (shouldStop) => forwardAll(new Map(), shouldStop),
    runner: async (layer) => ({
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
      outputs: forwardAll,
    }),
    dispose: () => undefined,
  };
};
