import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../data/synthetic';
import { PrunableModel } from '../model/runtime';
import { randomizeWeights, tinyCnn, tinyFunctional } from '../model/testing';
import { ArchitectureMismatchError, dare, dareModel, unitSeed } from './dare';

const SIZE = 100_000;

/** A base and a fine-tuned copy: base ~ U(−1, 1), deltas ~ U(0.01, 0.1) with random signs (or all positive). */
function pair(seed: number, positive = false): { base: Float32Array; fine: Float32Array } {
  const random = mulberry32(seed);
  const base = Float32Array.from({ length: SIZE }, () => random() * 2 - 1);
  const fine = base.map((w) => {
    const delta = 0.01 + 0.09 * random();
    return w + (positive || random() < 0.5 ? delta : -delta);
  });
  return { base, fine };
}

function deltaSum(base: Float32Array, weights: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < base.length; i++) sum += weights[i] - base[i];
  return sum;
}

describe('dare', () => {
  const { base, fine } = pair(1, true);

  it.each([0.1, 0.5, 0.9, 0.99])('drops p = %s of the deltas (±0.01) and rescales the rest by 1/(1 − p)', (p) => {
    const out = dare(base, fine, { p, seed: 3 });
    let dropped = 0;
    let wrong = 0;
    for (let i = 0; i < SIZE; i++) {
      if (out[i] === base[i]) dropped++;
      else if (out[i] !== Math.fround(base[i] + (fine[i] - base[i]) * (1 / (1 - p)))) wrong++;
    }
    expect(Math.abs(dropped / SIZE - p)).toBeLessThan(0.01);
    expect(wrong).toBe(0);
  });

  it('keeps the expected sum of the deltas (mean over seeds)', () => {
    const expected = deltaSum(base, fine);
    for (const p of [0.5, 0.9]) {
      const seeds = Array.from({ length: 10 }, (_, s) => s);
      const mean = seeds.reduce((sum, seed) => sum + deltaSum(base, dare(base, fine, { p, seed })), 0) / seeds.length;
      expect(Math.abs(mean / expected - 1)).toBeLessThan(0.01);
    }
  });

  it('rescales by 1/q for DAREx-q, which scales the expected sum by (1 − p)/q', () => {
    const expected = deltaSum(base, fine);
    const out = dare(base, fine, { p: 0.8, q: 0.5, seed: 4 });
    expect(deltaSum(base, out) / expected).toBeCloseTo(0.2 / 0.5, 1);
    const keptIndex = out.findIndex((w, i) => w !== base[i]);
    expect(out[keptIndex]).toBe(Math.fround(base[keptIndex] + (fine[keptIndex] - base[keptIndex]) * 2));
  });

  it('is deterministic in its seed', () => {
    expect(dare(base, fine, { p: 0.5, seed: 11 })).toEqual(dare(base, fine, { p: 0.5, seed: 11 }));
    expect(dare(base, fine, { p: 0.5, seed: 11 })).not.toEqual(dare(base, fine, { p: 0.5, seed: 12 }));
  });

  it('gives the fine-tuned weights at p = 0 and checks its arguments', () => {
    const mixed = pair(2);
    expect(dare(mixed.base, mixed.fine, { p: 0, seed: 0 })).toEqual(mixed.fine);
    expect(() => dare(base, fine, { p: 1, seed: 0 })).toThrow(/\[0, 1\), got 1/);
    expect(() => dare(base, fine, { p: 0.5, q: 0, seed: 0 })).toThrow(/\(0, 1\], got 0/);
    expect(() => dare(base, fine.subarray(1), { p: 0.5, seed: 0 })).toThrow(/base has 100000, fine-tuned 99999/);
  });
});

describe('unitSeed', () => {
  it('differs between units and seeds and is stable', () => {
    expect(unitSeed(0, 'conv1')).toBe(unitSeed(0, 'conv1'));
    expect(new Set([unitSeed(0, 'conv1'), unitSeed(0, 'conv2'), unitSeed(1, 'conv1'), unitSeed(0, 'dense1')]).size).toBe(4);
  });
});

async function kernelsOf(model: PrunableModel): Promise<Map<string, Float32Array>> {
  const kernels = new Map<string, Float32Array>();
  for (const unit of model.units()) {
    const kernel = model.getKernel(unit.name);
    kernels.set(unit.name, (await kernel.data()) as Float32Array);
    kernel.dispose();
  }
  return kernels;
}

function denseNet(units: number): PrunableModel {
  const model = tf.sequential({ layers: [tf.layers.dense({ inputShape: [3], units, name: 'd' }), tf.layers.dense({ units: 2, name: 'out' })] });
  return new PrunableModel(model);
}

describe('dareModel', () => {
  it('prunes the deltas of each unit against the base, without touching either model or leaking tensors', async () => {
    const base = new PrunableModel(tinyCnn());
    const fineModel = tinyCnn();
    randomizeWeights(fineModel, 21);
    const fine = new PrunableModel(fineModel);
    const [baseKernels, fineKernels] = [await kernelsOf(base), await kernelsOf(fine)];
    const units = fine.units().map((unit) => unit.name);
    const before = tf.memory().numTensors;

    const exact = await dareModel(fine, base, units, { p: 0, seed: 0 });
    expect(exact).toEqual(fineKernels);
    const pruned = await dareModel(fine, base, units, { p: 0.7, seed: 5 });
    for (const unit of units) {
      const baseValues = baseKernels.get(unit) as Float32Array;
      const fineValues = fineKernels.get(unit) as Float32Array;
      expect(pruned.get(unit)).toEqual(dare(baseValues, fineValues, { p: 0.7, seed: unitSeed(5, unit) }));
    }
    expect((await dareModel(fine, base, ['d1'], { p: 0.7, seed: 5 })).get('d1')).toEqual(pruned.get('d1'));
    expect(await kernelsOf(fine)).toEqual(fineKernels);
    expect(tf.memory().numTensors).toBe(before);
    base.dispose();
    fine.dispose();
  });

  it('refuses models of different architectures, naming the units', async () => {
    const cnn = new PrunableModel(tinyCnn());
    const functional = new PrunableModel(tinyFunctional());
    await expect(dareModel(cnn, functional, ['c1'], { p: 0.5, seed: 0 })).rejects.toThrow(ArchitectureMismatchError);
    await expect(dareModel(cnn, functional, ['c1'], { p: 0.5, seed: 0 })).rejects.toThrow(/only in the fine-tuned model: c1, c2, d1, d2, out; only in the base: conv/);
    const [wide, narrow] = [denseNet(5), denseNet(4)];
    await expect(dareModel(wide, narrow, ['d'], { p: 0.5, seed: 0 })).rejects.toThrow(/unit d is \[3, 5\] in the fine-tuned model, \[3, 4\] in the base/);
    for (const model of [cnn, functional, wide, narrow]) model.dispose();
  });
});
