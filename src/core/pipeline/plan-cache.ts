import type { CalibrationStats } from '../criteria/types';

/** Bytes of calibration statistics kept across plan applications unless a host says otherwise. */
export const DEFAULT_STATS_BUDGET_BYTES = 256 * 1024 * 1024;
/** Bytes of pruned kernels kept across plan applications unless a host says otherwise. */
export const DEFAULT_KERNEL_BUDGET_BYTES = 2 * 1024 * 1024 * 1024;

export interface PlanCacheOptions {
  /** The most bytes of statistics (Wanda's norms, SparseGPT's Gram matrices) kept; the least recently used go first. */
  statsBudgetBytes?: number;
  /** The most bytes of pruned kernels kept (one per unit, the latest). */
  kernelBudgetBytes?: number;
}

/** How often the cache answered, for tests and benchmarks. */
export interface PlanCacheCounters {
  kernelHits: number;
  kernelMisses: number;
  statsHits: number;
  statsMisses: number;
}

function statsBytes(stats: ReadonlyMap<string, CalibrationStats>): number {
  let bytes = 0;
  for (const unit of stats.values()) bytes += unit.inputNormsSq.byteLength + (unit.gram?.byteLength ?? 0);
  return bytes;
}

/**
 * What `applyPlanKernels` may reuse between applications of plans to the same model and data.
 * Entries are found by keys that name everything their values depend on (`applyPlanKernels` builds
 * them): a block's statistics by the stored kernels, the data, the criterion's settings, the removals
 * and the sparsity of every unit pruned before the block; a unit's pruned kernel by the same plus its
 * own sparsity. A key that matches is therefore a value that a fresh computation would give bit for
 * bit. Only plain arrays are held, never tensors. Kernels handed out are shared: read them, never write.
 */
export class PlanCache {
  readonly counters: PlanCacheCounters = { kernelHits: 0, kernelMisses: 0, statsHits: 0, statsMisses: 0 };
  private readonly statsBudget: number;
  private readonly kernelBudget: number;
  /** Insertion order is recency order: a hit is moved to the end, eviction takes from the front. */
  private readonly stats = new Map<string, { stats: Map<string, CalibrationStats>; bytes: number }>();
  private statsHeld = 0;
  private readonly kernels = new Map<string, { key: string; kernel: Float32Array }>();
  private kernelsHeld = 0;
  private readonly storedZeros = new Map<string, { key: string; zeros: number }>();

  constructor(options: PlanCacheOptions = {}) {
    this.statsBudget = options.statsBudgetBytes ?? DEFAULT_STATS_BUDGET_BYTES;
    this.kernelBudget = options.kernelBudgetBytes ?? DEFAULT_KERNEL_BUDGET_BYTES;
  }

  /** The unit's pruned kernel stored under exactly `key`, if any. */
  kernel(unit: string, key: string): Float32Array | undefined {
    const entry = this.kernels.get(unit);
    if (entry?.key === key) {
      this.counters.kernelHits += 1;
      return entry.kernel;
    }
    this.counters.kernelMisses += 1;
    return undefined;
  }

  /** Keeps `kernel` as the unit's latest pruned kernel (replacing the one before) while the kernel budget allows. */
  storeKernel(unit: string, key: string, kernel: Float32Array): void {
    const before = this.kernels.get(unit);
    if (before) {
      this.kernelsHeld -= before.kernel.byteLength;
      this.kernels.delete(unit);
    }
    if (this.kernelsHeld + kernel.byteLength > this.kernelBudget) return;
    this.kernels.set(unit, { key, kernel });
    this.kernelsHeld += kernel.byteLength;
  }

  /** The statistics of a block stored under `key`, if any. */
  blockStats(key: string): Map<string, CalibrationStats> | undefined {
    const entry = this.stats.get(key);
    if (entry === undefined) {
      this.counters.statsMisses += 1;
      return undefined;
    }
    this.counters.statsHits += 1;
    this.stats.delete(key);
    this.stats.set(key, entry);
    return entry.stats;
  }

  /** Keeps a block's statistics, evicting the least recently used beyond the budget; a block larger than the budget is not kept. */
  storeBlockStats(key: string, stats: Map<string, CalibrationStats>): void {
    const bytes = statsBytes(stats);
    if (bytes > this.statsBudget) return;
    const before = this.stats.get(key);
    if (before) {
      this.statsHeld -= before.bytes;
      this.stats.delete(key);
    }
    for (const [oldest, entry] of this.stats) {
      if (this.statsHeld + bytes <= this.statsBudget) break;
      this.stats.delete(oldest);
      this.statsHeld -= entry.bytes;
    }
    this.stats.set(key, { stats, bytes });
    this.statsHeld += bytes;
  }

  /** Zeros of a unit's stored kernel, counted once per `key` (the stored kernels' identity). */
  async storedZeroCount(unit: string, key: string, read: () => Promise<Float32Array>): Promise<number> {
    const entry = this.storedZeros.get(unit);
    if (entry?.key === key) return entry.zeros;
    const zeros = countZeros(await read());
    this.storedZeros.set(unit, { key, zeros });
    return zeros;
  }

  /** Bytes held: statistics and kernels. */
  get bytes(): { stats: number; kernels: number } {
    return { stats: this.statsHeld, kernels: this.kernelsHeld };
  }

  clear(): void {
    this.stats.clear();
    this.kernels.clear();
    this.storedZeros.clear();
    this.statsHeld = 0;
    this.kernelsHeld = 0;
  }
}

const zeroCounts = new WeakMap<Float32Array, number>();

/** Exact zeros (+0 and −0) in `values`, counted once per array object: a cached kernel is never written. */
export function countZeros(values: Float32Array): number {
  const known = zeroCounts.get(values);
  if (known !== undefined) return known;
  // ±0 by their bits (the sign shifted out), without a branch per value.
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  let count = 0;
  for (let i = 0; i < bits.length; i++) count += +(bits[i] << 1 === 0);
  zeroCounts.set(values, count);
  return count;
}
