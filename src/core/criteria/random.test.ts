import { describe, expect, it } from 'vitest';
import { random } from './random';
import { normalMatrix, zeroCount } from './testing';
import type { PruneRequest } from './types';

describe('random', () => {
  const matrix = normalMatrix(8, 16, 2);
  const request = (seed: number, granularity: PruneRequest['granularity'] = 'unstructured', sparsity = 0.5): PruneRequest => ({
    kind: 'dense',
    matrix,
    sparsity,
    granularity,
    seed,
  });

  it('gives the same mask for the same seed and another for another seed', () => {
    for (const granularity of ['unstructured', '2:4', '4:8', 'channels'] as const) {
      expect(random.prune(request(1, granularity)).mask).toEqual(random.prune(request(1, granularity)).mask);
      expect(random.prune(request(1, granularity)).mask).not.toEqual(random.prune(request(2, granularity)).mask);
    }
  });

  it('prunes the target share of the layer', () => {
    for (const s of [0, 0.1, 0.5, 0.95, 1]) {
      expect(Math.abs(zeroCount(random.prune(request(3, 'unstructured', s)).mask) - s * 128)).toBeLessThan(1);
    }
    expect(zeroCount(random.prune(request(3, '2:4')).mask)).toBe(64);
  });
});
