import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TransformerModel } from '../transformer/model';
import { fixtureModel } from '../transformer/testing';
import { evaluationCount, greedyRemoval, singleRemovalRanking } from './greedy';
import { REMOVAL_FIXTURE, removalReference, type RemovalReference } from './testing';
import { transformerTarget } from './transformer-target';
import type { RemovalResult, RemovalScore, RemovalTarget } from './types';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

function relative(actual: number, expected: number): number {
  return Math.abs(actual - expected) / Math.abs(expected);
}

describe(`greedy removal on ${REMOVAL_FIXTURE}`, () => {
  let model: TransformerModel;
  let reference: RemovalReference;
  let result: RemovalResult;
  let tensorsBefore = 0;
  let tensorsAfter = 0;

  beforeAll(async () => {
    ({ model } = await fixtureModel(REMOVAL_FIXTURE));
    reference = await removalReference();
    tensorsBefore = tf.memory().numTensors;
    result = await greedyRemoval(transformerTarget(model, reference.windows), { metric: 'js' });
    tensorsAfter = tf.memory().numTensors;
  });
  afterAll(() => model.dispose());

  it('removes in the torch reference order with every step’s scores within 1e-4', () => {
    expect(result.candidates).toEqual(reference.candidates);
    expect(result.dense).toBe(0);
    expect(result.cancelled).toBe(false);
    expect(result.steps.map((s) => s.removed)).toEqual(reference.greedy);
    result.steps.forEach((step, i) => {
      const expected = reference.steps[i].scores;
      expect(Object.keys(step.scores).sort()).toEqual(Object.keys(expected).sort());
      for (const [candidate, value] of Object.entries(expected)) expect(relative(step.scores[candidate], value)).toBeLessThan(1e-4);
    });
    expect(tensorsAfter).toBe(tensorsBefore);
  });

  it('differs from the one-shot ranking by single-removal scores, which the fixture is built to break', () => {
    const oneShot = singleRemovalRanking(result);
    expect(oneShot).toEqual(reference.one_shot);
    expect(oneShot).not.toEqual(result.steps.map((s) => s.removed));
  });

  it('gives the same scores whatever the batching of the calibration windows', async () => {
    const batched = await greedyRemoval(transformerTarget(model, reference.windows, { batchSize: 3 }), { metric: 'js', steps: 1 });
    for (const [c, v] of Object.entries(result.steps[0].scores)) expect(relative(batched.steps[0].scores[c], v)).toBeLessThan(1e-5);
  });

  it('streams every score, stops after --steps, and a stop keeps the completed steps', async () => {
    const windows = reference.windows.slice(0, 1);
    const seen: RemovalScore[] = [];
    const twoSteps = await greedyRemoval(transformerTarget(model, windows), { metric: 'kl', steps: 2, onScore: (s) => seen.push(s) });
    expect(twoSteps.steps).toHaveLength(2);
    expect(seen).toHaveLength(evaluationCount(8, 2));
    expect(seen.map((s) => s.done)).toEqual(Array.from({ length: 15 }, (_, i) => i + 1));
    expect(seen.every((s) => s.total === 15)).toBe(true);
    expect(seen.filter((s) => s.step === 1).map((s) => s.candidate)).toEqual(reference.candidates.filter((c) => c !== twoSteps.steps[0].removed));

    const before = tf.memory().numTensors;
    let evaluations = 0;
    const stopped = await greedyRemoval(transformerTarget(model, windows), {
      metric: 'kl',
      onScore: () => evaluations++,
      shouldStop: () => evaluations >= 10,
    });
    expect(stopped.cancelled).toBe(true);
    expect(stopped.steps).toEqual(twoSteps.steps.slice(0, 1));
    expect(tf.memory().numTensors).toBe(before);
  });

  it('takes every metric; the dense model scores 0 against itself', async () => {
    const windows = reference.windows.slice(0, 1);
    for (const metric of ['kl', 'angular', 'logits'] as const) {
      const single = await greedyRemoval(transformerTarget(model, windows), { metric, steps: 1 });
      expect(single.metric).toBe(metric);
      expect(single.dense).toBe(0);
      expect(Object.values(single.steps[0].scores).every((v) => v > 0)).toBe(true);
    }
  });
});

describe('greedyRemoval', () => {
  /** A target whose output is the sum of per-candidate vectors; removing one drops its vector. */
  function additiveTarget(parts: Record<string, number[]>): RemovalTarget {
    const names = Object.keys(parts);
    const base = [4, 0, 0, 1];
    return {
      candidates: () => [...names],
      outputs: (bypass) => tf.tensor2d([names.filter((n) => !bypass.has(n)).reduce((sum, n) => sum.map((v, i) => v + parts[n][i]), base)]),
    };
  }

  it('breaks ties towards the earlier candidate', async () => {
    const ties = await greedyRemoval(additiveTarget({ a: [0, 1, 0, 0], b: [0, 1, 0, 0], c: [0, 0, 0, 0] }), { metric: 'logits' });
    expect(ties.steps.map((s) => s.removed)).toEqual(['c', 'a', 'b']);
    expect(ties.steps[1].scores).toEqual({ a: 1, b: 1 });
  });

  it('re-scores on top of earlier removals: interacting candidates reorder', async () => {
    // Alone, b is the smallest change after c; together, a and c cancel.
    const interacting = await greedyRemoval(additiveTarget({ a: [0, 0, 3, 0], b: [0, 2, 0, 0], c: [0, 0, -1, 0] }), { metric: 'logits' });
    expect(singleRemovalRanking(interacting)).toEqual(['c', 'b', 'a']);
    expect(interacting.steps.map((s) => s.removed)).toEqual(['c', 'a', 'b']);
  });

  it('refuses an unknown metric and bad step counts; zero steps evaluate nothing', async () => {
    const target = additiveTarget({ a: [0, 1, 0, 0] });
    await expect(greedyRemoval(target, { metric: 'mse' as 'js' })).rejects.toThrow(/metric must be one of js, kl, angular, logits/);
    await expect(greedyRemoval(target, { metric: 'js', steps: -1 })).rejects.toThrow(/steps must be a non-negative integer/);
    const before = tf.memory().numTensors;
    expect(await greedyRemoval(target, { metric: 'js', steps: 0 })).toEqual({ metric: 'js', candidates: ['a'], steps: [], dense: 0, cancelled: false });
    expect((await greedyRemoval(target, { metric: 'js', steps: 5 })).steps).toHaveLength(1);
    expect(tf.memory().numTensors).toBe(before);
  });
});
