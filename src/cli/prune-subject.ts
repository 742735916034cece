import * as tf from '@tensorflow/tfjs';
import type { AllocationInput, SensitivityCurves } from '../core/allocate/types';
import type { PruningPlan } from '../core/plan';
import type { UnitInfo } from '../core/types';
import type { ExportFile } from '../io/export';
import type { Recipe, RecipeMetrics } from '../io/recipe';
import type { OpenedModel } from '../io/types';

/**
 * A model being pruned by `lopper prune`, whatever its format: its units, its data, and the steps
 * of the flow (evaluate, remove, allocate, apply, write) done the format's way.
 */
export interface PruneSubject {
  readonly opened: OpenedModel;
  /** Hex SHA-256 of the dataset file, or `synthetic:<seed>:<samples>`. */
  readonly dataHash: string;
  /** The data has labels (or is text): a sweep can be run on it. */
  readonly labelled: boolean;
  units(): UnitInfo[];
  removalCandidates(): string[];
  /** The units that still compute with `removed` bypassed. */
  liveUnits(removed: readonly string[]): UnitInfo[];
  /** Share of the live units' weights that are zero, or gone where the model shrank. */
  achievedSparsity(removed: readonly string[]): Promise<number>;
  /** A copy of a unit's stored kernel. */
  readKernel(unit: string): Promise<Float32Array>;
  setKernel(unit: string, values: Float32Array): void;
  /** The metrics of the model as it is now; the first call fixes the dense reference of data-free divergence. */
  evaluate(): Promise<RecipeMetrics>;
  /** DAREx-q's objective (lower is better) with substitute kernels: validation loss, or output change data-free. */
  deltaObjective(kernels: ReadonlyMap<string, Float32Array>): Promise<number>;
  /** FinerCut greedy removal for `steps` steps; the removed candidates in order. */
  greedyRemoval(steps: number, onStep: (removed: string, value: number, index: number) => void): Promise<string[]>;
  /** What the plan's allocation needs beyond units and target (kernels, outlier ratios, importance, a sweep). */
  allocationInput(plan: PruningPlan, units: readonly string[], sweep: SensitivityCurves | undefined): Promise<Partial<AllocationInput>>;
  /** The plan's criterion on every unit it prunes, in execution order: the new kernels; the model is not changed. */
  apply(plan: PruningPlan): Promise<{ kernels: Map<string, Float32Array>; skipped: { unit: string; reason: string }[] }>;
  /** The model's files in its own format, with `removed` taken out. */
  write(removed: readonly string[], options: { recipe?: Recipe; float16: boolean }): Promise<ExportFile[]>;
  /** The written files opened again: their metrics (against the dense reference) and parameter count. */
  evaluateWritten(files: readonly ExportFile[]): Promise<{ metrics: RecipeMetrics; params: number }>;
  dispose(): void;
}

/** What a DARE base must offer: its units and their kernels. */
export interface KernelSource {
  units(): UnitInfo[];
  getKernel(unit: string): tf.Tensor;
  dispose(): void;
}

/** The kernels of `units`, by unit name. */
export async function readKernels(subject: Pick<PruneSubject, 'readKernel'>, units: readonly string[]): Promise<Map<string, Float32Array>> {
  const kernels = new Map<string, Float32Array>();
  for (const unit of units) kernels.set(unit, await subject.readKernel(unit));
  return kernels;
}

/** Runs `work` with `kernels` as float32 tensors of their units' shapes, disposing them after. */
export async function withKernelTensors<T>(
  units: readonly UnitInfo[],
  kernels: ReadonlyMap<string, Float32Array>,
  work: (tensors: Map<string, tf.Tensor>) => Promise<T>,
): Promise<T> {
  const shapes = new Map(units.map((unit) => [unit.name, unit.shape]));
  const tensors = new Map([...kernels].map(([unit, values]) => [unit, tf.tensor(values, shapes.get(unit), 'float32')]));
  try {
    return await work(tensors);
  } finally {
    tf.dispose([...tensors.values()]);
  }
}
