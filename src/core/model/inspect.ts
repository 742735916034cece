import * as tf from '@tensorflow/tfjs';
import type { LayerInfo } from '../types';
import { stepFlops } from './flops';
import type { PrunableModel } from './runtime';
import type { KernelHolder } from './kernels';

export interface ModelTotals {
  /** Every weight, trainable or not (BatchNorm moving statistics included). */
  totalParams: number;
  /** FLOPs per sample, summed over every layer call. */
  totalFlops: number;
  /** Weights in prunable kernels (units). */
  prunableParams: number;
  /** Zeros / weights over the units. */
  sparsity: number;
}

/** Exact zeros in each unit's stored kernel (reads one number per unit from the backend). */
export function unitZeroCounts(model: PrunableModel): Map<string, number> {
  const counts = new Map<string, number>();
  for (const unit of model.units()) {
    const kernel = model.getKernel(unit.name);
    const zeros = tf.tidy(() => tf.sum(tf.equal(kernel, 0)).dataSync()[0]);
    kernel.dispose();
    counts.set(unit.name, zeros);
  }
  return counts;
}

/** As `unitZeroCounts`, reading back asynchronously: the only way a WebGPU backend in a worker reads data safely. */
export async function unitZeroCountsAsync(model: KernelHolder & { units(): readonly { name: string }[] }): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const unit of model.units()) {
    const zeros = tf.tidy(() => {
      const kernel = model.getKernel(unit.name);
      return tf.sum(tf.equal(kernel, 0));
    });
    try {
      counts.set(unit.name, (await zeros.data())[0]);
    } finally {
      zeros.dispose();
    }
  }
  return counts;
}

function layerParams(layer: tf.layers.Layer): number {
  return layer.weights.reduce((total, w) => total + w.shape.reduce<number>((a, d) => a * (d ?? 0), 1), 0);
}

/**
 * The layer table: one row per layer that computes (InputLayers left out, nested models
 * flattened), in execution order. A shared layer's FLOPs add up over its calls.
 */
export function inspectLayers(model: PrunableModel, zeros = unitZeroCounts(model)): LayerInfo[] {
  const flops = new Map<string, number>();
  const outputShapes = new Map<string, (number | null)[]>();
  for (const step of model.graph.steps) {
    const name = step.layer.name;
    flops.set(name, (flops.get(name) ?? 0) + stepFlops(step));
    if (!outputShapes.has(name)) outputShapes.set(name, [...(step.outputShapes[0] ?? [])]);
  }
  const units = model.units();
  return model.layers().map((layer) => {
    const own = units.filter((unit) => unit.layer === layer.name);
    const size = own.reduce((total, unit) => total + unit.size, 0);
    const zero = own.reduce((total, unit) => total + (zeros.get(unit.name) ?? 0), 0);
    return {
      name: layer.name,
      type: layer.getClassName(),
      outputShape: outputShapes.get(layer.name) ?? [],
      params: layerParams(layer),
      flops: flops.get(layer.name) ?? 0,
      prunable: own.length > 0,
      sparsity: size === 0 ? 0 : zero / size,
    };
  });
}

export function modelSummary(model: PrunableModel, layers?: readonly LayerInfo[], zeros = unitZeroCounts(model)): ModelTotals {
  const rows = layers ?? inspectLayers(model, zeros);
  const prunableParams = model.units().reduce((total, unit) => total + unit.size, 0);
  const zeroCount = [...zeros.values()].reduce((a, b) => a + b, 0);
  return {
    totalParams: rows.reduce((total, row) => total + row.params, 0),
    totalFlops: rows.reduce((total, row) => total + row.flops, 0),
    prunableParams,
    sparsity: prunableParams === 0 ? 0 : zeroCount / prunableParams,
  };
}

/** The layer table and totals, with every read from the backend asynchronous. */
export async function inspectModel(model: PrunableModel): Promise<{ layers: LayerInfo[]; totals: ModelTotals }> {
  const zeros = await unitZeroCountsAsync(model);
  const layers = inspectLayers(model, zeros);
  return { layers, totals: modelSummary(model, layers, zeros) };
}
