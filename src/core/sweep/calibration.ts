import * as tf from '@tensorflow/tfjs';
import { unitLayout, type UnitLayout } from '../criteria/layout';
import type { CalibrationStats, Criterion, Granularity } from '../criteria/types';
import type { Layer } from '../model/graph';
import { gramOf } from '../pipeline/stats';
import type { PrunableModel } from '../model/runtime';
import type { UnitInfo } from '../types';

/** Patch matrices of at most this many values are built at once; larger inputs are summed in slices of samples. */
const SLICE_VALUES = 1 << 22;

function unitInfo(model: PrunableModel, unit: string): UnitInfo {
  const info = model.units().find((u) => u.name === unit);
  if (info === undefined) throw new Error(`no prunable unit named ${unit}`);
  return info;
}

function layerOf(model: PrunableModel, name: string): Layer {
  const layer = model.layers().find((l) => l.name === name);
  if (layer === undefined) throw new Error(`no layer named ${name}`);
  return layer;
}

/** The unit's kernel seen as W (criteria/layout.ts), or the reason it has no such layout. */
export function unitLayoutOf(model: PrunableModel, unit: string): UnitLayout | string {
  const info = unitInfo(model, unit);
  return unitLayout(layerOf(model, info.layer).getClassName(), unit, info.shape);
}

/** The unit's layout when the criterion can prune it at this granularity, else the reason it cannot. */
export function prunableLayout(model: PrunableModel, unit: string, criterion: Criterion, granularity: Granularity): UnitLayout | string {
  const layout = unitLayoutOf(model, unit);
  if (typeof layout === 'string') return layout;
  const supported = criterion.supports(layout.kind, granularity);
  return supported === true ? layout : supported;
}

/** The geometry of a convolution, read from a layer's config. */
interface ConvGeometry {
  kernel: number[];
  strides: number[];
  dilations: number[];
  padding: 'valid' | 'same';
  channelsFirst: boolean;
}

function perAxis(value: unknown, rank: number, name: string, layer: string): number[] {
  const list = Array.isArray(value) ? value : [value ?? 1];
  const numbers = list.map((v: unknown) => (typeof v === 'number' ? v : NaN));
  const expanded = numbers.length === 1 ? new Array<number>(rank).fill(numbers[0]) : numbers;
  if (expanded.length !== rank || expanded.some((v) => !Number.isInteger(v) || v < 1)) {
    throw new Error(`${layer}: cannot read ${name} ${JSON.stringify(value)}`);
  }
  return expanded;
}

function convGeometry(layer: Layer, kernelShape: readonly number[]): ConvGeometry {
  const config = layer.getConfig();
  const rank = kernelShape.length - 2;
  const padding = config.padding ?? 'valid';
  if (padding !== 'valid' && padding !== 'same') throw new Error(`${layer.name}: ${String(padding)} padding is not supported`);
  return {
    kernel: kernelShape.slice(0, rank),
    strides: perAxis(config.strides, rank, 'strides', layer.name),
    dilations: perAxis(config.dilationRate, rank, 'dilation rate', layer.name),
    padding,
    channelsFirst: config.dataFormat === 'channelsFirst',
  };
}

/** NC… → N…C, so that every convolution below runs channels-last. */
function toChannelsLast(x: tf.Tensor, geometry: ConvGeometry): tf.Tensor {
  if (!geometry.channelsFirst) return x;
  const rank = x.rank;
  return tf.transpose(x, [0, ...Array.from({ length: rank - 2 }, (_, i) => i + 2), 1]);
}

/**
 * A one-hot kernel `[...k, in, k·in]` whose output channel `(pos, c)` copies input channel `c` at kernel
 * tap `pos`: convolving with it turns every output position into its patch in (…k, in) order.
 */
function identityKernel(geometry: ConvGeometry, channels: number): tf.Tensor {
  const size = geometry.kernel.reduce((a, b) => a * b, 1) * channels;
  return tf.tidy(() => tf.eye(size).reshape([...geometry.kernel, channels, size]));
}

/** A one-hot depthwise kernel `[kh, kw, in, kh·kw]`: output channel `c·kh·kw + pos` is channel `c` at tap `pos`. */
function depthwiseIdentityKernel(geometry: ConvGeometry, channels: number): tf.Tensor4D {
  const taps = geometry.kernel.reduce((a, b) => a * b, 1);
  const values = new Float32Array(taps * channels * taps);
  for (let pos = 0; pos < taps; pos++) {
    for (let c = 0; c < channels; c++) values[(pos * channels + c) * taps + pos] = 1;
  }
  return tf.tensor4d(values, [geometry.kernel[0], geometry.kernel[1], channels, taps]);
}

function convolve(x: tf.Tensor, kernel: tf.Tensor, geometry: ConvGeometry): tf.Tensor {
  const { strides, dilations, padding } = geometry;
  switch (x.rank) {
    case 3:
      return tf.conv1d(x as tf.Tensor3D, kernel as tf.Tensor3D, strides[0], padding, 'NWC', dilations[0]);
    case 4:
      return tf.conv2d(x as tf.Tensor4D, kernel as tf.Tensor4D, [strides[0], strides[1]], padding, 'NHWC', [dilations[0], dilations[1]]);
    case 5:
      return tf.conv3d(x as tf.Tensor5D, kernel as tf.Tensor5D, [strides[0], strides[1], strides[2]], padding, 'NDHWC', [dilations[0], dilations[1], dilations[2]]);
    default:
      throw new Error(`convolution inputs of rank ${x.rank} are not supported`);
  }
}

function depthwise(x: tf.Tensor, kernel: tf.Tensor, geometry: ConvGeometry): tf.Tensor {
  const { strides, dilations, padding } = geometry;
  return tf.depthwiseConv2d(x as tf.Tensor4D, kernel as tf.Tensor4D, [strides[0], strides[1]], padding, 'NHWC', [dilations[0], dilations[1]]);
}

/** Turns a slice of the layer input (samples first) into X: `[rows, cols]`, or `[rows, channels·cols]` for depthwise. */
interface PatchBuilder {
  build(x: tf.Tensor): tf.Tensor2D;
  /** An upper bound on the values `build` makes per sample. */
  valuesPerSample: number;
  dispose(): void;
}

function patchBuilder(model: PrunableModel, info: UnitInfo, layout: UnitLayout, layerInput: tf.Tensor): PatchBuilder {
  const layer = layerOf(model, info.layer);
  const positions = (channels: number): number => layerInput.size / Math.max(1, layerInput.shape[0]) / channels;
  if (layout.kind === 'dense') {
    return {
      build: (x) => x.reshape([-1, layout.cols]),
      valuesPerSample: positions(1),
      dispose: () => undefined,
    };
  }
  const isSeparable = layer.getClassName() === 'SeparableConv2D';
  if (layout.kind === 'depthwise') {
    const geometry = convGeometry(layer, info.shape);
    const channels = layout.channels ?? 0;
    const kernel = depthwiseIdentityKernel(geometry, channels);
    return {
      build: (x) => depthwise(toChannelsLast(x, geometry), kernel, geometry).reshape([-1, channels * layout.cols]),
      valuesPerSample: positions(channels) * channels * layout.cols,
      dispose: () => kernel.dispose(),
    };
  }
  if (isSeparable) {
    const depthwiseUnit = `${layer.name}/depthwise`;
    const depthwiseKernel = model.getKernel(depthwiseUnit);
    const geometry = convGeometry(layer, depthwiseKernel.shape);
    const inChannels = depthwiseKernel.shape[2] ?? 1;
    return {
      build: (x) => depthwise(toChannelsLast(x, geometry), depthwiseKernel, geometry).reshape([-1, layout.cols]),
      valuesPerSample: positions(inChannels) * layout.cols,
      dispose: () => depthwiseKernel.dispose(),
    };
  }
  const geometry = convGeometry(layer, info.shape);
  const inChannels = info.shape[info.shape.length - 2];
  const kernel = identityKernel(geometry, inChannels);
  return {
    build: (x) => convolve(toChannelsLast(x, geometry), kernel, geometry).reshape([-1, layout.cols]),
    valuesPerSample: positions(inChannels) * layout.cols,
    dispose: () => kernel.dispose(),
  };
}

function addInto(total: Float64Array, values: ArrayLike<number>): void {
  for (let i = 0; i < total.length; i++) total[i] += values[i];
}

/**
 * Statistics of a unit's calibration inputs X in W's column layout (criteria/types.ts): `layerInput`
 * is what enters the unit's layer, samples first. Dense: X is the input flattened to `[rows, in]`;
 * convolutions: X holds the im2col patches in (…k, in) order; a SeparableConv2D pointwise unit sees
 * the depthwise output; depthwise units give per-channel norms (`groups` = channels). Norms are
 * Σ X², the Gram matrix XᵀX; both summed in float64 over slices of samples.
 */
export async function collectStats(model: PrunableModel, unit: string, layerInput: tf.Tensor, needs: 'norms' | 'gram'): Promise<CalibrationStats> {
  const info = unitInfo(model, unit);
  const layout = unitLayoutOf(model, unit);
  if (typeof layout === 'string') throw new Error(`${unit}: ${layout}`);
  const builder = patchBuilder(model, info, layout, layerInput);
  const groups = layout.kind === 'depthwise' ? (layout.channels ?? 1) : undefined;
  const withGram = needs === 'gram' && groups === undefined;
  const normsSq = new Float64Array((groups ?? 1) * layout.cols);
  const gram = withGram ? new Float64Array(layout.cols * layout.cols) : undefined;
  const samples = layerInput.shape[0];
  const step = Math.max(1, Math.floor(SLICE_VALUES / Math.max(1, builder.valuesPerSample)));
  let rows = 0;
  try {
    for (let start = 0; start < samples; start += step) {
      const count = Math.min(step, samples - start);
      const x = tf.tidy(() => builder.build(count === samples ? layerInput : layerInput.slice(start, count)));
      const norms = tf.tidy(() => x.square().sum(0));
      const products = gram ? gramOf(x) : null;
      rows += x.shape[0];
      x.dispose();
      try {
        addInto(normsSq, await norms.data());
        if (gram && products) addInto(gram, await products.data());
      } finally {
        norms.dispose();
        products?.dispose();
      }
    }
  } finally {
    builder.dispose();
  }
  const stats: CalibrationStats = { samples: rows, inputNormsSq: normsSq };
  if (gram) stats.gram = gram;
  if (groups !== undefined) stats.groups = groups;
  return stats;
}

/**
 * X of one unit from what enters its layer (samples first), in W's column layout: the rows
 * `collectStats` sums. Dense: the input as `[rows, in]`; convolutions: im2col patches; depthwise:
 * `[rows, channels · cols]`. Synchronous; the caller disposes the result.
 */
export function unitInputRows(model: PrunableModel, unit: string, layerInput: tf.Tensor): tf.Tensor2D {
  const info = unitInfo(model, unit);
  const layout = unitLayoutOf(model, unit);
  if (typeof layout === 'string') throw new Error(`${unit}: ${layout}`);
  const builder = patchBuilder(model, info, layout, layerInput);
  try {
    return tf.tidy(() => builder.build(layerInput));
  } finally {
    builder.dispose();
  }
}
