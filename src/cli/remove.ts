import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { evaluationCount } from '../core/removal/greedy';
import { CANDIDATE_SETS, candidatesOfSet, type CandidateSet } from '../core/removal/candidate-set';
import type { RemovalResult } from '../core/removal/types';
import { OUTPUT_CHANGE_METRICS, type OutputChangeMetric } from '../core/transformer/output-change';
import type { JobContext } from '../session/session';
import { choiceOption, numberOption, stringOption, UsageError, type ParsedArgs } from './args';
import { startBackend } from './backend';
import { modelPath, type Output } from './load';
import { openSession } from './session';

/** The file `lopper remove` writes (DESIGN §6). */
export type RemovalFile = Pick<RemovalResult, 'metric' | 'candidates' | 'steps' | 'dense'>;

interface RemoveArgs {
  outPath: string;
  candidates: CandidateSet;
  metric: OutputChangeMetric;
  steps?: number;
  seed: number;
}

function integerOption(args: ParsedArgs, key: string, minimum: number): number | undefined {
  if (stringOption(args, key) === undefined) return undefined;
  const value = numberOption(args, key, 0);
  if (!Number.isInteger(value) || value < minimum) throw new UsageError(`--${key} expects an integer ≥ ${minimum}, got ${value}`);
  return value;
}

/** Reads and checks the options before anything is loaded. */
function removeArgs(args: ParsedArgs): RemoveArgs {
  const outPath = stringOption(args, 'out');
  if (outPath === undefined) throw new UsageError('lopper remove: --out <file> is required (the JSON result goes there)');
  const metricValue = stringOption(args, 'metric') ?? 'js';
  const metric = OUTPUT_CHANGE_METRICS.find((m) => m === metricValue);
  if (metric === undefined) throw new UsageError(`--metric must be one of ${OUTPUT_CHANGE_METRICS.join(', ')}, got "${metricValue}"`);
  integerOption(args, 'samples', 1);
  const seed = numberOption(args, 'seed', 0);
  if (!Number.isInteger(seed)) throw new UsageError(`--seed expects an integer, got ${seed}`);
  const candidates = choiceOption(args, 'candidates', CANDIDATE_SETS) ?? 'branches';
  return { outPath, candidates, metric, steps: integerOption(args, 'steps', 0), seed };
}

async function writeJson(path: string, value: RemovalFile): Promise<void> {
  const target = resolve(path);
  await mkdir(dirname(target), { recursive: true });
  await writeFile(target, `${JSON.stringify(value)}\n`);
}

/**
 * `lopper remove <model> [--data D] [--metric js|kl|angular|logits] [--steps N] [--samples N]
 * [--seed S] [--candidates branches|layers|all] --out F`: FinerCut's greedy layer removal, written as `{metric, candidates, steps:
 * [{removed, scores}], dense}` (DESIGN §6). Progress goes to stderr, one line per step.
 */
export async function remove(args: ParsedArgs, out: Output): Promise<void> {
  const { outPath, metric, steps, candidates: candidateSet } = removeArgs(args);
  const backend = await startBackend(stringOption(args, 'backend'));
  const session = await openSession(args, modelPath(args));
  try {
    const all = session.summary.removalCandidates;
    const considered = candidatesOfSet(all, session.summary.removalKinds, candidateSet).length;
    const planned = Math.min(steps ?? considered, considered);
    if (planned > 0) {
      const latency = (await session.denseEvaluation()).latencyMs;
      const evaluations = evaluationCount(considered, planned);
      const time = latency === undefined ? '' : `, about ${((evaluations * latency) / 1000).toFixed(1)} s at ${latency.toFixed(1)} ms each`;
      process.stderr.write(`lopper remove: ${considered} candidates × ${planned} steps = ${evaluations} forward passes${time}\n`);
    }
    const started = performance.now();
    const elapsed = (): string => ((performance.now() - started) / 1000).toFixed(1);
    const job: JobContext = {
      progress: () => undefined,
      cancelled: () => false,
      removedStep: (index, total, removed, value) => process.stderr.write(`lopper remove: ${index + 1}/${total} ${removed} (${metric} ${value.toPrecision(4)}, ${elapsed()} s)\n`),
    };
    const result = await session.removal({ metric, ...(steps !== undefined && { steps }), candidates: candidateSet }, job);
    const candidates = result.candidates.length;
    const stepCount = result.steps.length;
    if (candidates === 0 && all.length > 0) {
      process.stderr.write(
        `lopper remove: no ${candidateSet === 'branches' ? 'residual branches' : 'shape-preserving layers'} to remove; --candidates all considers ${all.length}\n`,
      );
    }
    const seconds = (performance.now() - started) / 1000;
    await writeJson(outPath, { metric: result.metric, candidates: result.candidates, steps: result.steps, dense: result.dense });
    const removed = result.steps.map((s) => s.removed);
    if (out.json) {
      out.print({ out: outPath, removed, evaluations: evaluationCount(candidates, stepCount), dataHash: session.data.hash, backend, seconds });
    } else {
      process.stderr.write(`lopper remove: ${removed.length} of ${candidates} candidates removed in ${seconds.toFixed(1)} s; wrote ${outPath}\n`);
    }
  } finally {
    session.dispose();
  }
}
