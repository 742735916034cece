import type { CandidateSet } from '../options';
import type { RemovalTarget } from './types';

export { CANDIDATE_SETS, type CandidateSet } from '../options';

/** The candidates of `set`, in their order: each named by `kinds` as a residual branch or a single layer; all of them without `kinds` (transformer sublayers). */
export function candidatesOfSet(candidates: readonly string[], kinds: Readonly<Record<string, 'branch' | 'layer'>> | undefined, set: CandidateSet): string[] {
  if (kinds === undefined || set === 'all') return [...candidates];
  const wanted = set === 'branches' ? 'branch' : 'layer';
  return candidates.filter((name) => (kinds[name] ?? 'branch') === wanted);
}

/**
 * The target with only the candidates of the chosen set: residual branches, shape-preserving single
 * layers, or both. `kinds` names each candidate's kind; without it (transformers: sublayers only)
 * the target is returned as it is.
 */
export function restrictCandidates(target: RemovalTarget, kinds: ReadonlyMap<string, 'branch' | 'layer'> | undefined, set: CandidateSet): RemovalTarget {
  if (kinds === undefined || set === 'all') return target;
  const kept = candidatesOfSet(target.candidates(), Object.fromEntries(kinds), set);
  return {
    ...(target.batches !== undefined && { batches: target.batches }),
    candidates: () => [...kept],
    outputs: (bypass, batch) => target.outputs(bypass, batch),
    ...(target.outputsAsync && {
      outputsAsync: (bypass: ReadonlySet<string>, batch?: number) => (target.outputsAsync as NonNullable<RemovalTarget['outputsAsync']>)(bypass, batch),
    }),
  };
}
