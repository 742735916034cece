import * as tf from '@tensorflow/tfjs';
import type { AllocationInput, SensitivityCurves } from '../core/allocate/types';
import { readKernel } from '../core/apply/capture';
import { applyPlanKernels } from '../core/pipeline/apply';
import { allocationExtras } from '../core/pipeline/allocation';
import { calibrationInputs, type PipelineData } from '../core/pipeline/data';
import { shrinkForPlan } from '../core/structure/plan-shrink';
import { LayersPrunable } from '../kinds/layers-model/prunable';
import { evaluate, predict, type EvaluationResult } from '../core/evaluate';
import { PrunableModel } from '../core/model/runtime';
import type { PruningPlan } from '../core/plan';
import { greedyRemoval } from '../core/removal/greedy';
import { layerRemovalCandidates, type LayerCandidate } from '../core/removal/layer-removal';
import { topologyWithout } from '../core/removal/topology';
import { layersModelTarget } from '../core/removal/layers-target';
import type { ShrinkResult } from '../core/structure';
import { DEFAULT_SPARSITIES, runSweep } from '../core/sweep/engine';
import type { UnitInfo } from '../core/types';
import { weightsOf, writeLayersModel, type ExportFile, type WeightValues } from '../io/export';
import { inputFileFromBytes } from '../io/input-file';
import { openModel } from '../io/open';
import type { Recipe, RecipeMetrics } from '../io/recipe';
import type { Dataset, OpenedModel } from '../io/types';
import type { ParsedArgs } from './args';
import { loadData } from './load';
import { withKernelTensors, type KernelSource, type PruneSubject } from './prune-subject';

/** Samples of the dataset used for calibration (DESIGN §6: the first min(128, N)). */
const CALIBRATION_SAMPLES = 128;

const log = (message: string): void => {
  process.stderr.write(`lopper prune: ${message}\n`);
};

/** A LayersModel (TF.js) as `lopper prune` works on it, with its dataset or synthetic inputs. */
class LayersSubject implements PruneSubject {
  private reference: Float32Array | undefined;
  private readonly candidates: LayerCandidate[];
  /** The model with its pruned channels cut out, when the plan's granularity is channels. */
  private shrunk: ShrinkResult | undefined;
  private readonly prunable: LayersPrunable;

  constructor(
    readonly opened: OpenedModel,
    private readonly model: PrunableModel,
    private readonly data: Dataset,
  ) {
    this.candidates = layerRemovalCandidates(model);
    this.prunable = new LayersPrunable(model);
  }

  get dataHash(): string {
    return this.data.hash;
  }

  get labelled(): boolean {
    return this.data.labels !== undefined;
  }

  units(): UnitInfo[] {
    return this.model.units();
  }

  removalCandidates(): string[] {
    return this.candidates.map((c) => c.name);
  }

  liveUnits(removed: readonly string[]): UnitInfo[] {
    return this.prunable.liveUnits(removed);
  }

  /** Share of the live units' weights that are zero or, after shrinking, gone. */
  async achievedSparsity(removed: readonly string[]): Promise<number> {
    let nonzeros = 0;
    let total = 0;
    for (const unit of this.liveUnits(removed)) {
      const values = this.shrunk?.weights.get(unit.weight)?.values ?? (await readKernel(this.model, unit.name));
      for (const value of values) if (value !== 0) nonzeros++;
      total += unit.size;
    }
    return total === 0 ? 0 : 1 - nonzeros / total;
  }

  async readKernel(unit: string): Promise<Float32Array> {
    return (await readKernel(this.model, unit)).slice();
  }

  setKernel(unit: string, values: Float32Array): void {
    this.model.setKernel(unit, values);
  }

  private metricsOf(result: EvaluationResult): RecipeMetrics {
    if (result.accuracy !== undefined) return { accuracy: result.accuracy, loss: result.loss, samples: result.samples };
    return { divergence: result.divergence, samples: result.samples };
  }

  private run(model: PrunableModel, kernels?: ReadonlyMap<string, tf.Tensor>): Promise<EvaluationResult> {
    return evaluate(model, this.data, { latencyRuns: 0, reference: this.reference, ...(kernels && { forward: { kernels } }) });
  }

  /** With labels: accuracy and loss. Without: the outputs become the reference, at divergence 0 from themselves. */
  async evaluate(): Promise<RecipeMetrics> {
    if (this.data.labels !== undefined) return this.metricsOf(await this.run(this.model));
    this.reference ??= await predict(this.model, this.data);
    return { divergence: 0, samples: this.data.shape[0] };
  }

  async deltaObjective(kernels: ReadonlyMap<string, Float32Array>): Promise<number> {
    const result = await withKernelTensors(this.model.units(), kernels, (tensors) => this.run(this.model, tensors));
    return result.loss ?? result.divergence ?? NaN;
  }

  private calibration(): { inputs: Float32Array; shape: number[] } {
    const [samples, ...sampleShape] = this.data.shape;
    const count = Math.min(CALIBRATION_SAMPLES, samples);
    const size = sampleShape.reduce((a, b) => a * b, 1);
    return { inputs: this.data.inputs.subarray(0, count * size), shape: [count, ...sampleShape] };
  }

  async greedyRemoval(steps: number, onStep: (removed: string, value: number, index: number) => void): Promise<string[]> {
    const result = await greedyRemoval(layersModelTarget(this.model, this.calibration()), {
      metric: 'js',
      steps: Math.min(steps, this.candidates.length),
      onStep: (step, index) => onStep(step.removed, step.scores[step.removed], index),
    });
    if (result.steps.length < steps) log(`${this.opened.name} has ${this.candidates.length} removal candidates; removed ${result.steps.length}`);
    return result.steps.map((step) => step.removed);
  }

  async allocationInput(plan: PruningPlan, units: readonly string[], sweep: SensitivityCurves | undefined): Promise<Partial<AllocationInput>> {
    if (plan.allocation === 'sensitivity') return { sweep: sweep ?? (await this.sweep(plan, units)) };
    return this.withCalibration((batches) => allocationExtras(this.prunable, plan, this.pipelineData(), batches, units));
  }

  private pipelineData(): PipelineData {
    return { kind: 'samples', ...this.data, synthetic: this.data.source === 'synthetic' };
  }

  private async withCalibration<T>(work: (batches: tf.Tensor[]) => Promise<T>): Promise<T> {
    const batches = calibrationInputs(this.pipelineData());
    try {
      return await work(batches);
    } finally {
      tf.dispose(batches);
    }
  }

  /** The sensitivity sweep the allocation reads, on the labelled data (accuracy, as `lopper sweep`). */
  private async sweep(plan: PruningPlan, units: readonly string[]): Promise<SensitivityCurves> {
    if (this.data.labels === undefined) throw new Error('--allocation sensitivity needs labels in --data to run its sweep, or a saved sweep with --sweep F');
    log(`sensitivity sweep of ${units.length} units × ${DEFAULT_SPARSITIES.length} sparsities`);
    return runSweep(this.model, this.data, {
      criterion: plan.criterion,
      granularity: plan.granularity,
      sparsities: DEFAULT_SPARSITIES,
      metric: 'accuracy',
      seed: plan.seed,
      units,
    });
  }

  /** The plan's criterion through the pipeline the page uses too; channels shrink the model (core/structure/plan-shrink.ts). */
  async apply(plan: PruningPlan): Promise<{ kernels: Map<string, Float32Array>; skipped: { unit: string; reason: string }[] }> {
    return this.withCalibration(async (batches) => {
      if (plan.granularity === 'channels') {
        const planned = await shrinkForPlan(this.model, this.prunable, plan, batches, this.opened.artifacts.modelTopology);
        this.shrunk = planned.shrunk;
        return { kernels: new Map(), skipped: planned.skipped };
      }
      const result = await applyPlanKernels(this.prunable, plan, batches);
      return { kernels: result.kernels, skipped: result.skipped };
    });
  }

  async write(removed: readonly string[], options: { recipe?: Recipe; float16: boolean }): Promise<ExportFile[]> {
    const weights: Map<string, WeightValues> = this.shrunk ? new Map(this.shrunk.weights) : await weightsOf(this.model);
    let topology: Record<string, unknown> | undefined = this.shrunk?.topology;
    if (removed.length > 0) {
      const chosen = this.candidates.filter((c) => removed.includes(c.name));
      const rewritten = topologyWithout(topology ?? this.opened.artifacts.modelTopology, chosen);
      topology = rewritten.topology;
      for (const name of [...weights.keys()]) if (rewritten.dropped.has(name.split('/')[0])) weights.delete(name);
    }
    return writeLayersModel(this.opened, weights, { float16: options.float16, recipe: options.recipe, ...(topology && { topology }) }).files;
  }

  async evaluateWritten(files: readonly ExportFile[]): Promise<{ metrics: RecipeMetrics; params: number }> {
    const opened = await openModel(files.map((f) => inputFileFromBytes(`${this.opened.name}/${f.path}`, f.bytes)));
    const model = await PrunableModel.fromArtifacts(opened.artifacts);
    try {
      return { metrics: this.metricsOf(await this.run(model)), params: model.layersModel.countParams() };
    } finally {
      model.dispose();
    }
  }

  dispose(): void {
    this.model.dispose();
  }
}

export async function layersSubject(opened: OpenedModel, args: ParsedArgs): Promise<PruneSubject> {
  const model = await PrunableModel.fromArtifacts(opened.artifacts);
  try {
    return new LayersSubject(opened, model, await loadData(args, model));
  } catch (error) {
    model.dispose();
    throw error;
  }
}

/** A LayersModel as a DARE base. */
export function layersBaseKernels(opened: OpenedModel): Promise<KernelSource> {
  return PrunableModel.fromArtifacts(opened.artifacts);
}
