import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { kernelToMatrix, matrixToKernel, unitLayout, type UnitLayout } from '../criteria/layout';
import { getCriterion } from '../criteria/registry';
import type { CalibrationStats, Criterion, CriterionKey } from '../criteria/types';
import { randomTokenWindows } from '../removal/calibration';
import { filesFromPath } from '../../io/node-files';
import { openModel } from '../../io/open';
import { TransformerModel } from '../transformer/model';
import { perplexity } from '../transformer/perplexity';
import { fixtureModel } from '../transformer/testing';
import type { SweepCell } from './engine';
import { captureInputStats, runTransformerSweep, type TransformerSweepOptions } from './transformer-sweep';

const SAMPLES = 3;
const LENGTH = 16;

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** Seeded random ids that `calibrationWindows` cuts back into SAMPLES windows of LENGTH tokens. */
function tokenIds(model: TransformerModel, seed = 1): number[] {
  return randomTokenWindows(model.config.vocabSize, model.contextLength, { samples: SAMPLES, length: LENGTH, seed }).flat();
}

function options(overrides: Partial<TransformerSweepOptions> = {}): TransformerSweepOptions {
  return { criterion: 'magnitude', granularity: 'unstructured', sparsities: [0, 0.5, 0.9], metric: 'loss', calibration: { samples: SAMPLES, length: LENGTH }, ...overrides };
}

function denseLayout(model: TransformerModel, unit: string): UnitLayout {
  const info = model.units().find((u) => u.name === unit)!;
  return unitLayout('Dense', unit, info.shape) as UnitLayout;
}

/** The kernel `[in, out]` a criterion makes of a unit's stored kernel, pruned directly. */
function prunedKernel(model: TransformerModel, unit: string, criterion: CriterionKey, sparsity: number, stats?: CalibrationStats): Float32Array {
  const layout = denseLayout(model, unit);
  const kernel = model.getKernel(unit);
  const matrix = kernelToMatrix(layout, kernel.dataSync() as Float32Array);
  kernel.dispose();
  const pruned = getCriterion(criterion).prune({ kind: 'dense', matrix, sparsity, granularity: 'unstructured', seed: 0, stats });
  return matrixToKernel(layout, pruned.values);
}

/** A criterion that hands every request to `inner` and records the statistics it was given per sparsity. */
function recording(inner: Criterion, seen: Map<number, CalibrationStats | undefined>): Criterion {
  return {
    key: inner.key,
    needs: inner.needs,
    supports: (kind, granularity) => inner.supports(kind, granularity),
    prune(request) {
      seen.set(request.sparsity, request.stats);
      return inner.prune(request);
    },
  };
}

function rowSums(values: ArrayLike<number>, rows: number, cols: number, f: (x: number) => number = (x) => x * x): Float64Array {
  const out = new Float64Array(cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c] += f(values[r * cols + c]);
  return out;
}

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance = 1e-5): void {
  expect(actual.length).toBe(expected.length);
  let scale = 0;
  let diff = 0;
  for (let i = 0; i < expected.length; i++) {
    scale = Math.max(scale, Math.abs(expected[i]));
    diff = Math.max(diff, Math.abs(actual[i] - expected[i]));
  }
  expect(diff / scale).toBeLessThan(tolerance);
}

describe('runTransformerSweep on hf-llama-tiny', () => {
  let model: TransformerModel;
  let ids: number[];
  let before = 0;
  beforeAll(async () => {
    before = tf.memory().numTensors;
    ({ model } = await fixtureModel('hf-llama-tiny'));
    ids = tokenIds(model);
  });
  afterAll(() => {
    model.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('sweeps every projection; the 0 column is the dense loss, the log perplexity of the windows', async () => {
    const tensors = tf.memory().numTensors;
    const cells: SweepCell[] = [];
    const result = await runTransformerSweep(model, ids, options({ onCell: (cell) => cells.push(cell) }));
    expect(tf.memory().numTensors).toBe(tensors);
    const units = model.units().map((u) => u.name);
    expect(units).toHaveLength(14);
    expect(result).toMatchObject({
      criterion: 'magnitude',
      granularity: 'unstructured',
      metric: 'loss',
      sparsities: [0, 0.5, 0.9],
      layers: units,
      skipped: [],
      cancelled: false,
      cells: 42,
    });
    expect(cells.map((c) => c.index)).toEqual([...Array(42).keys()]);
    const dense = await perplexity(model, ids, { contextLength: LENGTH });
    expect(dense.tokens).toBe(SAMPLES * (LENGTH - 1));
    expect(result.dense).toBeCloseTo(dense.nll, 6);
    for (const row of result.values) {
      expect(row[0]).toBe(result.dense);
      expect(row.every(Number.isFinite)).toBe(true);
    }
    const changed = result.values.filter((row) => row[2] !== row[0]);
    expect(changed.length).toBeGreaterThan(10);
  });

  it('prunes exactly what magnitude would on that projection, and scores the model with that kernel alone', async () => {
    const unit = 'model.layers.1.mlp.gate_proj';
    const passed: { unit: string; values: Float32Array }[] = [];
    const forwardFrom = model.forwardFrom.bind(model);
    const spy = vi.spyOn(model, 'forwardFrom').mockImplementation((step, hidden, forwardOptions) => {
      for (const [name, kernel] of forwardOptions?.kernels ?? []) passed.push({ unit: name, values: kernel.dataSync() as Float32Array });
      return forwardFrom(step, hidden, forwardOptions);
    });
    let result;
    try {
      result = await runTransformerSweep(model, ids, options({ units: [unit], sparsities: [0, 0.3, 0.7] }));
    } finally {
      spy.mockRestore();
    }
    expect(passed.map((p) => p.unit)).toEqual([unit, unit]);
    for (const [i, sparsity] of [0.3, 0.7].entries()) {
      const expected = prunedKernel(model, unit, 'magnitude', sparsity);
      expect(passed[i].values).toEqual(expected);
      expect(passed[i].values.filter((v) => v === 0).length).toBe(Math.floor(sparsity * expected.length));
      const kernel = tf.tensor2d(expected, model.units().find((u) => u.name === unit)!.shape as [number, number]);
      const direct = await perplexity(model, ids, { contextLength: LENGTH, forward: { kernels: new Map([[unit, kernel]]) } });
      kernel.dispose();
      expect(result.values[0][i + 1]).toBeCloseTo(direct.nll, 6);
    }
  });

  it('gives identical numbers on a second run, for every criterion', async () => {
    for (const criterion of ['magnitude', 'wanda', 'sparsegpt', 'random'] as const) {
      const run = (): ReturnType<typeof runTransformerSweep> => runTransformerSweep(model, ids, options({ criterion, metric: 'js', sparsities: [0, 0.6], seed: 4 }));
      const first = await run();
      expect(first.skipped).toEqual([]);
      expect(first.dense).toBe(0);
      for (const [dense, pruned] of first.values) {
        expect(dense).toBe(0);
        expect(pruned).toBeGreaterThan(0);
      }
      expect((await run()).values).toEqual(first.values);
    }
  });

  it('keeps the cells done when stopped, and frees what it holds', async () => {
    const tensors = tf.memory().numTensors;
    let done = 0;
    const result = await runTransformerSweep(model, ids, options({ criterion: 'wanda', metric: 'kl', onCell: () => done++, shouldStop: () => done >= 7 }));
    expect(result.cancelled).toBe(true);
    expect(result.cells).toBe(7);
    expect(result.values.flat().filter((v) => !Number.isNaN(v))).toHaveLength(7);
    expect(result.values[1].every(Number.isFinite)).toBe(true);
    expect(result.values[2][0]).toBe(0);
    expect(result.values[2][1]).toBeNaN();
    expect(tf.memory().numTensors).toBe(tensors);
  });

  it('sweeps [0, N/M] for N:M granularities, whatever the grid', async () => {
    for (const [granularity, share] of [
      ['2:4', 0.5],
      ['4:8', 0.5],
    ] as const) {
      const result = await runTransformerSweep(model, ids, options({ granularity, criterion: 'wanda', units: ['model.layers.0.self_attn.o_proj'] }));
      expect(result.sparsities).toEqual([0, share]);
      expect(result.values[0]).toHaveLength(2);
      expect(result.values[0][1]).not.toBe(result.dense);
    }
  });

  it('skips every unit, with the reason, for sparsegpt with channels', async () => {
    const result = await runTransformerSweep(model, ids, options({ criterion: 'sparsegpt', granularity: 'channels' }));
    expect(result.skipped).toHaveLength(14);
    expect(result.skipped[0].reason).toMatch(/sparsegpt with channels/);
    expect(result.values.flat().every(Number.isNaN)).toBe(true);
    expect(result.cells).toBe(42);
  });

  it('captures the statistics of the projection inputs the forward pass computes', async () => {
    const window = ids.slice(0, LENGTH);
    const rows = LENGTH;
    const d = model.config.hiddenSize;
    const input = tf.tensor2d([window], [1, LENGTH], 'int32');
    const hidden: tf.Tensor[] = [];
    const logits = model.forward(input, { bypass: new Set(['model.layers.0.mlp']), onHidden: (_, h) => void hidden.push(tf.keep(h.clone())) });
    const [h0, afterAttention] = [hidden[0].dataSync(), hidden[1].dataSync()];
    const read = (name: string): Float32Array => {
      const t = model.getParameter(name);
      const values = t.dataSync() as Float32Array;
      t.dispose();
      return values;
    };
    const rmsNorm = (x: ArrayLike<number>, weight: Float32Array): Float64Array => {
      const out = new Float64Array(rows * d);
      for (let r = 0; r < rows; r++) {
        let meanSq = 0;
        for (let c = 0; c < d; c++) meanSq += x[r * d + c] ** 2 / d;
        for (let c = 0; c < d; c++) out[r * d + c] = (x[r * d + c] / Math.sqrt(meanSq + model.config.normEps)) * weight[c];
      }
      return out;
    };
    const project = (x: Float64Array, unit: string): { values: Float64Array; cols: number } => {
      const kernel = model.getKernel(unit);
      const [inputs, outputs] = kernel.shape;
      const k = kernel.dataSync();
      kernel.dispose();
      const out = new Float64Array(rows * outputs);
      for (let r = 0; r < rows; r++) for (let i = 0; i < inputs; i++) for (let o = 0; o < outputs; o++) out[r * outputs + o] += x[r * inputs + i] * k[i * outputs + o];
      return { values: out, cols: outputs };
    };
    const qInput = rmsNorm(h0, read('model.layers.0.input_layernorm.weight'));
    const normed = rmsNorm(afterAttention, read('model.layers.0.post_attention_layernorm.weight'));
    const gate = project(normed, 'model.layers.0.mlp.gate_proj');
    const up = project(normed, 'model.layers.0.mlp.up_proj');
    const downInput = gate.values.map((g, i) => (g / (1 + Math.exp(-g))) * up.values[i]);
    const attentionOutput = Float64Array.from(afterAttention, (v, i) => v - h0[i]);
    tf.dispose([input, logits, ...hidden]);

    const batch = tf.tensor2d(window, [1, LENGTH], 'int32');
    const units = ['model.layers.0.self_attn.q_proj', 'model.layers.0.self_attn.k_proj', 'model.layers.0.self_attn.o_proj', 'model.layers.0.mlp.down_proj'];
    const stats = (await captureInputStats(model, [batch], units, 'gram'))!;
    batch.dispose();
    expectClose(stats.get(units[0])!.inputNormsSq, rowSums(qInput, rows, d));
    expect(stats.get(units[1])).toBe(stats.get(units[0]));
    expectClose(stats.get(units[3])!.inputNormsSq, rowSums(downInput, rows, gate.cols));
    expect(stats.get(units[3])!.samples).toBe(rows);
    // o_proj: its output is what attention adds to the residual, so Σ_rows (ctx·K)² = diag(Kᵀ (XᵀX) K).
    const o = stats.get(units[2])!;
    const kernel = model.getKernel(units[2]);
    const [inputs, outputs] = kernel.shape;
    const k = kernel.dataSync();
    kernel.dispose();
    const quadratic = new Float64Array(outputs);
    for (let j = 0; j < outputs; j++) {
      for (let a = 0; a < inputs; a++) for (let b = 0; b < inputs; b++) quadratic[j] += k[a * outputs + j] * o.gram![a * inputs + b] * k[b * outputs + j];
    }
    expectClose(quadratic, rowSums(attentionOutput, rows, d), 1e-4);
  });

  it('gives wanda the input norms of each projection, summed over every calibration window', async () => {
    const seen = new Map<number, CalibrationStats | undefined>();
    const unit = 'model.layers.1.self_attn.v_proj';
    await runTransformerSweep(model, ids, options({ criterion: recording(getCriterion('wanda'), seen), units: [unit], sparsities: [0, 0.5], batchSize: 2 }));
    const batch = tf.tensor2d(ids, [SAMPLES, LENGTH], 'int32');
    const expected = (await captureInputStats(model, [batch], [unit], 'norms'))!.get(unit)!;
    batch.dispose();
    const stats = seen.get(0.5)!;
    expect(stats.samples).toBe(SAMPLES * LENGTH);
    expectClose(stats.inputNormsSq, expected.inputNormsSq, 1e-6);
  });

  it('captures the statistics in more passes when they exceed the budget, with the same values', async () => {
    const sweep = (budget: number): ReturnType<typeof runTransformerSweep> =>
      runTransformerSweep(model, ids, options({ criterion: 'sparsegpt', sparsities: [0, 0.5], statsBudgetBytes: budget }));
    const forward = vi.spyOn(model, 'forward');
    const forwardFrom = vi.spyOn(model, 'forwardFrom');
    const forwardFromUnit = vi.spyOn(model, 'forwardFromUnit');
    const calls = (): number => forward.mock.calls.length + forwardFrom.mock.calls.length + forwardFromUnit.mock.calls.length;
    const small = await sweep(40_000);
    const passes = calls();
    forward.mockClear();
    forwardFrom.mockClear();
    forwardFromUnit.mockClear();
    const large = await sweep(2 ** 28);
    const onePass = calls();
    expect(forward.mock.calls.length).toBe(1);
    expect(forwardFromUnit.mock.calls.map(([unit]) => unit)).toEqual([0, 1].flatMap((i) => [`model.layers.${i}.self_attn.o_proj`, `model.layers.${i}.mlp.down_proj`]));
    forward.mockRestore();
    forwardFrom.mockRestore();
    forwardFromUnit.mockRestore();
    expect(onePass).toBe(1 + 14);
    expect(passes).toBeGreaterThan(onePass);
    expect(small.values).toEqual(large.values);
  });

  it('runs each cell from the cached residual stream before its sublayer, with the values of whole passes', async () => {
    for (const [criterion, metric] of [
      ['magnitude', 'loss'],
      ['wanda', 'js'],
      ['sparsegpt', 'kl'],
    ] as const) {
      {
        const sweep = (cached: boolean): ReturnType<typeof runTransformerSweep> =>
          runTransformerSweep(model, ids, options({ criterion, metric, sparsities: [0, 0.5, 0.9], batchSize: 2, cached }));
        const forward = vi.spyOn(model, 'forward');
        const fast = await sweep(true);
        expect(forward.mock.calls.length).toBe(2);
        forward.mockClear();
        const naive = await sweep(false);
        expect(forward.mock.calls.length).toBe(2 * (1 + 14 * 2));
        forward.mockRestore();
        expect(fast.values).toEqual(naive.values);
        expect(fast.dense).toBe(naive.dense);
      }
    }
  });

  it('refuses a metric it does not know and token ids outside the vocabulary', async () => {
    await expect(runTransformerSweep(model, ids, { ...options(), metric: 'accuracy' as 'loss' })).rejects.toThrow(/metric is one of loss, kl, js/);
    await expect(runTransformerSweep(model, [...ids.slice(0, 5), 50], options({ calibration: { samples: 1, length: 6 } }))).rejects.toThrow(/token id 50 is outside/);
  });
});

describe('runTransformerSweep on hf-gpt2-tiny', () => {
  let model: TransformerModel;
  beforeAll(async () => {
    ({ model } = await fixtureModel('hf-gpt2-tiny'));
  });
  afterAll(() => model.dispose());

  it('sweeps c_attn, attn.c_proj, c_fc and mlp.c_proj with every criterion', async () => {
    const ids = tokenIds(model, 2);
    const tensors = tf.memory().numTensors;
    for (const criterion of ['magnitude', 'wanda', 'sparsegpt', 'random'] as const) {
      const result = await runTransformerSweep(model, ids, options({ criterion, metric: 'kl', sparsities: [0, 0.8] }));
      expect(result.layers).toEqual([
        'transformer.h.0.attn.c_attn',
        'transformer.h.0.attn.c_proj',
        'transformer.h.0.mlp.c_fc',
        'transformer.h.0.mlp.c_proj',
        'transformer.h.1.attn.c_attn',
        'transformer.h.1.attn.c_proj',
        'transformer.h.1.mlp.c_fc',
        'transformer.h.1.mlp.c_proj',
      ]);
      for (const [dense, pruned] of result.values) {
        expect(dense).toBe(0);
        expect(pruned).toBeGreaterThan(0);
      }
    }
    expect(tf.memory().numTensors).toBe(tensors);
  });

  it('captures mlp.c_proj inputs as gelu_new of c_fc on the second LayerNorm', async () => {
    const ids = tokenIds(model, 2).slice(0, LENGTH);
    const d = model.config.hiddenSize;
    const input = tf.tensor2d([ids], [1, LENGTH], 'int32');
    const hidden: tf.Tensor[] = [];
    tf.dispose(model.forward(input, { bypass: new Set(['transformer.h.0.mlp']), onHidden: (i, h) => void (i === 1 && hidden.push(tf.keep(h.clone()))) }));
    const x = hidden[0].dataSync();
    const params = ['transformer.h.0.ln_2.weight', 'transformer.h.0.ln_2.bias', 'transformer.h.0.mlp.c_fc.bias'].map((name) => {
      const t = model.getParameter(name);
      const values = t.dataSync();
      t.dispose();
      return values;
    });
    const kernel = model.getKernel('transformer.h.0.mlp.c_fc');
    const k = kernel.dataSync();
    const inner = kernel.shape[1];
    kernel.dispose();
    const activations = new Float64Array(LENGTH * inner);
    for (let r = 0; r < LENGTH; r++) {
      const row = Array.from(x.slice(r * d, (r + 1) * d));
      const mean = row.reduce((a, b) => a + b, 0) / d;
      const variance = row.reduce((a, b) => a + (b - mean) ** 2, 0) / d;
      const normed = row.map((v, c) => ((v - mean) / Math.sqrt(variance + model.config.normEps)) * params[0][c] + params[1][c]);
      for (let o = 0; o < inner; o++) {
        let z = params[2][o];
        for (let c = 0; c < d; c++) z += normed[c] * k[c * inner + o];
        activations[r * inner + o] = 0.5 * z * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (z + 0.044715 * z ** 3)));
      }
    }
    const stats = (await captureInputStats(model, [input], ['transformer.h.0.mlp.c_proj'], 'norms'))!;
    tf.dispose([input, ...hidden]);
    expectClose(stats.get('transformer.h.0.mlp.c_proj')!.inputNormsSq, rowSums(activations, LENGTH, inner));
  });
});

describe('runTransformerSweep on the char-lm demo (sequences long enough for per-head attention)', () => {
  it('gives the values of whole passes from the cached residual streams', async () => {
    const opened = await openModel(await filesFromPath(decodeURIComponent(new URL('../../../public/models/char-lm/', import.meta.url).pathname)));
    const payload = opened.transformer!;
    const model = new TransformerModel(payload.config, payload.tensors);
    const tensors = tf.memory().numTensors;
    const ids = randomTokenWindows(model.config.vocabSize, model.contextLength, { samples: 1, length: 128, seed: 3 }).flat();
    const units = ['model.layers.1.self_attn.o_proj', 'model.layers.3.mlp.up_proj'];
    const sweep = (cached: boolean): ReturnType<typeof runTransformerSweep> =>
      runTransformerSweep(model, ids, {
        criterion: 'wanda',
        granularity: 'unstructured',
        sparsities: [0, 0.7],
        metric: 'loss',
        units,
        calibration: { samples: 2, length: 128 },
        cached,
      });
    const fast = await sweep(true);
    const naive = await sweep(false);
    expect(fast.values).toEqual(naive.values);
    expect(fast.values.every(([dense, pruned]) => pruned !== dense)).toBe(true);
    expect(tf.memory().numTensors).toBe(tensors);
    model.dispose();
  });
});
