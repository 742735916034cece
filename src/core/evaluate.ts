import * as tf from '@tensorflow/tfjs';
import { accuracy } from './metrics/accuracy';
import { crossEntropy } from './metrics/cross-entropy';
import { jsDivergence } from './metrics/divergence';
import type { ForwardOptions, PrunableModel } from './model/runtime';
import type { Evaluation } from './types';
import { yieldToEventLoop } from './yield';

/** Samples as in a dataset file (DESIGN §6): flat row-major inputs, `[N, ...inputShape]`. */
export interface EvalData {
  inputs: Float32Array;
  shape: readonly number[];
  labels?: Int32Array;
}

export interface PredictOptions {
  /** Samples per forward pass (64). */
  batchSize?: number;
  forward?: ForwardOptions;
  /** Called after each batch with samples done and the total. */
  onProgress?(done: number, total: number): void;
  /** Checked before each batch; when true the job stops and returns what it has computed. */
  shouldStop?(): boolean;
}

export interface EvaluateOptions extends PredictOptions {
  /** The dense model's outputs on the same data: without labels, the metric is their JS divergence. */
  reference?: Float32Array;
  /** Outputs are logits; by default, whatever the model's last layer says (no softmax → logits). */
  fromLogits?: boolean;
  /** Timed forward passes of one batch for `latencyMs` (median), at least 3 unless 0. */
  latencyRuns?: number;
}

export type EvaluationResult = Evaluation & {
  /** Flat outputs of the samples evaluated, `samples × outputs per sample`. */
  outputs?: Float32Array;
  /** True when `shouldStop` ended the job early: the metrics cover `samples` only. */
  cancelled?: boolean;
};

function checkData(model: PrunableModel, data: EvalData): { samples: number; sampleSize: number } {
  const [samples, ...sampleShape] = data.shape;
  const expected = model.inputShape.slice(1);
  const fits = sampleShape.length === expected.length && expected.every((d, i) => d === null || d === sampleShape[i]);
  if (!fits) {
    throw new Error(`data shape [N, ${sampleShape.join(', ')}] does not fit the model input [N, ${expected.map((d) => d ?? '?').join(', ')}]`);
  }
  const sampleSize = sampleShape.reduce((a, b) => a * b, 1);
  if (data.inputs.length !== samples * sampleSize) {
    throw new Error(`data has ${data.inputs.length} input values, shape [${data.shape.join(', ')}] needs ${samples * sampleSize}`);
  }
  if (data.labels && data.labels.length !== samples) {
    throw new Error(`data has ${data.labels.length} labels for ${samples} samples`);
  }
  return { samples, sampleSize };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

interface BatchRun {
  outputs: Float32Array;
  samples: number;
  cancelled: boolean;
  /** Milliseconds of forward + read-back of each full-size batch. */
  timings: number[];
  batchSize: number;
}

async function runBatches(model: PrunableModel, data: EvalData, options: PredictOptions): Promise<BatchRun> {
  const { samples, sampleSize } = checkData(model, data);
  const batchSize = Math.max(1, Math.min(options.batchSize ?? 64, samples));
  const sampleShape = data.shape.slice(1);
  const timings: number[] = [];
  let outputs = new Float32Array(0);
  let perSample = 0;
  let done = 0;
  while (done < samples) {
    if (options.shouldStop?.()) return { outputs: outputs.slice(0, done * perSample), samples: done, cancelled: true, timings, batchSize };
    const size = Math.min(batchSize, samples - done);
    const x = tf.tensor(data.inputs.subarray(done * sampleSize, (done + size) * sampleSize), [size, ...sampleShape], 'float32');
    try {
      const started = performance.now();
      const y = model.forward(x, options.forward);
      try {
        const values = (await y.data()) as Float32Array;
        if (size === batchSize) timings.push(performance.now() - started);
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
  return { outputs, samples: done, cancelled: false, timings, batchSize };
}

/** The model's outputs on every sample, flat (`N × outputs per sample`); shorter when stopped early. */
export async function predict(model: PrunableModel, data: EvalData, options: PredictOptions = {}): Promise<Float32Array> {
  return (await runBatches(model, data, options)).outputs;
}

/** Times `runs` forward passes (with read-back) of the first batch; returns the median. */
async function measureLatency(model: PrunableModel, data: EvalData, run: BatchRun, runs: number, forward?: ForwardOptions): Promise<number> {
  const timings = [...run.timings];
  const sampleSize = data.inputs.length / data.shape[0];
  const x = tf.tensor(data.inputs.subarray(0, run.batchSize * sampleSize), [run.batchSize, ...data.shape.slice(1)], 'float32');
  try {
    while (timings.length < runs) {
      const started = performance.now();
      const y = model.forward(x, forward);
      await y.data();
      timings.push(performance.now() - started);
      y.dispose();
    }
  } finally {
    x.dispose();
  }
  return median(timings);
}

/**
 * Accuracy and cross-entropy with labels; otherwise the mean Jensen–Shannon divergence from
 * `reference` when given. Measures the latency of one batch. Yields between batches.
 */
export async function evaluate(model: PrunableModel, data: EvalData, options: EvaluateOptions = {}): Promise<EvaluationResult> {
  if (options.shouldStop?.()) return { samples: 0, cancelled: true };
  const run = await runBatches(model, data, options);
  const result: EvaluationResult = { samples: run.samples, batchSize: run.batchSize, outputs: run.outputs };
  if (run.cancelled) result.cancelled = true;
  if (run.samples === 0) return result;
  const classes = run.outputs.length / run.samples;
  const fromLogits = options.fromLogits ?? !model.outputIsProbability();
  if (data.labels) {
    if (model.outputShape.length !== 2) {
      throw new Error(`labels need model outputs [N, classes], the model gives [${model.outputShape.map((d) => d ?? 'N').join(', ')}]`);
    }
    const labels = data.labels.subarray(0, run.samples);
    result.accuracy = accuracy(run.outputs, labels, classes);
    result.loss = crossEntropy(run.outputs, labels, classes, { fromLogits });
  } else if (options.reference) {
    if (options.reference.length !== data.shape[0] * classes) {
      throw new Error(`reference has ${options.reference.length} values, expected ${data.shape[0]} samples × ${classes}`);
    }
    result.divergence = jsDivergence(options.reference.subarray(0, run.outputs.length), run.outputs, classes, { fromLogits });
  }
  const runs = options.latencyRuns ?? 3;
  if (!run.cancelled && runs > 0) result.latencyMs = await measureLatency(model, data, run, runs, options.forward);
  return result;
}
