import { mulberry32 } from '../data/synthetic';
import { scoringCriterion } from './request';

/** Uniform scores in [0, 1) from mulberry32(seed): the same sequence in every runtime. */
export function randomScores(length: number, seed: number): Float64Array {
  const next = mulberry32(seed);
  const out = new Float64Array(length);
  for (let i = 0; i < length; i++) out[i] = next();
  return out;
}

/** Random pruning, a baseline: seeded uniform scores, masked like magnitude (layer scope). */
export const random = scoringCriterion({
  key: 'random',
  needs: 'none',
  scope: 'layer',
  scores: (request) => randomScores(request.matrix.values.length, request.seed),
});
