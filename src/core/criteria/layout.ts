import type { LayerKind, WeightMatrix } from './types';

/**
 * How a unit's kernel maps onto W (rows = outputs, cols = inputs). In every supported Keras
 * layout the kernel, read row-major, is a [cols, rows] matrix: W is its transpose.
 * - Dense `[in, out]`: rows = out, cols = in
 * - Conv `[...k, in, out]`: rows = out, cols = prod(k)·in
 * - Depthwise `[kh, kw, in, m]`: rows = in·m, cols = kh·kw
 */
export interface UnitLayout {
  kind: LayerKind;
  rows: number;
  cols: number;
  /** Depthwise: input channels (row r belongs to channel ⌊r / m⌋). */
  channels?: number;
  /** The stored kernel, read row-major, is W itself (`[rows, cols]`), not its transpose (e.g. a MatMul with `transpose_b`). */
  transposed?: boolean;
}

const CONV_CLASSES = new Set(['Conv1D', 'Conv2D', 'Conv3D']);

/** The layout of a unit, or the reason it has none (e.g. transposed convolutions). */
export function unitLayout(className: string, unitName: string, shape: readonly number[]): UnitLayout | string {
  const last = shape[shape.length - 1];
  const rest = shape.slice(0, -1).reduce((a, b) => a * b, 1);
  if (className === 'Dense') return { kind: 'dense', rows: last, cols: rest };
  if (CONV_CLASSES.has(className) || (className === 'SeparableConv2D' && unitName.endsWith('/pointwise'))) {
    return { kind: 'conv', rows: last, cols: rest };
  }
  if (className === 'DepthwiseConv2D' || (className === 'SeparableConv2D' && unitName.endsWith('/depthwise'))) {
    const [kh, kw, channels, multiplier] = shape;
    return { kind: 'depthwise', rows: channels * multiplier, cols: kh * kw, channels };
  }
  return `${className} kernels are not supported by the pruning criteria yet`;
}

function transpose(values: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(values.length);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) out[c * rows + r] = values[r * cols + c];
  }
  return out;
}

/** Kernel values (Keras layout, row-major) → W. */
export function kernelToMatrix(layout: UnitLayout, kernel: Float32Array): WeightMatrix {
  if (kernel.length !== layout.rows * layout.cols) {
    throw new Error(`kernel has ${kernel.length} values, expected ${layout.rows}×${layout.cols}`);
  }
  return { rows: layout.rows, cols: layout.cols, values: layout.transposed ? kernel.slice() : transpose(kernel, layout.cols, layout.rows) };
}

/** W (or a mask in W's layout) → kernel values in the Keras layout. */
export function matrixToKernel<T extends Float32Array | Uint8Array>(layout: UnitLayout, matrix: T): T {
  if (layout.transposed) return matrix.slice() as T;
  const out = (matrix instanceof Float32Array ? new Float32Array(matrix.length) : new Uint8Array(matrix.length)) as T;
  for (let r = 0; r < layout.rows; r++) {
    for (let c = 0; c < layout.cols; c++) out[c * layout.rows + r] = matrix[r * layout.cols + c];
  }
  return out;
}
