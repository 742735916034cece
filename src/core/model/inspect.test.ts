import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import type { LayerInfo } from '../types';
import { inspectLayers, modelSummary } from './inspect';
import { PrunableModel } from './runtime';
import { tinyFunctional } from './testing';

/** Builds a Sequential model, inspects it, frees it and checks that no tensor is left. */
function inspectSequential(layers: tf.layers.Layer[]): LayerInfo[] {
  const before = tf.memory().numTensors;
  const model = new PrunableModel(tf.sequential({ layers }));
  const rows = inspectLayers(model);
  model.dispose();
  expect(tf.memory().numTensors).toBe(before);
  return rows;
}

function pick(rows: LayerInfo[]): [string, number, number][] {
  return rows.map((row) => [row.name, row.params, row.flops]);
}

describe('inspectLayers', () => {
  it('counts Dense params and FLOPs', () => {
    const rows = inspectSequential([tf.layers.dense({ inputShape: [10], units: 4, name: 'd1' }), tf.layers.dense({ units: 3, useBias: false, activation: 'softmax', name: 'd2' })]);
    // d1: 10·4 + 4 weights; 2·10·4 + 4 bias adds. d2: 4·3; 2·4·3.
    expect(pick(rows)).toEqual([
      ['d1', 44, 84],
      ['d2', 12, 24],
    ]);
    expect(rows[1]).toMatchObject({ type: 'Dense', outputShape: [null, 3], prunable: true, sparsity: 0 });
  });

  it('counts Conv2D with valid and same padding and strides', () => {
    const rows = inspectSequential([
      // 8×8×3 → 6×6×5: 3·3·3·5 + 5 weights; 2·9·3·5·36 + 5·36
      tf.layers.conv2d({ inputShape: [8, 8, 3], filters: 5, kernelSize: 3, name: 'valid' }),
      // 6×6×5 → 3×3×4: 3·3·5·4 + 4; 2·9·5·4·9 + 4·9
      tf.layers.conv2d({ filters: 4, kernelSize: 3, strides: 2, padding: 'same', name: 'same2' }),
    ]);
    expect(pick(rows)).toEqual([
      ['valid', 140, 9900],
      ['same2', 184, 3276],
    ]);
    expect(rows.map((r) => r.outputShape)).toEqual([
      [null, 6, 6, 5],
      [null, 3, 3, 4],
    ]);

    // 7×7×2 → ceil(7/2) = 4: 4×4×3; 2·9·2·3·16 + 3·16
    const odd = inspectSequential([tf.layers.conv2d({ inputShape: [7, 7, 2], filters: 3, kernelSize: 3, strides: 2, padding: 'same', name: 'odd' })]);
    expect(pick(odd)).toEqual([['odd', 57, 1776]]);
  });

  it('counts DepthwiseConv2D and SeparableConv2D', () => {
    const rows = inspectSequential([
      // 6×6×4, multiplier 2, valid → 4×4×8: 3·3·4·2 + 8; 2·9·4·2·16 + 8·16
      tf.layers.depthwiseConv2d({ inputShape: [6, 6, 4], kernelSize: 3, depthMultiplier: 2, name: 'dw' }),
      // 4×4×8 → 4×4×5 (same): depthwise 9·8, pointwise 8·5, bias 5;
      // 2·9·8·16 + 2·8·5·16 + 5·16
      tf.layers.separableConv2d({ filters: 5, kernelSize: 3, padding: 'same', name: 'sep' }),
    ]);
    expect(pick(rows)).toEqual([
      ['dw', 80, 2432],
      ['sep', 117, 2304 + 1280 + 80],
    ]);
  });

  it('counts BatchNorm (moving statistics included), pooling and merges', () => {
    const input = tf.input({ shape: [6, 6, 4] });
    const norm = tf.layers.batchNormalization({ name: 'bn' }).apply(input) as tf.SymbolicTensor;
    const sum = tf.layers.add({ name: 'add' }).apply([input, norm]) as tf.SymbolicTensor;
    const pooled = tf.layers.maxPooling2d({ poolSize: 2, name: 'pool' }).apply(sum) as tf.SymbolicTensor;
    const global = tf.layers.globalAveragePooling2d({ name: 'gap' }).apply(pooled) as tf.SymbolicTensor;
    const act = tf.layers.activation({ activation: 'relu', name: 'act' }).apply(global) as tf.SymbolicTensor;
    const model = new PrunableModel(tf.model({ inputs: input, outputs: act }));
    const rows = inspectLayers(model);
    // bn: 4 weights × 4 channels, 2 per element of 6·6·4; add: 144; pool: 2·2 per 3·3·4 outputs;
    // global pooling: one per input element 3·3·4; activation: 0
    expect(pick(rows)).toEqual([
      ['bn', 16, 288],
      ['add', 0, 144],
      ['pool', 0, 144],
      ['gap', 0, 36],
      ['act', 0, 0],
    ]);
    expect(rows.every((r) => !r.prunable)).toBe(true);
    expect(modelSummary(model)).toEqual({ totalParams: 16, totalFlops: 612, prunableParams: 0, sparsity: 0 });
    model.dispose();
  });

  it('reports sparsity per layer and totals over the units', () => {
    const before = tf.memory().numTensors;
    const model = new PrunableModel(tinyFunctional());
    const units = model.units();
    const pointwise = new Float32Array(16).fill(1);
    pointwise.fill(0, 0, 4);
    model.setKernel('sep/pointwise', pointwise);
    model.setKernel('logits', new Float32Array(40));
    const rows = inspectLayers(model);
    const sep = rows.find((r) => r.name === 'sep')!;
    // sep's units: depthwise 36 (no zeros) + pointwise 16 (4 zeros)
    expect(sep.sparsity).toBeCloseTo(4 / 52, 12);
    expect(rows.find((r) => r.name === 'logits')!.sparsity).toBe(1);
    expect(rows.find((r) => r.name === 'bn')).toMatchObject({ params: 16, prunable: false, sparsity: 0 });
    expect(rows.find((r) => r.name === 'shared')!.flops).toBe(2 * (2 * 8 * 8 + 8));

    const totals = modelSummary(model, rows);
    const prunable = units.reduce((n, u) => n + u.size, 0);
    expect(totals.totalParams).toBe(model.layersModel.countParams());
    expect(totals.prunableParams).toBe(prunable);
    expect(totals.sparsity).toBeCloseTo((4 + 40) / prunable, 12);
    expect(totals.totalFlops).toBe(rows.reduce((n, r) => n + r.flops, 0));
    model.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
