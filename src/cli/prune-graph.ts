import * as tf from '@tensorflow/tfjs';
import type { AllocationInput, SensitivityCurves } from '../core/allocate/types';
import { allocationExtras } from '../core/pipeline/allocation';
import { applyPlanKernels, withKernelTensors } from '../core/pipeline/apply';
import { calibrationInputs, type SampleData } from '../core/pipeline/data';
import { evaluateSamples, predictSamples, type SampleEvaluationOptions } from '../core/pipeline/evaluate';
import { prunableRemovalTarget } from '../core/pipeline/removal';
import { sweepPrunable } from '../core/pipeline/sweep';
import { GRANULARITIES } from '../core/criteria/types';
import type { PruningPlan } from '../core/plan';
import { greedyRemoval } from '../core/removal/greedy';
import { DEFAULT_SPARSITIES } from '../core/sweep/engine';
import type { Evaluation, UnitInfo } from '../core/types';
import type { GraphModelPrunable } from '../kinds/graph-model';
import type { ExportFile } from '../io/export';
import { inputFileFromBytes } from '../io/input-file';
import { openModel } from '../io/open';
import type { Recipe, RecipeMetrics } from '../io/recipe';
import type { OpenedModel } from '../io/types';
import type { ParsedArgs } from './args';
import { checkGraphGranularity, checkSyncForward, graphData, openGraphKind } from './graph';
import type { KernelSource, PruneSubject } from './prune-subject';

const log = (message: string): void => {
  process.stderr.write(`lopper prune: ${message}\n`);
};

/** A TF.js GraphModel as `lopper prune` works on it: `GraphModelPrunable` and the shared pipeline. */
class GraphSubject implements PruneSubject {
  private reference: Float32Array | undefined;

  constructor(
    readonly opened: OpenedModel,
    private readonly kind: GraphModelPrunable,
    private readonly data: SampleData,
  ) {}

  get dataHash(): string {
    return this.data.hash;
  }

  get labelled(): boolean {
    return this.data.labels !== undefined;
  }

  units(): UnitInfo[] {
    return this.kind.units();
  }

  removalCandidates(): string[] {
    return this.kind.removalCandidates();
  }

  liveUnits(removed: readonly string[]): UnitInfo[] {
    return this.kind.liveUnits(removed);
  }

  async achievedSparsity(removed: readonly string[]): Promise<number> {
    let zeros = 0;
    let total = 0;
    for (const unit of this.liveUnits(removed)) {
      for (const value of await this.readKernel(unit.name)) if (value === 0) zeros++;
      total += unit.size;
    }
    return total === 0 ? 0 : zeros / total;
  }

  async readKernel(unit: string): Promise<Float32Array> {
    const kernel = this.kind.getKernel(unit);
    try {
      return Float32Array.from(await kernel.data());
    } finally {
      kernel.dispose();
    }
  }

  setKernel(unit: string, values: Float32Array): void {
    this.kind.setKernel(unit, values);
  }

  private metricsOf(result: Evaluation): RecipeMetrics {
    if (result.accuracy !== undefined) return { accuracy: result.accuracy, loss: result.loss, samples: result.samples };
    return { divergence: result.divergence, samples: result.samples };
  }

  private run(kind: GraphModelPrunable, options: SampleEvaluationOptions = {}): Promise<Evaluation> {
    return evaluateSamples(kind, this.data, { latencyRuns: 0, reference: this.reference, ...options });
  }

  /** With labels: accuracy and loss. Without: the dense outputs become the reference, at divergence 0 from themselves. */
  async evaluate(): Promise<RecipeMetrics> {
    if (this.data.labels !== undefined) return this.metricsOf(await this.run(this.kind));
    this.reference ??= (await predictSamples(this.kind, this.data)).outputs;
    return { divergence: 0, samples: this.data.shape[0] };
  }

  async deltaObjective(kernels: ReadonlyMap<string, Float32Array>): Promise<number> {
    const result = await withKernelTensors(this.kind, kernels, (tensors) => this.run(this.kind, { forward: { kernels: tensors } }));
    return result.loss ?? result.divergence ?? NaN;
  }

  async greedyRemoval(steps: number, onStep: (removed: string, value: number, index: number) => void): Promise<string[]> {
    checkSyncForward(this.kind);
    const candidates = this.kind.removalCandidates();
    const result = await greedyRemoval(prunableRemovalTarget(this.kind, this.data), {
      metric: 'js',
      steps: Math.min(steps, candidates.length),
      onStep: (step, index) => onStep(step.removed, step.scores[step.removed], index),
    });
    if (result.steps.length < steps) log(`${this.opened.name} has ${candidates.length} removal candidates; removed ${result.steps.length}`);
    return result.steps.map((step) => step.removed);
  }

  async allocationInput(plan: PruningPlan, units: readonly string[], sweep: SensitivityCurves | undefined): Promise<Partial<AllocationInput>> {
    if (plan.allocation === 'sensitivity') return { sweep: sweep ?? (await this.sweep(plan, units)) };
    return this.withCalibration((batches) => allocationExtras(this.kind, plan, this.data, batches, units));
  }

  /** The sensitivity sweep the allocation reads, on the labelled data (accuracy, as `lopper sweep`). */
  private async sweep(plan: PruningPlan, units: readonly string[]): Promise<SensitivityCurves> {
    if (this.data.labels === undefined) throw new Error('--allocation sensitivity needs labels in --data to run its sweep, or a saved sweep with --sweep F');
    log(`sensitivity sweep of ${units.length} units × ${DEFAULT_SPARSITIES.length} sparsities`);
    return sweepPrunable(this.kind, this.data, {
      criterion: plan.criterion,
      granularity: plan.granularity,
      sparsities: DEFAULT_SPARSITIES,
      metric: 'accuracy',
      seed: plan.seed,
      units,
    });
  }

  private async withCalibration<T>(work: (batches: tf.Tensor[]) => Promise<T>): Promise<T> {
    const batches = calibrationInputs(this.data);
    try {
      return await work(batches);
    } finally {
      tf.dispose(batches);
    }
  }

  async apply(plan: PruningPlan): Promise<{ kernels: Map<string, Float32Array>; skipped: { unit: string; reason: string }[] }> {
    checkGraphGranularity(plan.granularity);
    return this.withCalibration(async (batches) => {
      const result = await applyPlanKernels(this.kind, plan, batches);
      return { kernels: result.kernels, skipped: result.skipped };
    });
  }

  write(removed: readonly string[], options: { recipe?: Recipe; float16: boolean }): Promise<ExportFile[]> {
    return this.kind.exportFiles({ removed, float16: options.float16, ...(options.recipe !== undefined && { recipe: options.recipe }) });
  }

  async evaluateWritten(files: readonly ExportFile[]): Promise<{ metrics: RecipeMetrics; params: number }> {
    const opened = await openModel(files.map((f) => inputFileFromBytes(`${this.opened.name}/${f.path}`, f.bytes)));
    const kind = await openGraphKind(opened);
    try {
      return { metrics: this.metricsOf(await this.run(kind)), params: kind.totals().totalParams };
    } finally {
      kind.dispose();
    }
  }

  dispose(): void {
    this.kind.dispose();
  }
}

/** A GraphModel with its `--data` dataset or `--samples` seeded synthetic inputs, ready to prune. */
export async function graphSubject(opened: OpenedModel, args: ParsedArgs): Promise<PruneSubject> {
  const granularity = GRANULARITIES.find((g) => g === args.options.get('granularity'));
  if (granularity !== undefined) checkGraphGranularity(granularity);
  const kind = await openGraphKind(opened);
  try {
    return new GraphSubject(opened, kind, await graphData(args, kind));
  } catch (error) {
    kind.dispose();
    throw error;
  }
}

/** A GraphModel as a DARE base: the kind itself offers its units and kernels. */
export function graphBaseKernels(opened: OpenedModel): Promise<KernelSource> {
  return openGraphKind(opened);
}
