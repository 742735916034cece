import { mulberry32 } from '../data/synthetic';

/** Uniform random scores in [0, 1) from a seed. */
export function randomScores(length: number, seed: number): Float64Array {
  const next = mulberry32(seed);
  const out = new Float64Array(length);
  for (let i = 0; i < length; i++) out[i] = next();
  return out;
}

export function zeros(mask: Uint8Array, start = 0, end = mask.length): number {
  let count = 0;
  for (let i = start; i < end; i++) if (mask[i] === 0) count++;
  return count;
}
