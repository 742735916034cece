import * as tf from '@tensorflow/tfjs';
import { OUTPUT_CHANGE_METRICS, outputChange, type OutputChangeMetric } from '../transformer/output-change';
import { yieldToEventLoop } from '../yield';
import { targetOutputs, type RemovalResult, type RemovalScore, type RemovalStep, type RemovalTarget } from './types';

export interface GreedyRemovalOptions {
  metric: OutputChangeMetric;
  /** Greedy steps to take (all candidates by default). */
  steps?: number;
  /** Each candidate's score, as soon as it is evaluated. */
  onScore?(score: RemovalScore): void;
  /** Each completed step, with its 0-based index. */
  onStep?(step: RemovalStep, index: number): void;
  /** Checked before each evaluation; a stop keeps the completed steps. */
  shouldStop?(): boolean;
}

/** Evaluations a search of `steps` steps over `candidates` candidates makes: n + (n − 1) + … */
export function evaluationCount(candidates: number, steps: number): number {
  let total = 0;
  for (let k = 0; k < steps; k++) total += candidates - k;
  return total;
}

/** A score beats the best so far when it is smaller; NaN never wins over a number. */
function isBetter(value: number, best: number | undefined): boolean {
  if (Number.isNaN(value)) return false;
  return best === undefined || Number.isNaN(best) || value < best;
}

/** Rows the metric averages over: every position of `[..., classes]`. */
function rowsOf(outputs: tf.Tensor): number {
  return outputs.size / outputs.shape[outputs.rank - 1];
}

/**
 * FinerCut's greedy layer removal (Zhang et al. 2024, DESIGN §3): at each step every remaining
 * candidate is removed on top of the earlier removals, the outputs are compared with the dense
 * ones, and the candidate with the smallest change is removed (ties: the earlier candidate). The
 * score of a candidate averages the metric over every output row of every calibration batch.
 */
export async function greedyRemoval(target: RemovalTarget, options: GreedyRemovalOptions): Promise<RemovalResult> {
  const { metric } = options;
  if (!OUTPUT_CHANGE_METRICS.includes(metric)) throw new Error(`metric must be one of ${OUTPUT_CHANGE_METRICS.join(', ')}, received ${String(metric)}`);
  const candidates = target.candidates();
  const stepCount = options.steps ?? candidates.length;
  if (!Number.isInteger(stepCount) || stepCount < 0) throw new Error(`steps must be a non-negative integer, received ${stepCount}`);
  const steps = Math.min(stepCount, candidates.length);
  const batches = target.batches ?? 1;
  const total = evaluationCount(candidates.length, steps);
  const result: RemovalResult = { metric, candidates, steps: [], dense: 0, cancelled: false };
  if (steps === 0) return result;

  const dense: tf.Tensor[] = [];
  try {
    for (let b = 0; b < batches; b++) dense.push(await targetOutputs(target, new Set(), b));
    const rows = dense.map(rowsOf);
    const allRows = rows.reduce((a, c) => a + c, 0);

    const score = async (removed: ReadonlySet<string>): Promise<number> => {
      let sum = 0;
      for (let b = 0; b < batches; b++) {
        const pruned = await targetOutputs(target, removed, b);
        const value = tf.tidy(() => outputChange(metric, dense[b], pruned));
        pruned.dispose();
        sum += (await value.data())[0] * rows[b];
        value.dispose();
      }
      return sum / allRows;
    };

    const removed: string[] = [];
    let done = 0;
    for (let step = 0; step < steps; step++) {
      const remaining = candidates.filter((c) => !removed.includes(c));
      const scores: Record<string, number> = {};
      let best: string | undefined;
      for (const candidate of remaining) {
        if (options.shouldStop?.()) {
          result.cancelled = true;
          return result;
        }
        const value = await score(new Set([...removed, candidate]));
        scores[candidate] = value;
        if (best === undefined || isBetter(value, scores[best])) best = candidate;
        done++;
        options.onScore?.({ step, candidate, value, done, total });
        await yieldToEventLoop();
      }
      const chosen = best as string;
      const record: RemovalStep = { removed: chosen, scores };
      result.steps.push(record);
      removed.push(chosen);
      options.onStep?.(record, step);
    }
    return result;
  } finally {
    tf.dispose(dense);
  }
}

/**
 * The one-shot ranking a greedy search is compared with: every candidate ordered by its
 * single-removal score (the scores of step 0), ties by candidate order.
 */
export function singleRemovalRanking(result: Pick<RemovalResult, 'candidates' | 'steps'>): string[] {
  const first = result.steps[0]?.scores;
  if (first === undefined) return [];
  const order = new Map(result.candidates.map((c, i) => [c, i]));
  return Object.keys(first).sort((a, b) => first[a] - first[b] || (order.get(a) ?? 0) - (order.get(b) ?? 0));
}
