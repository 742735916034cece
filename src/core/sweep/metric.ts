import { accuracy } from '../metrics/accuracy';
import { crossEntropy } from '../metrics/cross-entropy';
import { jsDivergence, klDivergence } from '../metrics/divergence';
import type { SweepMetric } from '../options';

export { SWEEP_METRICS, type SweepMetric } from '../options';

/** What a sweep metric compares a pruned model's outputs with. */
export interface MetricContext {
  metric: SweepMetric;
  /** Class indices, one per sample (accuracy and loss). */
  labels?: Int32Array;
  /** The dense model's flat outputs on the same samples (kl and js). */
  reference: Float32Array;
  /** Values per output row (the last output dimension). */
  classes: number;
  /** Outputs are logits: softmax is applied before comparing probabilities. */
  fromLogits: boolean;
}

export function needsLabels(metric: SweepMetric): boolean {
  return metric === 'accuracy' || metric === 'loss';
}

/** Accuracy and loss need labels. */
export function checkLabels(metric: SweepMetric, labels: Int32Array | undefined): void {
  if (needsLabels(metric) && labels === undefined) {
    throw new Error(`the ${metric} metric needs labelled data; without labels use kl or js (divergence from the dense model)`);
  }
}

/** Accuracy and loss need one output row per sample. */
export function checkOutputRows(context: MetricContext, samples: number): void {
  if (!needsLabels(context.metric)) return;
  const rows = context.reference.length / context.classes;
  if (rows !== samples) {
    throw new Error(`the ${context.metric} metric needs model outputs [N, classes]; the model gives ${rows / samples} rows of ${context.classes} per sample`);
  }
}

/**
 * The metric of one set of outputs: accuracy or cross-entropy against the labels, or the mean over
 * rows of KL(pruned ‖ dense) or JS(dense, pruned) on softmax outputs.
 */
export function sweepMetric(context: MetricContext, outputs: Float32Array): number {
  const { classes, fromLogits, labels, reference } = context;
  switch (context.metric) {
    case 'accuracy':
      return accuracy(outputs, labels ?? [], classes);
    case 'loss':
      return crossEntropy(outputs, labels ?? [], classes, { fromLogits });
    case 'kl':
      return klDivergence(outputs, reference, classes, { fromLogits });
    case 'js':
      return jsDivergence(reference, outputs, classes, { fromLogits });
  }
}
