import { magnitude } from './magnitude';
import { random } from './random';
import { sparsegpt } from './sparsegpt';
import { UnsupportedPruningError, type Criterion, type CriterionKey } from './types';
import { wanda } from './wanda';

/** Every pruning criterion, in the order of `CRITERIA`. */
export const criteria: readonly Criterion[] = [magnitude, wanda, sparsegpt, random];

const byKey = new Map<string, Criterion>(criteria.map((criterion) => [criterion.key, criterion]));

export function isCriterionKey(key: string): key is CriterionKey {
  return byKey.has(key);
}

/** The criterion registered under `key`; throws UnsupportedPruningError naming the known ones. */
export function getCriterion(key: string): Criterion {
  const criterion = byKey.get(key);
  if (!criterion) throw new UnsupportedPruningError(`unknown criterion "${key}", expected one of ${criteria.map((c) => c.key).join(', ')}`);
  return criterion;
}
