import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { mulberry32, normalGenerator, syntheticInputs } from '../data/synthetic';
import { argMaxRows } from '../metrics/accuracy';
import { PrunableModel } from '../model/runtime';
import { tinyCnn } from '../model/testing';
import { ecoflap, zerothOrderImportance } from './ecoflap';
import { expectSparsities, expectTarget, IMPORTANCE, UNITS } from './testing';

// IMPORTANCE per weight: a 1/100, b 3/100, c 4/200 → density d = k·(0.01, 0.03, 0.02),
// kept weights 100·0.01k + 100·0.03k + 200·0.02k = 8k.

describe('ECoFLaP allocation', () => {
  it('keeps weights in proportion to importance per weight', () => {
    // S = 0.5: 8k = 200 → k = 25, d = 0.25, 0.75, 0.5
    expectSparsities(ecoflap.allocate({ units: UNITS, target: 0.5, locked: {}, importance: IMPORTANCE }), { a: 0.75, b: 0.25, c: 0.5 });
    // S = 0.7: 8k = 120 → k = 15, d = 0.15, 0.45, 0.3
    expectSparsities(ecoflap.allocate({ units: UNITS, target: 0.7, locked: {}, importance: IMPORTANCE }), { a: 0.85, b: 0.55, c: 0.7 });
  });

  it('clamps the keep-budget to [1 − cap, 1] and solves for the rest', () => {
    // S = 0.2: k = 40 gives b 1.2 → 1; 100·0.01k + 200·0.02k = 320 − 100 → k = 44, d = 0.44, 1, 0.88
    expectSparsities(ecoflap.allocate({ units: UNITS, target: 0.2, locked: {}, importance: IMPORTANCE }), { a: 0.56, b: 0, c: 0.12 });
    // S = 0.92: k = 4 gives a 0.04 < 0.05 → 0.05; 100·0.03k + 200·0.02k = 32 − 5 → k = 27/7
    expectSparsities(ecoflap.allocate({ units: UNITS, target: 0.92, locked: {}, importance: IMPORTANCE }), {
      a: 0.95,
      b: 1 - (0.03 * 27) / 7,
      c: 1 - (0.02 * 27) / 7,
    });
  });

  it('keeps locked units', () => {
    // c locked at 0.5 keeps 100; a and b keep 100 of 200: 0.01k·100 + 0.03k·100 = 100 → k = 25
    expectSparsities(ecoflap.allocate({ units: UNITS, target: 0.5, locked: { c: 0.5 }, importance: IMPORTANCE }), { a: 0.75, b: 0.25, c: 0.5 });
  });

  it('is uniform when importance per weight is equal, or all zero', () => {
    const equal = new Map([
      ['a', 2],
      ['b', 2],
      ['c', 4],
    ]);
    expectSparsities(ecoflap.allocate({ units: UNITS, target: 0.6, locked: {}, importance: equal }), { a: 0.6, b: 0.6, c: 0.6 });
    const zero = new Map([...IMPORTANCE.keys()].map((k) => [k, 0]));
    expectSparsities(ecoflap.allocate({ units: UNITS, target: 0.6, locked: {}, importance: zero }), { a: 0.6, b: 0.6, c: 0.6 });
  });

  it('hits several targets within the cap and is deterministic', () => {
    for (const target of [0.05, 0.3, 0.5, 0.8, 0.95]) {
      const sparsity = ecoflap.allocate({ units: UNITS, target, locked: {}, importance: IMPORTANCE });
      expectTarget(UNITS, sparsity, target, 1e-9);
      expect(Object.values(sparsity).every((s) => s >= -1e-12 && s <= 0.95 + 1e-12)).toBe(true);
      expect(ecoflap.allocate({ units: UNITS, target, locked: {}, importance: IMPORTANCE })).toEqual(sparsity);
    }
  });

  it('rejects missing or negative scores', () => {
    expect(() => ecoflap.allocate({ units: UNITS, target: 0.5, locked: {}, importance: new Map([['a', 1]]) })).toThrow(/importance score for b/);
    expect(() => ecoflap.allocate({ units: UNITS, target: 0.5, locked: {}, importance: new Map([...IMPORTANCE, ['a', -1]]) })).toThrow(/non-negative/);
  });
});

/** One Dense layer 4 → 3 with a softmax and no bias, and 8 labelled samples. */
function softmaxRegression(): { model: PrunableModel; inputs: Float32Array; labels: Int32Array } {
  const layers = tf.sequential({ layers: [tf.layers.dense({ inputShape: [4], units: 3, useBias: false, activation: 'softmax', name: 'w' })] });
  const next = normalGenerator(mulberry32(9));
  const kernel = tf.tensor2d(Array.from({ length: 12 }, next), [4, 3]);
  layers.layers[0].setWeights([kernel]);
  kernel.dispose();
  return { model: new PrunableModel(layers), inputs: Float32Array.from({ length: 32 }, next), labels: Int32Array.from([0, 1, 2, 0, 1, 2, 0, 1]) };
}

describe('zerothOrderImportance', () => {
  it('estimates √(2/π)·‖∇L‖ per direction from forward passes only', async () => {
    const { model, inputs, labels } = softmaxRegression();
    try {
      // ∇_K L = Xᵀ(P − Y)/N for the mean cross-entropy, K = [in, out].
      const gradientNorm = tf.tidy(() => {
        const x = tf.tensor2d(inputs, [8, 4]);
        const p = model.forward(x);
        const y = tf.oneHot(tf.tensor1d(labels, 'int32'), 3).toFloat();
        return x.transpose().matMul(p.sub(y)).div(8).norm().dataSync()[0];
      });
      const draws = 400;
      const scores = await zerothOrderImportance(model, { inputs, shape: [8, 4], labels }, { samples: draws, epsilon: 1e-3 });
      const mean = (scores.get('w') ?? NaN) / draws;
      expect(mean / (Math.sqrt(2 / Math.PI) * gradientNorm)).toBeGreaterThan(0.9);
      expect(mean / (Math.sqrt(2 / Math.PI) * gradientNorm)).toBeLessThan(1.1);
    } finally {
      model.dispose();
    }
  });

  it("uses the dense model's own predictions without labels, deterministically and without leaking tensors", async () => {
    const model = new PrunableModel(tinyCnn());
    try {
      const data = syntheticInputs(model.inputShape, 10, 4);
      const tensors = tf.memory().numTensors;
      const seen: string[] = [];
      const free = await zerothOrderImportance(model, data, { seed: 3, onUnit: (p) => seen.push(p.unit) });
      expect(tf.memory().numTensors).toBe(tensors);
      expect(seen).toEqual(model.units().map((u) => u.name));
      for (const score of free.values()) expect(score).toBeGreaterThan(0);
      const x = tf.tensor(data.inputs, data.shape);
      const y = model.forward(x);
      const labels = argMaxRows(y.dataSync() as Float32Array, 3);
      tf.dispose([x, y]);
      expect(await zerothOrderImportance(model, { ...data, labels }, { seed: 3 })).toEqual(free);
      expect(await zerothOrderImportance(model, data, { seed: 3, units: ['d1'] })).toEqual(new Map([['d1', free.get('d1')]]));
      expect((await zerothOrderImportance(model, data, { seed: 4, units: ['d1'] })).get('d1')).not.toBe(free.get('d1'));
      let done = 0;
      const partial = await zerothOrderImportance(model, data, { seed: 3, onUnit: () => done++, shouldStop: () => done >= 2 });
      expect([...partial.keys()]).toEqual(['c1', 'c2']);
    } finally {
      model.dispose();
    }
  });
});
