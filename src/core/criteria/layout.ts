import type { Criterion, LayerKind, PruneRequest, WeightMatrix } from './types';

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

/** Square tiles of the transpose: a tile's rows and columns stay in the cache while it is copied. */
const TILE = 8;

/** Float32 `values` read row-major as rows × cols, transposed (cols × rows), bit for bit and tile by tile. */
function transpose(values: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(values.length);
  const from = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const to = new Uint32Array(out.buffer);
  for (let r0 = 0; r0 < rows; r0 += TILE) {
    const r1 = Math.min(rows, r0 + TILE);
    for (let c0 = 0; c0 < cols; c0 += TILE) {
      const c1 = Math.min(cols, c0 + TILE);
      for (let r = r0; r < r1; r++) {
        const row = r * cols;
        for (let c = c0; c < c1; c++) to[c * rows + r] = from[row + c];
      }
    }
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
  if (matrix instanceof Float32Array) return transpose(matrix, layout.rows, layout.cols) as T;
  const out = new Uint8Array(matrix.length);
  for (let r = 0; r < layout.rows; r++) {
    for (let c = 0; c < layout.cols; c++) out[c * layout.rows + r] = matrix[r * layout.cols + c];
  }
  return out as T;
}

/**
 * A unit's stored kernel pruned by `criterion`, in the stored layout: by the criterion's own path on
 * the kernel as it is stored where it has one (the same weights, without W's transposes), else on W
 * (`matrix` when W was already made from this kernel, copied, since a criterion may work in place).
 */
export function pruneKernel(criterion: Criterion, layout: UnitLayout, kernel: Float32Array, request: Omit<PruneRequest, 'kind' | 'matrix'>, matrix?: WeightMatrix): Float32Array {
  const { sparsity, granularity } = request;
  const stored = criterion.pruneStored?.({ kernel, rows: layout.rows, cols: layout.cols, transposed: layout.transposed === true, sparsity, granularity });
  if (stored !== undefined) return stored;
  const w = matrix === undefined ? kernelToMatrix(layout, kernel) : { ...matrix, values: matrix.values.slice() };
  return matrixToKernel(layout, criterion.prune({ ...request, kind: layout.kind, matrix: w }).values);
}
