import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBackend } from '../../cli/backend';
import { densePlan, type PruningPlan } from '../../core/plan';
import { filesFromPath } from '../../io/node-files';
import { WorkerApi, type JobContext } from '../api';
import type { OpenResult } from '../protocol';

const FIXTURE = join(import.meta.dirname, '..', '..', '..', 'e2e', 'fixtures', 'graph-cnn');
const job: JobContext = { progress: () => undefined, cancelled: () => false };

function plan(opened: OpenResult, changes: Partial<PruningPlan>): PruningPlan {
  return { ...densePlan(opened.model.units, opened.data.hash), ...changes };
}

describe('a TF.js GraphModel through the worker API', () => {
  const api = new WorkerApi();
  let opened: OpenResult;
  let tensors: number;

  beforeAll(async () => {
    await startBackend('wasm');
    api.setBackendState({ name: 'wasm', reason: 'test', available: ['wasm'], crossOriginIsolated: false });
    const files = (await filesFromPath(FIXTURE)).filter((f) => !f.path.endsWith('expected.json'));
    opened = await api.openFiles(files, job);
    tensors = tf.memory().numTensors;
  });

  afterAll(() => api.dispose());

  it('opens as a graph-model with its units, layer table, candidates and capabilities, evaluated data-free', () => {
    expect(opened.model.format).toBe('graph-model');
    expect(opened.model.units).toEqual(['conv1/filter', 'conv2/filter', 'dw/filter', 'conv3/filter', 'fc/weights']);
    const rows = opened.model.layers.map((l) => l.name);
    for (const unit of opened.model.units) expect(rows).toContain(unit);
    expect(opened.model.removalCandidates).toEqual(['res']);
    // The structure view's edges: the residual add is fed by its branch and by the skip path.
    const edges = opened.model.edges ?? [];
    expect(edges.filter((e) => e.to === 'res').length).toBe(2);
    for (const edge of edges) expect(rows).toContain(edge.from);
    expect(opened.model.capabilities.delta).toBe(true);
    expect(opened.model.capabilities.granularities).toContain('channels');
    expect(opened.model.inputShape).toEqual([null, 6, 6, 2]);
    expect(opened.data).toMatchObject({ synthetic: true, hash: 'synthetic:0:32', samples: 32, shape: [32, 6, 6, 2] });
    expect(opened.evaluation.divergence).toBe(0);
  });

  it('evaluates again with every tensor freed', async () => {
    const evaluation = await api.evaluate(job);
    expect(evaluation.divergence).toBe(0);
    expect(tf.memory().numTensors).toBe(tensors);
  });

  it('shows weight statistics of a unit and of a node without weights', async () => {
    const unit = await api.layerDetail('conv2/filter');
    expect(unit.stats.count).toBe(2 * 2 * 3 * 4 * 3);
    const plain = await api.layerDetail('flatten');
    expect(plain.units).toEqual([]);
    expect(tf.memory().numTensors).toBe(tensors);
  });

  it('sweeps every unit on a 2-point grid', async () => {
    const report = await api.sweep({ criterion: 'magnitude', granularity: 'unstructured', sparsities: [0, 0.5], metric: 'js', seed: 0 }, job);
    expect(report.layers).toEqual(opened.model.units);
    expect(report.values.every((row) => row.length === 2 && row[0] === report.dense && row[1] !== null)).toBe(true);
    expect(report.values.some((row) => (row[1] as number) > 0)).toBe(true);
    expect(report.dataHash).toBe('synthetic:0:32');
    expect(tf.memory().numTensors).toBe(tensors);
  });

  it('evaluates a Wanda plan at 0.5 with its allocation', async () => {
    const result = await api.evaluatePlan({ plan: plan(opened, { criterion: 'wanda', target: 0.5 }), allocate: true }, job);
    expect(Object.values(result.sparsity).every((s) => s === 0.5)).toBe(true);
    expect(result.overall).toBeGreaterThan(0.45);
    expect(result.evaluation.divergence).toBeGreaterThan(0);
    expect(result.sizes.gzipBytes).toBeGreaterThan(0);
    expect(tf.memory().numTensors).toBe(tensors);
  });

  it("gives the layer detail the last measured plan's kernel beside the dense one, on shared bins; a dense plan drops it", async () => {
    const target = 0.5;
    await api.evaluatePlan({ plan: plan(opened, { target }), allocate: true }, job);
    const detail = await api.layerDetail('conv2/filter');
    const pruned = detail.pruned;
    if (!pruned) throw new Error('no pruned statistics after a plan that prunes conv2/filter');
    expect(pruned.count).toBe(detail.stats.count);
    expect(pruned.histogram.edges).toEqual(detail.stats.histogram.edges);
    expect(pruned.histogram.counts.reduce((a, b) => a + b, 0)).toBe(pruned.count);
    expect(pruned.zeros).toBe(Math.floor(target * pruned.count) / pruned.count);
    expect(pruned.zeros).toBeGreaterThan(detail.stats.zeros);
    const flatten = await api.layerDetail('flatten');
    expect(flatten.pruned).toBeUndefined();
    await api.evaluatePlan({ plan: plan(opened, {}), allocate: true }, job);
    expect((await api.layerDetail('conv2/filter')).pruned).toBeUndefined();
    expect(tf.memory().numTensors).toBe(tensors);
  });

  it('finds the residual branch by greedy removal and evaluates a plan that removes it', async () => {
    const removal = await api.removal({ metric: 'js', steps: 1 }, job);
    expect(removal.steps.map((s) => s.removed)).toEqual(['res']);
    const removed = await api.evaluateRemoved(['res'], job);
    expect(removed.evaluation.divergence).toBeGreaterThan(0);
    expect(removed.params).toBeLessThan(opened.model.totalParams);
    const result = await api.evaluatePlan({ plan: plan(opened, { target: 0.3, removed: ['res'] }), allocate: true }, job);
    expect(result.sparsity['dw/filter']).toBeUndefined();
    const kept = await api.evaluatePlan({ plan: plan(opened, { target: 0.3 }), allocate: true }, job);
    expect(result.evaluation.divergence).toBeGreaterThan(0);
    expect(result.evaluation.divergence).not.toBe(removed.evaluation.divergence);
    expect(result.evaluation.divergence).not.toBe(kept.evaluation.divergence);
    expect(result.params).toBe(removed.params);
    expect(tf.memory().numTensors).toBe(tensors);
  });

  it('exports a plan with a removal as a GraphModel zip that reopens and reproduces the evaluation', async () => {
    const applied = await api.evaluatePlan({ plan: plan(opened, { target: 0.5, removed: ['res'] }), allocate: true }, job);
    const result = await api.exportModel({ plan: plan(opened, { target: 0.5, sparsity: applied.sparsity, removed: ['res'] }), float16: false }, job);
    expect(result.check.ok).toBe(true);
    expect(result.check.metric).toBe('divergence');
    expect(result.check.inApp).toBeCloseTo(applied.evaluation.divergence as number, 6);
    expect(result.files).toContain('model.json');
    expect(result.files).toContain('recipe.json');
    expect(tf.memory().numTensors).toBe(tensors);

    const again = new WorkerApi();
    again.setBackendState({ name: 'wasm', reason: 'test', available: ['wasm'], crossOriginIsolated: false });
    try {
      const reopened = await again.openFiles([{ path: result.fileName, size: result.zip.length, bytes: async () => result.zip }], job);
      expect(reopened.model.format).toBe('graph-model');
      expect(reopened.model.removalCandidates).toEqual([]);
      expect(reopened.model.sparsity).toBeGreaterThan(0.4);
    } finally {
      again.dispose();
    }
    expect(tf.memory().numTensors).toBe(tensors);
  });

  it('exports float16 weights checked against the rounded model', async () => {
    const result = await api.exportModel({ plan: plan(opened, { sparsity: { 'conv2/filter': 0.5 } }), float16: true }, job);
    expect(result.fileName).toMatch(/-f16\.zip$/);
    expect(result.check.ok).toBe(true);
    expect(tf.memory().numTensors).toBe(tensors);
  });

  it('prunes the deltas against a base GraphModel with DARE (the base: a magnitude-pruned export of the same graph)', async () => {
    const pruned = await api.exportModel({ plan: plan(opened, { sparsity: { 'conv1/filter': 0.5, 'conv2/filter': 0.5 } }), float16: false }, job);
    const base = await api.loadBase([{ path: pruned.fileName, size: pruned.zip.length, bytes: async () => pruned.zip }], job);
    expect(base.changedUnits).toEqual(['conv1/filter', 'conv2/filter']);
    const withBase = tf.memory().numTensors;
    const dare = { base: base.sha256, p: 0.5, q: 0.5 };
    const applied = await api.evaluatePlan({ plan: plan(opened, { dare }), allocate: false }, job);
    expect(applied.overall).toBeGreaterThan(0.3);
    expect(applied.overall).toBeLessThan(0.7);
    expect(applied.note).toMatch(/DARE/);
    const search = await api.searchRescale(0.5, 0, job);
    expect(search.curve.length).toBeGreaterThan(1);
    const result = await api.exportModel({ plan: plan(opened, { dare }), float16: false }, job);
    expect(result.check.ok).toBe(true);
    expect(tf.memory().numTensors).toBe(withBase);
  });
});
