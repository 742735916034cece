import type { PipelineData, SampleData } from '../core/pipeline/data';

export { concatFloat32 } from '../core/pipeline/evaluate';
import type { Dataset } from '../io/types';

/** Samples of the data every calibration reads (DESIGN §6: the first min(128, N)). */
export const CALIBRATION_SAMPLES = 128;

/** A parsed dataset file as the pipeline takes it. */
export function sampleDataOf(dataset: Dataset): SampleData {
  return { kind: 'samples', ...dataset, synthetic: dataset.source === 'synthetic' };
}

/** Pipeline samples as the dataset checks read them. */
export function datasetOf(data: SampleData): Dataset {
  return { source: data.source, hash: data.hash, inputs: data.inputs, shape: data.shape, ...(data.labels && { labels: data.labels }) };
}

/** The first min(128, N) samples: the calibration set of statistics and removal searches. */
export function calibrationSlice(data: SampleData): { inputs: Float32Array; shape: number[] } {
  const [samples, ...sampleShape] = data.shape;
  const count = Math.min(CALIBRATION_SAMPLES, samples);
  const size = sampleShape.reduce((a, b) => a * b, 1);
  return { inputs: data.inputs.subarray(0, count * size), shape: [count, ...sampleShape] };
}

/** The class count a classifier's output shape names (its last dimension), if fixed. */
export function classCount(outputShape: readonly (number | null)[]): number | undefined {
  const last = outputShape[outputShape.length - 1];
  return typeof last === 'number' ? last : undefined;
}

/** Throws unless the data are token ids (a language model's). */
export function tokenDataOf(data: PipelineData, model: string) {
  if (data.kind !== 'tokens') throw new Error(`${model} is a language model: it runs on text (.txt) or token ids, not on a dataset .json`);
  return data;
}
