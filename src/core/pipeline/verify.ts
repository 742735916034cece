import type { Evaluation } from '../types';

/** An export reproduces the in-app evaluation when its headline metric is within this of it (relative above 1, absolute below). */
export const EXPORT_TOLERANCE = 1e-5;

export interface ExportCheck {
  metric: string;
  inApp: number;
  reloaded: number;
  difference: number;
  ok: boolean;
}

/** The metric two evaluations are compared on: perplexity, loss, accuracy, or the divergence data-free. */
export function headlineMetric(evaluation: Evaluation): { metric: string; value: number } {
  if (evaluation.perplexity !== undefined) return { metric: 'perplexity', value: evaluation.perplexity };
  if (evaluation.loss !== undefined) return { metric: 'loss', value: evaluation.loss };
  if (evaluation.accuracy !== undefined) return { metric: 'accuracy', value: evaluation.accuracy };
  return { metric: 'divergence', value: evaluation.divergence ?? NaN };
}

/** The one definition of "the reopened export reproduces the in-app evaluation", for every kind and host. */
export function checkExport(inApp: Evaluation, reloaded: Evaluation): ExportCheck {
  const a = headlineMetric(inApp);
  const b = headlineMetric(reloaded);
  const difference = Math.abs(a.value - b.value);
  const scale = Math.max(1, Math.abs(a.value));
  return { metric: a.metric, inApp: a.value, reloaded: b.value, difference, ok: a.metric === b.metric && difference <= EXPORT_TOLERANCE * scale };
}
