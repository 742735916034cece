export { randomScores } from '../criteria/random';

export function zeros(mask: Uint8Array, start = 0, end = mask.length): number {
  let count = 0;
  for (let i = start; i < end; i++) if (mask[i] === 0) count++;
  return count;
}
