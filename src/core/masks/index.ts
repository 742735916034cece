import type { Granularity } from '../criteria/types';
import { channelMask } from './channels';
import { nmMask, parseNMPattern } from './n-m';
import type { Scores } from './select';
import { unstructuredMask, type UnstructuredScope } from './unstructured';

export { channelMask, rowSquaredNorms } from './channels';
export { groupPruneCount, nmMask, parseNMPattern, type NMPattern } from './n-m';
export { checkSparsity, pruneCount, pruneLowest, pruneLowestMagnitudes, type Scores } from './select';
export { unstructuredMask, type UnstructuredScope } from './unstructured';

/**
 * The keep-mask (1 = kept) of a score matrix at a granularity. `sparsity` is ignored for N:M (N/M
 * is implied); `scope` only matters for unstructured masks.
 */
export function maskFor(granularity: Granularity, scores: Scores, rows: number, cols: number, sparsity: number, scope: UnstructuredScope = 'layer'): Uint8Array {
  if (granularity === 'unstructured') return unstructuredMask(scores, rows, cols, sparsity, scope);
  if (granularity === 'channels') return channelMask(scores, rows, cols, sparsity);
  const pattern = parseNMPattern(granularity);
  if (!pattern) throw new RangeError(`unknown granularity ${String(granularity)}`);
  return nmMask(scores, rows, cols, pattern);
}
