import * as tf from '@tensorflow/tfjs';
import { accuracy, classCounts } from '../metrics/accuracy';
import { crossEntropy } from '../metrics/cross-entropy';
import { jsDivergence } from '../metrics/divergence';
import type { Evaluation } from '../types';
import { yieldToEventLoop } from '../yield';
import type { SampleData } from './data';
import type { Prunable, PrunableForward } from './prunable';

export interface SampleRunOptions {
  forward?: PrunableForward;
  /** Samples per forward pass (64). */
  batchSize?: number;
  /** Only the first `samples` samples. */
  samples?: number;
  onProgress?(done: number, total: number): void;
  /** Checked before each batch: a stop returns the outputs of the batches done. */
  shouldStop?(): boolean;
}

/** One forward pass, through the kind's asynchronous runtime where it has one. */
export async function runForward(model: Prunable, input: tf.Tensor, forward?: PrunableForward): Promise<tf.Tensor> {
  return model.forwardAsync ? model.forwardAsync(input, forward) : model.forward(input, forward);
}

/** The model's outputs on the samples, flat `N × F` (F = values per sample over every output). */
export async function predictSamples(
  model: Prunable,
  data: SampleData,
  options: SampleRunOptions = {},
): Promise<{ outputs: Float32Array; samples: number; perSample: number; cancelled: boolean }> {
  const [available, ...sampleShape] = data.shape;
  const samples = Math.min(options.samples ?? available, available);
  const sampleSize = sampleShape.reduce((a, b) => a * b, 1);
  const batchSize = Math.max(1, Math.min(options.batchSize ?? 64, samples));
  let outputs = new Float32Array(0);
  let perSample = 0;
  let done = 0;
  while (done < samples) {
    if (options.shouldStop?.()) return { outputs: outputs.slice(0, done * perSample), samples: done, perSample, cancelled: true };
    const size = Math.min(batchSize, samples - done);
    const x = tf.tensor(data.inputs.subarray(done * sampleSize, (done + size) * sampleSize), [size, ...sampleShape], 'float32');
    try {
      const y = await runForward(model, x, options.forward);
      try {
        const values = (await y.data()) as Float32Array;
        if (done === 0) {
          perSample = values.length / size;
          outputs = new Float32Array(samples * perSample);
        }
        outputs.set(values, done * perSample);
      } finally {
        y.dispose();
      }
    } finally {
      x.dispose();
    }
    done += size;
    options.onProgress?.(done, samples);
    await yieldToEventLoop();
  }
  return { outputs, samples: done, perSample, cancelled: false };
}

export interface SampleEvaluationOptions extends SampleRunOptions {
  /** The dense model's outputs on the same samples: without labels the metric is the JS divergence from them. */
  reference?: Float32Array;
  /** Timed forward passes of one batch for `latencyMs` (3; 0 for none). */
  latencyRuns?: number;
}

/**
 * Every kind's evaluation on samples: accuracy, per-class counts and cross-entropy with labels (one
 * output row of classes per sample), otherwise the mean Jensen–Shannon divergence from `reference`; plus the
 * measured latency of one batch.
 */
export async function evaluateSamples(
  model: Prunable,
  data: SampleData,
  options: SampleEvaluationOptions = {},
): Promise<Evaluation & { outputs: Float32Array; cancelled: boolean }> {
  const run = await predictSamples(model, data, options);
  const result: Evaluation & { outputs: Float32Array; cancelled: boolean } = { samples: run.samples, outputs: run.outputs, cancelled: run.cancelled };
  if (run.samples === 0) return result;
  const classes = run.perSample;
  const fromLogits = !(model.outputsAreProbabilities?.() ?? false);
  if (data.labels) {
    const labels = data.labels.subarray(0, run.samples);
    result.accuracy = accuracy(run.outputs, labels, classes);
    result.perClass = classCounts(run.outputs, labels, classes);
    result.loss = crossEntropy(run.outputs, labels, classes, { fromLogits });
  } else if (options.reference) {
    result.divergence = jsDivergence(options.reference.subarray(0, run.outputs.length), run.outputs, classes, { fromLogits });
  }
  const runs = options.latencyRuns ?? 3;
  if (!run.cancelled && runs > 0) {
    const size = Math.min(options.batchSize ?? 64, run.samples);
    const sampleSize = data.inputs.length / data.shape[0];
    const x = tf.tensor(data.inputs.subarray(0, size * sampleSize), [size, ...data.shape.slice(1)], 'float32');
    try {
      result.latencyMs = await forwardLatency(model, x, options.forward, runs);
    } finally {
      x.dispose();
    }
    result.batchSize = size;
  }
  return result;
}

/** From this many milliseconds of passes on, the latency is taken from the passes so far (a large model's one pass can take seconds). */
const LATENCY_BUDGET_MS = 1000;

/** Median milliseconds of up to `runs` forward passes of `input`, each read back: fewer once they have taken LATENCY_BUDGET_MS. */
export async function forwardLatency(model: Prunable, input: tf.Tensor, forward?: PrunableForward, runs = 3): Promise<number> {
  const timings: number[] = [];
  for (let i = 0; i < runs && timings.reduce((a, b) => a + b, 0) < LATENCY_BUDGET_MS; i++) {
    const started = performance.now();
    const y = await runForward(model, input, forward);
    await y.data();
    y.dispose();
    timings.push(performance.now() - started);
  }
  timings.sort((a, b) => a - b);
  return timings[Math.floor(timings.length / 2)];
}

/** A language model's logits over token batches (`[windows, length]` int32 each), flat in batch order. */
export async function predictTokenWindows(model: Prunable, batches: readonly tf.Tensor[], forward?: PrunableForward): Promise<Float32Array> {
  const parts: Float32Array[] = [];
  for (const batch of batches) {
    const y = await runForward(model, batch, forward);
    try {
      parts.push((await y.data()) as Float32Array);
    } finally {
      y.dispose();
    }
    await yieldToEventLoop();
  }
  return concatFloat32(parts);
}

/** The parts one after another in one array. */
export function concatFloat32(parts: readonly Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
