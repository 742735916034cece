import type { RemovalTarget } from './types';

/** Which removal candidates a LayersModel or GraphModel offers a search (DESIGN §6 `--candidates`). */
export const CANDIDATE_SETS = ['branches', 'layers', 'all'] as const;
export type CandidateSet = (typeof CANDIDATE_SETS)[number];

/**
 * The target with only the candidates of the chosen set: residual branches, shape-preserving single
 * layers, or both. `kinds` names each candidate's kind; without it (transformers: sublayers only)
 * the target is returned as it is.
 */
export function restrictCandidates(target: RemovalTarget, kinds: ReadonlyMap<string, 'branch' | 'layer'> | undefined, set: CandidateSet): RemovalTarget {
  if (kinds === undefined || set === 'all') return target;
  const wanted = set === 'branches' ? 'branch' : 'layer';
  const kept = target.candidates().filter((name) => (kinds.get(name) ?? 'branch') === wanted);
  return { ...(target.batches !== undefined && { batches: target.batches }), candidates: () => [...kept], outputs: (bypass, batch) => target.outputs(bypass, batch) };
}
