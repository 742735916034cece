import type { AllocationKey } from '../plan';
import type { SweepMetric } from '../sweep/metric';

/** A prunable unit as the allocation sees it: its name and its number of weights. */
export interface AllocationUnit {
  name: string;
  size: number;
}

/** The part of a sensitivity sweep (`lopper sweep`'s JSON) that the sensitivity allocation reads. */
export interface SensitivityCurves {
  /** Unit names, one row of `values` each. */
  layers: readonly string[];
  sparsities: readonly number[];
  /** units × sparsities, absolute metric values; NaN where not computed. */
  values: readonly (readonly number[])[];
  /** The dense model's metric. */
  dense: number;
  metric: SweepMetric;
}

export interface AllocationInput {
  units: readonly AllocationUnit[];
  /** Global sparsity over all units' weights, in [0, 1]; locked units count with their fixed values. */
  target: number;
  /** Fixed sparsities the allocation must not change. */
  locked: Readonly<Record<string, number>>;
  /** No unlocked unit is pruned beyond this share (0.95). */
  maxSparsity?: number;
  /** global: each unit's kernel values (any layout). */
  kernels?: ReadonlyMap<string, Float32Array>;
  /** sensitivity: the sweep to allocate from. */
  sweep?: SensitivityCurves;
  /** owl: share of Wanda scores above M·mean, per unit (or per block, repeated for its units). */
  outlierRatios?: ReadonlyMap<string, number>;
  /** ecoflap: zeroth-order importance per unit (Σ|g|). */
  importance?: ReadonlyMap<string, number>;
  /** owl: half-width λ of the band of sparsities around the target (0.08). */
  lambda?: number;
}

/** An allocation strategy: per-unit sparsities that hit a global target (DESIGN §3). */
export interface Allocation {
  readonly key: AllocationKey;
  /** Sparsity of every unit of `input.units`, locked ones unchanged. */
  allocate(input: AllocationInput): Record<string, number>;
}

/** The input lacks what a strategy needs or holds values out of range; the message says which. */
export class AllocationInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AllocationInputError';
  }
}
