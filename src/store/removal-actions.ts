import type { CandidateSet } from '../core/options';
import { candidatesOfSet } from '../core/removal/candidate-set';
import { CancelledError, type ModelSummary, type RemovalConfig, type RemovalReport } from '../worker/protocol';
import { client, runJob } from './actions';
import { setPlanRemoved } from './plan-actions';
import { useLopper, type RemovalState } from './state';

function setRemoval(patch: Partial<RemovalState>): void {
  useLopper.setState((s) => ({ removal: { ...s.removal, ...patch } }));
}

export function setRemovalConfig(patch: Partial<RemovalConfig>): void {
  useLopper.setState((s) => ({ removal: { ...s.removal, config: { ...s.removal.config, ...patch } } }));
}

/** Steps with the scores seen so far; a step's `removed` is empty until the step completes. */
function withScore(report: RemovalReport, step: number, candidate: string, value: number): RemovalReport {
  const steps = report.steps.slice();
  while (steps.length <= step) steps.push({ removed: '', scores: {} });
  steps[step] = { ...steps[step], scores: { ...steps[step].scores, [candidate]: value } };
  return { ...report, steps };
}

/**
 * The candidate set a search starts with: residual branches where the model has any (as
 * `lopper remove`), otherwise every candidate (a plain CNN has only shape-preserving layers);
 * transformers have sublayers only.
 */
export function defaultCandidateSet(model: ModelSummary): CandidateSet {
  const kinds = model.removalKinds;
  if (kinds === undefined) return 'all';
  return Object.values(kinds).includes('branch') ? 'branches' : 'all';
}

/** The candidates of `set` for this model, in the model's order. */
export function candidatesIn(model: ModelSummary, set: CandidateSet): string[] {
  return candidatesOfSet(model.removalCandidates, model.removalKinds, set);
}

/** Steps a search takes unless told: every candidate on small models, a quarter of them (at least 16) on large ones. */
export function defaultSteps(candidates: number): number {
  return candidates <= 16 ? candidates : Math.max(16, Math.ceil(candidates / 4));
}

/** Forward passes a search of `steps` greedy steps over `candidates` runs, and about how long they take at `latencyMs` each. */
export function removalCost(candidates: number, steps: number, latencyMs: number | undefined): { evaluations: number; seconds?: number } {
  let evaluations = 0;
  for (let k = 0; k < steps; k++) evaluations += candidates - k;
  return { evaluations, ...(latencyMs !== undefined && latencyMs > 0 && { seconds: (evaluations * latencyMs) / 1000 }) };
}

/** FinerCut's greedy search in the worker; scores land in the store as they come, a cancel keeps completed steps. */
export async function runRemoval(): Promise<void> {
  const { model, data, removal } = useLopper.getState();
  if (!model || !data || removal.status === 'running') return;
  const set = removal.config.candidates ?? defaultCandidateSet(model);
  const candidates = candidatesIn(model, set);
  const n = candidates.length;
  const steps = Math.min(removal.config.steps ?? defaultSteps(n), n);
  const config: RemovalConfig = { ...removal.config, candidates: set, steps };
  const empty: RemovalReport = {
    metric: config.metric,
    candidates,
    steps: [],
    dense: 0,
    cancelled: false,
    blockInfluence: [],
    dataHash: data.hash,
    seconds: 0,
  };
  setRemoval({ status: 'running', report: empty, done: 0, total: (steps * (2 * n - steps + 1)) / 2, startedAt: performance.now(), count: 0, applied: null });
  setPlanRemoved([]);
  let cancelled = false;
  const result = await runJob(
    'Layer removal (FinerCut)',
    async (signal, onProgress) => {
      try {
        return await client.call('removal', config, {
          signal,
          onProgress: (p) => {
            onProgress(p);
            const score = p.score;
            if (!score) return;
            useLopper.setState((s) =>
              s.removal.report ? { removal: { ...s.removal, done: p.done, report: withScore(s.removal.report, score.step, score.candidate, score.value) } } : {},
            );
          },
        });
      } catch (error) {
        if (error instanceof CancelledError) cancelled = true;
        throw error;
      }
    },
    true,
    (jobId) => setRemoval({ jobId }),
  );
  setRemoval({ jobId: undefined });
  const partial = useLopper.getState().removal.report;
  if (result && !result.cancelled) setRemoval({ status: 'done', report: result });
  else if (result) setRemoval({ status: 'cancelled', report: keepPartialStep(result, partial) });
  else setRemoval({ status: cancelled ? 'cancelled' : 'failed', report: partial && { ...partial, cancelled } });
}

/**
 * A cancelled search keeps what it computed: its completed steps, and the scores of the step it
 * was in (shown in the heatmap without a removal; the slider only offers completed steps).
 */
function keepPartialStep(result: RemovalReport, partial: RemovalReport | null): RemovalReport {
  const next = partial?.steps[result.steps.length];
  return next && next.removed === '' && Object.keys(next.scores).length > 0 ? { ...result, steps: [...result.steps, next] } : result;
}

let pendingApply = 0;
const APPLY_DEBOUNCE_MS = 150;

/** The slider: the first `count` greedy removals go into the plan and the model is measured with them. */
export function setRemovalCount(count: number): void {
  const { removal } = useLopper.getState();
  const steps = removal.report?.steps.filter((s) => s.removed !== '') ?? [];
  const k = Math.max(0, Math.min(count, steps.length));
  const removed = steps.slice(0, k).map((s) => s.removed);
  setPlanRemoved(removed);
  useLopper.setState((s) => ({ removal: { ...s.removal, count: k }, pendingWork: s.pendingWork + 1 }));
  const ticket = ++pendingApply;
  setTimeout(() => {
    void (async () => {
      try {
        if (ticket !== pendingApply) return;
        const measured = await runJob('Measuring the removals', (signal, onProgress) => client.call('evaluateRemoved', { removed }, { signal, onProgress }));
        if (measured && ticket === pendingApply) setRemoval({ applied: { ...measured, count: k } });
      } finally {
        useLopper.setState((s) => ({ pendingWork: s.pendingWork - 1 }));
      }
    })();
  }, APPLY_DEBOUNCE_MS);
}
