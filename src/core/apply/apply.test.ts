import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kernelToMatrix, matrixToKernel } from '../criteria/layout';
import { getCriterion } from '../criteria/registry';
import { syntheticInputs } from '../data/synthetic';
import { groupPruneCount, parseNMPattern } from '../masks';
import { disposeActivations, PrunableModel } from '../model/runtime';
import { tinyCnn, tinyFunctional } from '../model/testing';
import { densePlan, type PruningPlan } from '../plan';
import { collectStats, prunableLayout } from '../sweep/calibration';
import { achievedSparsity, applyPlan } from './apply';
import type { CalibrationData } from './capture';
import { twoDense, UNIT_SAMPLES } from './testing';

function storedKernel(model: PrunableModel, unit: string): Float32Array {
  const kernel = model.getKernel(unit);
  const values = (kernel.dataSync() as Float32Array).slice();
  kernel.dispose();
  return values;
}

function planFor(model: PrunableModel, changes: Partial<PruningPlan>): PruningPlan {
  return {
    ...densePlan(
      model.units().map((u) => u.name),
      'test',
    ),
    ...changes,
  };
}

/**
 * The plain way to prune in order: each unit's statistics come from the model as stored, and its
 * pruned kernel is stored before the next unit. Changes `model`.
 */
async function pruneInPlace(model: PrunableModel, plan: PruningPlan, data: CalibrationData): Promise<Map<string, Float32Array>> {
  const criterion = getCriterion(plan.criterion);
  const kernels = new Map<string, Float32Array>();
  const x = tf.tensor(data.inputs, [...data.shape], 'float32');
  const bypass = new Set(plan.removed);
  try {
    for (const unit of model.units()) {
      const sparsity = plan.sparsity[unit.name] ?? 0;
      const layout = prunableLayout(model, unit.name, criterion, plan.granularity);
      if (sparsity === 0 || typeof layout === 'string') continue;
      const captured = model.captureInputs(x, [unit.layer], { bypass });
      const stats = criterion.needs === 'none' ? undefined : await collectStats(model, unit.name, captured.get(unit.layer)?.inputs[0] ?? x, criterion.needs);
      disposeActivations(captured);
      const { values } = criterion.prune({
        kind: layout.kind,
        matrix: kernelToMatrix(layout, storedKernel(model, unit.name)),
        sparsity,
        granularity: plan.granularity,
        stats,
        seed: plan.seed,
      });
      const kernel = matrixToKernel(layout, values);
      model.setKernel(unit.name, kernel);
      kernels.set(unit.name, kernel);
    }
  } finally {
    x.dispose();
  }
  return kernels;
}

function expectSameKernels(actual: Map<string, Float32Array>, expected: Map<string, Float32Array>, tolerance = 0): void {
  expect([...actual.keys()]).toEqual([...expected.keys()]);
  for (const [unit, values] of expected) {
    const got = actual.get(unit) ?? new Float32Array(0);
    expect(got.length, unit).toBe(values.length);
    for (let i = 0; i < values.length; i++) {
      expect(got[i] === 0, `${unit}[${i}] pruned`).toBe(values[i] === 0);
      expect(Math.abs(got[i] - values[i]), `${unit}[${i}]`).toBeLessThanOrEqual(tolerance);
    }
  }
}

describe('applyPlan', () => {
  let cnn: PrunableModel;
  let functional: PrunableModel;
  let cnnData: CalibrationData;
  let functionalData: CalibrationData;
  let before = 0;
  beforeAll(() => {
    before = tf.memory().numTensors;
    cnn = new PrunableModel(tinyCnn());
    functional = new PrunableModel(tinyFunctional());
    cnnData = syntheticInputs(cnn.inputShape, 12, 1);
    functionalData = syntheticInputs(functional.inputShape, 10, 2);
  });
  afterAll(() => {
    cnn.dispose();
    functional.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('prunes each unit as its criterion does alone, for magnitude and random, without changing the model', async () => {
    const sparsity = { c1: 0.3, c2: 0.5, d1: 0.25, d2: 0, out: 0.7 };
    const stored = new Map(cnn.units().map((u) => [u.name, storedKernel(cnn, u.name)]));
    for (const criterion of ['magnitude', 'random'] as const) {
      const tensors = tf.memory().numTensors;
      const result = await applyPlan(cnn, planFor(cnn, { criterion, sparsity, seed: 5 }), undefined);
      expect(tf.memory().numTensors).toBe(tensors);
      const expected = new Map<string, Float32Array>();
      for (const unit of cnn.units()) {
        const s = sparsity[unit.name as keyof typeof sparsity];
        if (s === 0) continue;
        const layout = prunableLayout(cnn, unit.name, getCriterion(criterion), 'unstructured');
        if (typeof layout === 'string') throw new Error(layout);
        const direct = getCriterion(criterion).prune({
          kind: layout.kind,
          matrix: kernelToMatrix(layout, stored.get(unit.name) ?? new Float32Array(0)),
          sparsity: s,
          granularity: 'unstructured',
          seed: 5,
        });
        expected.set(unit.name, matrixToKernel(layout, direct.values));
      }
      expectSameKernels(result.kernels, expected);
      expect(result.cancelled).toBe(false);
      expect(result.skipped).toEqual([]);
      for (const unit of cnn.units()) {
        const size = unit.size;
        const s = sparsity[unit.name as keyof typeof sparsity];
        expect(result.sparsity[unit.name], unit.name).toBeCloseTo(Math.floor(s * size + 1e-9) / size, 12);
        expect(storedKernel(cnn, unit.name)).toEqual(stored.get(unit.name));
      }
    }
  });

  it("Wanda's second unit sees the inputs of the pruned first unit", async () => {
    const model = new PrunableModel(twoDense());
    try {
      // Samples e0, e1. Pruning half of each row of `first` by |W|·‖X‖ (‖X_:,j‖ = 1) drops its input 1:
      // h = (0.6·x0, 0.7·x0), so ‖h0‖² falls from 0.61 to 0.36 and ‖h1‖² from 0.5 to 0.49.
      const data: CalibrationData = UNIT_SAMPLES;
      const plan = planFor(model, { criterion: 'wanda', sparsity: { first: 0.5, second: 0.5 } });
      const tensors = tf.memory().numTensors;
      const result = await applyPlan(model, plan, data);
      expect(tf.memory().numTensors).toBe(tensors);
      expect([...(result.kernels.get('first') ?? [])]).toEqual([Math.fround(0.6), Math.fround(0.7), 0, 0]);
      // With the pruned prefix ‖h0‖ < ‖h1‖: `second` drops input 0 in both rows.
      expect([...(result.kernels.get('second') ?? [])]).toEqual([0, 0, 1, 2]);
      // With the dense prefix ‖h0‖ > ‖h1‖ and it would have dropped input 1 instead.
      const alone = await applyPlan(model, planFor(model, { criterion: 'wanda', sparsity: { second: 0.5 } }), data);
      expect([...(alone.kernels.get('second') ?? [])]).toEqual([1, 2, 0, 0]);
      expect(result.sparsity).toEqual({ first: 0.5, second: 0.5 });
    } finally {
      model.dispose();
    }
  });

  it('gives the kernels of pruning in place unit by unit, for Wanda and SparseGPT, with bypasses', async () => {
    const cases: Partial<PruningPlan>[] = [
      { criterion: 'wanda', sparsity: { conv: 0.5, dw: 0.3, 'sep/depthwise': 0.9, 'sep/pointwise': 0.5, h1: 0.6, h2: 0.2, shared: 0.5, logits: 0.4 } },
      { criterion: 'wanda', sparsity: { conv: 0.5, 'sep/pointwise': 0.5, shared: 0.5 }, removed: ['dw'] },
      { criterion: 'sparsegpt', sparsity: { conv: 0.5, 'sep/pointwise': 0.5, h1: 0.6, shared: 0.5, logits: 0.3 } },
    ];
    for (const changes of cases) {
      const plan = planFor(functional, changes);
      const tensors = tf.memory().numTensors;
      const result = await applyPlan(functional, plan, functionalData, { batchSize: 4 });
      expect(tf.memory().numTensors).toBe(tensors);
      const copy = new PrunableModel(tinyFunctional());
      try {
        const expected = await pruneInPlace(copy, plan, functionalData);
        expectSameKernels(result.kernels, expected, 1e-5);
      } finally {
        copy.dispose();
      }
    }
  });

  it('keeps the N:M pattern and leaves units at 0 dense', async () => {
    for (const criterion of ['magnitude', 'wanda'] as const) {
      const plan = planFor(cnn, { criterion, granularity: '2:4', sparsity: { c1: 0.1, c2: 0.5, d1: 0.9, d2: 0, out: 0.5 } });
      const result = await applyPlan(cnn, plan, cnnData);
      expect([...result.kernels.keys()]).toEqual(['c1', 'c2', 'd1', 'out']);
      const pattern = parseNMPattern('2:4');
      if (!pattern) throw new Error('2:4');
      for (const [unit, kernel] of result.kernels) {
        const info = cnn.units().find((u) => u.name === unit);
        const layout = prunableLayout(cnn, unit, getCriterion(criterion), '2:4');
        if (typeof layout === 'string' || !info) throw new Error(unit);
        const { rows, cols, values } = kernelToMatrix(layout, kernel);
        for (let r = 0; r < rows; r++) {
          for (let c = 0; c < cols; c += 4) {
            const length = Math.min(4, cols - c);
            const zeros = values.subarray(r * cols + c, r * cols + c + length).filter((v) => v === 0).length;
            expect(zeros, `${unit} row ${r} group ${c}`).toBeGreaterThanOrEqual(groupPruneCount(pattern, length));
          }
        }
      }
      expect(result.sparsity.d2).toBe(0);
    }
  });

  it('is deterministic', async () => {
    const plan = planFor(cnn, { criterion: 'sparsegpt', sparsity: { c1: 0.3, c2: 0.5, d1: 0.6, d2: 0.4, out: 0.2 } });
    const first = await applyPlan(cnn, plan, cnnData);
    const second = await applyPlan(cnn, plan, cnnData);
    expectSameKernels(second.kernels, first.kernels);
    expect(second.sparsity).toEqual(first.sparsity);
  });

  it('reports progress, stops between units keeping what it did, and lists units it cannot prune', async () => {
    const seen: string[] = [];
    const tensors = tf.memory().numTensors;
    const stopped = await applyPlan(cnn, planFor(cnn, { criterion: 'wanda', sparsity: { c1: 0.5, c2: 0.5, d1: 0.5 } }), cnnData, {
      onUnit: (progress) => seen.push(`${progress.unit} ${progress.index + 1}/${progress.total}`),
      shouldStop: () => seen.length >= 2,
    });
    expect(tf.memory().numTensors).toBe(tensors);
    expect(seen).toEqual(['c1 1/3', 'c2 2/3']);
    expect(stopped.cancelled).toBe(true);
    expect([...stopped.kernels.keys()]).toEqual(['c1', 'c2']);
    const skipping = await applyPlan(functional, planFor(functional, { criterion: 'sparsegpt', sparsity: { dw: 0.5, h1: 0.5 } }), functionalData);
    expect(skipping.skipped.map((s) => s.unit)).toEqual(['dw']);
    expect(skipping.skipped[0].reason).toMatch(/depthwise/);
    expect([...skipping.kernels.keys()]).toEqual(['h1']);
  });

  it('rejects plans that do not fit the model, and data-hungry criteria without data', async () => {
    await expect(applyPlan(cnn, planFor(cnn, { sparsity: { nope: 0.5 } }), undefined)).rejects.toThrow(/nope/);
    await expect(applyPlan(cnn, planFor(cnn, { sparsity: { c1: 1.5 } }), undefined)).rejects.toThrow(/\[0, 1\]/);
    await expect(applyPlan(cnn, planFor(cnn, { criterion: 'wanda', sparsity: { c1: 0.5 } }), undefined)).rejects.toThrow(/calibration data/);
  });
});

describe('achievedSparsity', () => {
  it('counts zeros per kernel and over all of them', () => {
    const result = achievedSparsity(
      new Map([
        ['a', Float32Array.from([0, 1, 0, 2])],
        ['b', Float32Array.from([0, 0, 0, 0, 1, 1])],
      ]),
    );
    expect(result.sparsity).toEqual({ a: 0.5, b: 4 / 6 });
    expect(result.overall).toBeCloseTo(6 / 10, 12);
  });
});
