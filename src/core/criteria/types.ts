/**
 * Pruning criteria work on a unit's kernel seen as a matrix W (rows = outputs, cols = inputs),
 * DESIGN §3. Keras layouts map onto it as:
 * - Dense `[in, out]`                → rows = out, cols = in
 * - Conv1D/2D/3D `[...k, in, out]`   → rows = out, cols = prod(k)·in, column index in the kernel's
 *                                      own row-major order over (...k, in) — the order of im2col patches
 * - DepthwiseConv2D `[kh, kw, in, m]` → rows = in·m (row r = c·m + j), cols = kh·kw; row r only sees
 *                                      input channel c, so its calibration statistics are per channel
 */
export type LayerKind = 'dense' | 'conv' | 'depthwise';

export interface WeightMatrix {
  rows: number;
  cols: number;
  /** Row-major rows × cols. */
  values: Float32Array;
}

export const GRANULARITIES = ['unstructured', '2:4', '4:8', 'channels'] as const;
export type Granularity = (typeof GRANULARITIES)[number];

export const CRITERIA = ['magnitude', 'wanda', 'sparsegpt', 'random'] as const;
export type CriterionKey = (typeof CRITERIA)[number];

/** Statistics of a unit's calibration inputs X (rows = samples × positions, cols = W's cols). */
export interface CalibrationStats {
  /** Number of rows of X that were summed. */
  samples: number;
  /** Σ_rows X_ij² for each column j (length cols). Depthwise: per row group, length rows/m × cols, see `groups`. */
  inputNormsSq: Float64Array;
  /** XᵀX, row-major cols × cols (absent for depthwise). */
  gram?: Float64Array;
  /** Depthwise only: number of input channels; `inputNormsSq` is channels × cols (channel-major). */
  groups?: number;
}

export interface PruneRequest {
  kind: LayerKind;
  matrix: WeightMatrix;
  /** Share of weights to zero in [0, 1]. For N:M it is ignored (N/M is implied). */
  sparsity: number;
  granularity: Granularity;
  stats?: CalibrationStats;
  /** For `random`. */
  seed: number;
}

export interface PruneResult {
  /** The pruned matrix (same layout); SparseGPT also updates the kept weights. */
  values: Float32Array;
  /** 1 = kept, 0 = pruned, same layout. */
  mask: Uint8Array;
}

export interface Criterion {
  readonly key: CriterionKey;
  /** Which calibration statistics it needs. */
  readonly needs: 'none' | 'norms' | 'gram';
  /** `true`, or the reason this criterion cannot prune such a layer at this granularity. */
  supports(kind: LayerKind, granularity: Granularity): true | string;
  prune(request: PruneRequest): PruneResult;
  /**
   * The unit's kernel pruned as it is stored (W's transpose, or W where `transposed`), where that
   * gives exactly the weights `prune` gives on W, without W's transposes; undefined where it does not apply.
   */
  pruneStored?(request: StoredPruneRequest): Float32Array | undefined;
}

/** A kernel in its stored layout: W is rows × cols, stored as its transpose unless `transposed`. */
export interface StoredPruneRequest {
  kernel: Float32Array;
  rows: number;
  cols: number;
  transposed: boolean;
  sparsity: number;
  granularity: Granularity;
}

/** Thrown when a criterion is asked for something it cannot do; the message says why. */
export class UnsupportedPruningError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnsupportedPruningError';
  }
}
