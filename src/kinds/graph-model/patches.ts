import * as tf from '@tensorflow/tfjs';
import { boolAttr, intListAttr, stringAttr } from './attrs';
import type { GraphIndex, GraphUnit } from './graph';
import { einsumPlan, type GraphUnitLayout } from './layout';

/** A 2-D convolution's geometry read from its node, in NHWC terms. */
export interface ConvGeometry {
  kernel: [number, number];
  strides: [number, number];
  dilations: [number, number];
  pad: 'valid' | 'same' | [[number, number], [number, number], [number, number], [number, number]];
  channelsFirst: boolean;
}

/** Strides, dilations, padding (SAME, VALID, EXPLICIT) and data format of a Conv2D-like node. */
export function convGeometry(graph: GraphIndex, unit: GraphUnit): ConvGeometry {
  const node = graph.node(unit.node);
  const channelsFirst = (stringAttr(node, 'data_format') ?? 'NHWC').toUpperCase() === 'NCHW';
  const [h, w] = channelsFirst ? [2, 3] : [1, 2];
  const pick = (name: string): [number, number] => {
    const list = intListAttr(node, name);
    if (list === undefined || list.length === 0) return [1, 1];
    if (list.length === 4) return [list[h], list[w]];
    if (list.length === 2) return [list[0], list[1]];
    return [list[0], list[0]];
  };
  const padding = (stringAttr(node, 'padding') ?? 'VALID').toUpperCase();
  let pad: ConvGeometry['pad'];
  if (padding === 'SAME') pad = 'same';
  else if (padding === 'VALID') pad = 'valid';
  else if (padding === 'EXPLICIT') {
    const list = intListAttr(node, 'explicit_paddings') ?? [];
    if (list.length !== 8) throw new Error(`${unit.node}: explicit_paddings [${list.join(', ')}] is not 8 values`);
    pad = [
      [0, 0],
      [list[2 * h], list[2 * h + 1]],
      [list[2 * w], list[2 * w + 1]],
      [0, 0],
    ];
  } else throw new Error(`${unit.node}: padding ${padding} is not supported`);
  return { kernel: [unit.shape[0], unit.shape[1]], strides: pick('strides'), dilations: pick('dilations'), pad, channelsFirst };
}

const toChannelsLast = (x: tf.Tensor4D, geometry: ConvGeometry): tf.Tensor4D => (geometry.channelsFirst ? tf.transpose(x, [0, 2, 3, 1]) : x);

/** im2col patches `[positions, kh·kw·in]` in (kh, kw, in) order, through a one-hot kernel. */
function convPatches(x: tf.Tensor4D, geometry: ConvGeometry, channels: number): tf.Tensor2D {
  const [kh, kw] = geometry.kernel;
  const size = kh * kw * channels;
  const kernel = tf.eye(size).reshape([kh, kw, channels, size]) as tf.Tensor4D;
  return tf.conv2d(toChannelsLast(x, geometry), kernel, geometry.strides, geometry.pad, 'NHWC', geometry.dilations).reshape([-1, size]);
}

/** Depthwise patches `[positions, channels · kh·kw]`, channel-major (criteria/types.ts). */
function depthwisePatches(x: tf.Tensor4D, geometry: ConvGeometry, channels: number): tf.Tensor2D {
  const [kh, kw] = geometry.kernel;
  const taps = kh * kw;
  const values = new Float32Array(taps * channels * taps);
  for (let pos = 0; pos < taps; pos++) {
    for (let c = 0; c < channels; c++) values[(pos * channels + c) * taps + pos] = 1;
  }
  const kernel = tf.tensor4d(values, [kh, kw, channels, taps]);
  return tf.depthwiseConv2d(toChannelsLast(x, geometry), kernel, geometry.strides, geometry.pad, 'NHWC', geometry.dilations).reshape([-1, channels * taps]);
}

/** Swaps the last two axes. */
function swapLast(x: tf.Tensor): tf.Tensor {
  const axes = x.shape.map((_, i) => i);
  const n = axes.length;
  [axes[n - 2], axes[n - 1]] = [axes[n - 1], axes[n - 2]];
  return tf.transpose(x, axes);
}

/**
 * X `[rows, cols]` in W's column order from what enters a unit's op (its data operand, samples
 * first). Convolutions: im2col patches honouring strides, padding, dilations and data format;
 * depthwise: `[rows, channels · cols]`; MatMul-like: the operand as rows of inputs (transposes
 * honoured); Einsum: the data's axes with the contracted ones last, in the weight's order.
 * Synchronous; the caller disposes the result.
 */
export function unitInputRows(graph: GraphIndex, unit: GraphUnit, layout: GraphUnitLayout, input: tf.Tensor): tf.Tensor2D {
  const node = graph.node(unit.node);
  return tf.tidy(() => {
    switch (unit.op) {
      case 'Conv2D':
      case '_FusedConv2D':
        return convPatches(input as tf.Tensor4D, convGeometry(graph, unit), unit.shape[2]);
      case 'DepthwiseConv2dNative':
      case 'FusedDepthwiseConv2dNative':
        return depthwisePatches(input as tf.Tensor4D, convGeometry(graph, unit), unit.shape[2]);
      case 'Conv2DBackpropInput': {
        const geometry = convGeometry(graph, unit);
        return toChannelsLast(input as tf.Tensor4D, geometry).reshape([-1, layout.cols]);
      }
      case 'MatMul':
      case '_FusedMatMul':
      case 'BatchMatMul':
      case 'BatchMatMulV2': {
        const batched = unit.op.startsWith('Batch');
        const transposeA = batched ? boolAttr(node, 'adj_x') : boolAttr(node, 'transpose_a');
        const transposeB = batched ? boolAttr(node, 'adj_y') : boolAttr(node, 'transpose_b');
        // Data on the left ([.., n, in] unless transposed); on the right ([.., in, n] unless transposed).
        const swap = unit.weightIndex === 1 ? transposeA : !transposeB;
        return (swap ? swapLast(input) : input).reshape([-1, layout.cols]);
      }
      case 'Einsum': {
        const plan = einsumPlan(stringAttr(node, 'equation') ?? '', unit.weightIndex);
        if (typeof plan === 'string') throw new Error(`${unit.name}: ${plan}`);
        const kept = [...plan.data].filter((letter) => !plan.contracted.includes(letter));
        const order = [...kept, ...plan.contracted].map((letter) => plan.data.indexOf(letter));
        return tf.transpose(input, order).reshape([-1, layout.cols]);
      }
      default:
        throw new Error(`${unit.name}: ${unit.op} inputs cannot be read as rows`);
    }
  }) as tf.Tensor2D;
}
