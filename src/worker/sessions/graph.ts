import * as tf from '@tensorflow/tfjs';
import { readKernel } from '../../core/model/kernels';
import { weightStats } from '../../core/model/stats';
import { applyPlanKernels, withKernelTensors } from '../../core/pipeline/apply';
import { calibrationInputs, syntheticSamples, type SampleData } from '../../core/pipeline/data';
import { evaluateSamples, predictSamples } from '../../core/pipeline/evaluate';
import { allocatePlan } from '../../core/pipeline/plan';
import { prunableRemovalTarget } from '../../core/pipeline/removal';
import { sweepPrunable } from '../../core/pipeline/sweep';
import { checkExport } from '../../core/pipeline/verify';
import type { PruningPlan } from '../../core/plan';
import { greedyRemoval } from '../../core/removal';
import type { GroupPreview } from '../../core/structure';
import type { Evaluation } from '../../core/types';
import { exportZip } from '../../io/export';
import { checkDatasetFitsModel, parseDataset } from '../../io/dataset';
import { openModel } from '../../io/open';
import { recipeFromPlan } from '../../io/recipe';
import type { Dataset, InputFile, OpenedModel } from '../../io/types';
import { GRAPH_MODEL_CAPABILITIES, GraphModelPrunable } from '../../kinds/graph-model';
import type {
  BaseModelInfo,
  DataSummary,
  ExportRequest,
  ExportResult,
  LayerDetail,
  ModelSummary,
  PlanRequest,
  PlanResult,
  RemovalConfig,
  RemovalReport,
  RemovedEvaluation,
  SweepConfig,
  SweepReport,
} from '../protocol';
import { sizesOf } from './layers-plan';
import {
  concatFloat32,
  SYNTHETIC_SAMPLES,
  sweepCurves,
  sweepOptions,
  sweepReport,
  throwIfCancelled,
  type JobContext,
  type Session,
  type SessionData,
  classCount,
  datasetSummary,
} from './session';

const DELTA_REFUSAL = GRAPH_MODEL_CAPABILITIES.unavailable['delta'] ?? 'delta pruning (DARE) of GraphModels is not available yet';
const CHANNELS_REFUSAL = GRAPH_MODEL_CAPABILITIES.unavailable['channels'] ?? 'GraphModels have no channel groups yet';

/** An evaluation without the outputs and cancel flag that `evaluateSamples` adds. */
function plainEvaluation(result: Evaluation & { outputs?: Float32Array; cancelled?: boolean }): Evaluation {
  const { outputs: _outputs, cancelled: _cancelled, ...evaluation } = result;
  return evaluation;
}

/** Data-free samples from the model's first input: seeded uniform/normal floats, or the kind's synthetic ids for int and bool inputs. */
function syntheticData(model: GraphModelPrunable, samples: number, seed: number): Dataset {
  const spec = model.inputSpecs()[0];
  if (spec === undefined) throw new Error(`${model.name} has no inputs`);
  if (spec.dtype === 'float32') {
    const { inputs, shape, hash } = syntheticSamples(spec.shape, samples, seed);
    return { source: 'synthetic', inputs, shape, hash };
  }
  const batch = model.syntheticBatch(samples, seed);
  try {
    const inputs = Float32Array.from(batch.dataSync());
    return { source: 'synthetic', inputs, shape: [...batch.shape], hash: `synthetic:${seed}:${samples}` };
  } finally {
    batch.dispose();
  }
}

/** Zeros of every unit's stored kernel, by unit. */
async function unitZeros(model: GraphModelPrunable): Promise<Map<string, number>> {
  const zeros = new Map<string, number>();
  for (const unit of model.units()) {
    const values = await readKernel(model, unit.name);
    let count = 0;
    for (const v of values) if (v === 0) count += 1;
    zeros.set(unit.name, count);
  }
  return zeros;
}

/** The concatenated output per sample as the pipeline sees it: one output's probed shape, or `[null, Σ features]`. */
function outputShapeOf(model: GraphModelPrunable): (number | null)[] {
  const shapes = model.outputNames().map((name) => model.probedShape(name));
  if (shapes.length === 1 && shapes[0] !== undefined) return shapes[0].map((d, i) => (i === 0 ? null : d));
  if (shapes.some((shape) => shape === undefined)) return [null, null];
  const features = shapes.reduce((sum, shape) => sum + (shape as number[]).slice(1).reduce((a, b) => a * b, 1), 0);
  return [null, features];
}

interface AppliedPlan {
  sparsity: Record<string, number>;
  kernels: Map<string, Float32Array>;
  achieved: Record<string, number>;
  overall: number;
  note?: string;
  skipped: { unit: string; reason: string }[];
}

/**
 * A TF.js GraphModel with a labelled (or synthetic) dataset, on the pipeline every kind shares:
 * evaluation, sweep, removal, plan application and export-and-verify all go through the kind's
 * `Prunable` (src/kinds/graph-model). Delta pruning and channel groups are refused (capabilities).
 */
export class GraphSession implements Session {
  private dataset: Dataset;
  /** Dense outputs on unlabelled data, the reference of the divergence metric, for `dataset.hash`. */
  private reference: { hash: string; outputs: Float32Array } | null = null;
  private dense: { hash: string; evaluation: Evaluation } | null = null;

  private constructor(
    readonly opened: OpenedModel,
    readonly model: GraphModelPrunable,
    readonly summary: ModelSummary,
    dataset: Dataset | null,
  ) {
    this.dataset = dataset ?? syntheticData(model, SYNTHETIC_SAMPLES, 0);
  }

  static async create(opened: OpenedModel, data?: SessionData): Promise<GraphSession> {
    const model = await GraphModelPrunable.create(opened);
    try {
      const zeros = await unitZeros(model);
      const totals = model.totals(zeros);
      const outputShape = outputShapeOf(model);
      const inputShape = model.inputSpecs()[0]?.shape ?? [];
      const summary: ModelSummary = {
        format: opened.format,
        name: opened.name,
        sha256: opened.sha256,
        inputShape,
        outputShape,
        totalParams: totals.totalParams,
        totalFlops: totals.totalFlops,
        prunableParams: totals.prunableParams,
        sparsity: totals.sparsity,
        layers: model.layers(zeros),
        units: model.units().map((unit) => unit.name),
        capabilities: model.capabilities(),
        removalCandidates: model.removalCandidates(),
      };
      const dataset = data?.kind === 'dataset' ? data.dataset : null;
      if (dataset) checkDatasetFitsModel(dataset, inputShape, classCount(outputShape));
      return new GraphSession(opened, model, summary, dataset);
    } catch (error) {
      model.dispose();
      throw error;
    }
  }

  get data(): SessionData {
    return { kind: 'dataset', dataset: this.dataset };
  }

  dataSummary(): DataSummary {
    return datasetSummary(this.dataset);
  }

  async loadData(file: InputFile): Promise<void> {
    const dataset = await parseDataset(file);
    checkDatasetFitsModel(dataset, this.summary.inputShape, classCount(this.summary.outputShape));
    this.dataset = dataset;
  }

  useSynthetic(samples: number, seed: number): void {
    this.dataset = syntheticData(this.model, samples, seed);
  }

  async evaluate(job: JobContext): Promise<Evaluation> {
    const data = this.samples();
    const evaluation = await evaluateSamples(this.model, data, {
      reference: await this.referenceOutputs(job),
      onProgress: (done, total) => job.progress('Evaluating', done, total),
      shouldStop: () => job.cancelled(),
    });
    throwIfCancelled(job);
    const plain = plainEvaluation(evaluation);
    this.dense = { hash: data.hash, evaluation: plain };
    return plain;
  }

  async layerDetail(layer: string): Promise<LayerDetail> {
    if (this.summary.units.includes(layer)) return { layer, units: [layer], stats: weightStats(await readKernel(this.model, layer)) };
    const graph = this.model.graph;
    if (!graph.nodes.has(layer)) throw new Error(`no layer named ${layer} in ${this.model.name}`);
    const constants = this.model.constants();
    const values: Float32Array[] = [];
    for (const input of graph.dataInputs(layer)) {
      const name = graph.constantBehind(input);
      const tensor = name === undefined ? undefined : constants.get(name);
      if (tensor !== undefined && tensor.dtype === 'float32') values.push((await tensor.data()) as Float32Array);
    }
    return { layer, units: [], stats: weightStats(concatFloat32(values)) };
  }

  async predict(samples: number): Promise<{ outputs: Float32Array; shape: number[] }> {
    const run = await predictSamples(this.model, this.samples(), { samples });
    return { outputs: run.outputs, shape: [run.samples, run.perSample] };
  }

  async sweep(config: SweepConfig, job: JobContext): Promise<SweepReport> {
    if (config.delta) throw new Error(DELTA_REFUSAL);
    if (config.granularity === 'channels') throw new Error(CHANNELS_REFUSAL);
    const started = performance.now();
    const result = await sweepPrunable(this.model, this.samples(), { ...sweepOptions(config, job), metric: config.metric });
    return sweepReport(result, this.dataset.hash, started);
  }

  async removal(config: RemovalConfig, job: JobContext): Promise<RemovalReport> {
    if (this.model.requiresAsync) {
      throw new Error(`${this.model.name} has control flow or dynamic shapes, which the removal search cannot run through yet: prune it without removals`);
    }
    const started = performance.now();
    const result = await greedyRemoval(prunableRemovalTarget(this.model, this.samples()), {
      metric: config.metric,
      steps: config.steps,
      onScore: (score) => job.progress('Removing', score.done, score.total, { score: { step: score.step, candidate: score.candidate, value: score.value } }),
      shouldStop: () => job.cancelled(),
    });
    return { ...result, blockInfluence: [], dataHash: this.dataset.hash, seconds: (performance.now() - started) / 1000 };
  }

  /** The model with the removals applied (a removed branch passes its skip path), on all of its data. */
  async evaluateRemoved(removed: string[], job: JobContext): Promise<RemovedEvaluation> {
    const evaluation = await evaluateSamples(this.model, this.samples(), {
      forward: { bypass: new Set(removed) },
      reference: await this.referenceOutputs(job),
      onProgress: (done, total) => job.progress('Evaluating', done, total),
      shouldStop: () => job.cancelled(),
    });
    throwIfCancelled(job);
    return { evaluation: plainEvaluation(evaluation), params: this.paramsLeft(removed) };
  }

  async evaluatePlan(request: PlanRequest, job: JobContext): Promise<PlanResult> {
    const applied = await this.applyPlan(request, job);
    const removed = request.plan.removed;
    const bypass = removed.length > 0 ? new Set(removed) : undefined;
    const reference = await this.referenceOutputs(job);
    const evaluation = await withKernelTensors(this.model, applied.kernels, (kernels) =>
      evaluateSamples(this.model, this.samples(), {
        forward: { kernels, bypass },
        reference,
        onProgress: (done, total) => job.progress('Evaluating', done, total),
        shouldStop: () => job.cancelled(),
      }),
    );
    throwIfCancelled(job);
    const weights = await this.model.weightValues();
    for (const unit of this.model.units()) {
      const values = applied.kernels.get(unit.name);
      if (values) weights.set(unit.name, { shape: unit.shape, values });
    }
    return {
      sparsity: applied.sparsity,
      achieved: applied.achieved,
      overall: applied.overall,
      evaluation: plainEvaluation(evaluation),
      params: this.paramsLeft(removed),
      sizes: sizesOf(weights),
      note: applied.note,
      skipped: applied.skipped,
    };
  }

  loadBase(): Promise<BaseModelInfo> {
    return Promise.reject(new Error(DELTA_REFUSAL));
  }

  searchRescale(): Promise<{ q: number; value: number; curve: { q: number; value: number }[] }> {
    return Promise.reject(new Error(DELTA_REFUSAL));
  }

  channelGroups(): GroupPreview[] {
    return [];
  }

  /**
   * The plan applied and written as a TF.js GraphModel zip with its recipe (removed residual
   * branches rewired in the topology); before it is handed over, the zip is opened again like a
   * user's drop, built as a second GraphModel, evaluated on the same data and checked against the
   * in-app evaluation (`checkExport`).
   */
  async exportModel(request: ExportRequest, job: JobContext): Promise<ExportResult> {
    job.progress('Checking the export', 0, 3);
    const applied = await this.applyPlan({ plan: request.plan, allocate: false }, job);
    const removed = request.plan.removed;
    const bypass = removed.length > 0 ? new Set(removed) : undefined;
    const reference = await this.referenceOutputs(job);
    const plan: PruningPlan = { ...request.plan, sparsity: applied.sparsity };
    const inApp = request.float16
      ? undefined
      : plainEvaluation(
          await withKernelTensors(this.model, applied.kernels, (kernels) =>
            evaluateSamples(this.model, this.samples(), { forward: { kernels, bypass }, reference, latencyRuns: 0 }),
          ),
        );
    const dense = await this.denseEvaluation(job);
    // Without float16 the recipe's pruned metrics are the in-app evaluation; with it, the export's own (its weights are rounded).
    const files = await this.withStoredKernels(applied.kernels, async () => {
      const draft = inApp ?? (await this.evaluateOpened(await this.reopen(await this.model.exportFiles({ removed, float16: true })), reference));
      const recipe = recipeFromPlan(plan, this.opened, { dense, pruned: draft });
      return { recipe, pruned: draft, written: await this.model.exportFiles({ removed, float16: request.float16, recipe }) };
    });
    throwIfCancelled(job);
    const zip = exportZip(files.written, files.recipe);
    job.progress('Checking the export', 2, 3);
    const reopened = await openModel([{ path: `${this.opened.name}-pruned.zip`, size: zip.length, bytes: async () => zip }]);
    const reloaded = await this.evaluateOpened(reopened, reference);
    return {
      fileName: `${this.opened.name}-pruned${request.float16 ? '-f16' : ''}.zip`,
      zip,
      files: [...files.written.map((f) => f.path), 'recipe.json'],
      check: checkExport(files.pruned, reloaded),
    };
  }

  dispose(): void {
    this.model.dispose();
  }

  /** The session's data as the pipeline takes it. */
  private samples(): SampleData {
    return { kind: 'samples', ...this.dataset, synthetic: this.dataset.source === 'synthetic' };
  }

  /** The dense outputs on unlabelled data (computed once per data hash), or undefined with labels. */
  private async referenceOutputs(job: JobContext): Promise<Float32Array | undefined> {
    if (this.dataset.labels) return undefined;
    if (this.reference?.hash === this.dataset.hash) return this.reference.outputs;
    const run = await predictSamples(this.model, this.samples(), { shouldStop: () => job.cancelled() });
    throwIfCancelled(job);
    this.reference = { hash: this.dataset.hash, outputs: run.outputs };
    return run.outputs;
  }

  private async denseEvaluation(job: JobContext): Promise<Evaluation> {
    return this.dense?.hash === this.dataset.hash ? this.dense.evaluation : this.evaluate(job);
  }

  /** Parameters left once `removed` are bypassed: the kernels of the units only their branches computed are gone. */
  private paramsLeft(removed: readonly string[]): number {
    if (removed.length === 0) return this.summary.totalParams;
    const live = new Set(this.model.liveUnits(removed).map((unit) => unit.name));
    const gone = this.model.units().filter((unit) => !live.has(unit.name));
    return this.summary.totalParams - gone.reduce((sum, unit) => sum + unit.size, 0);
  }

  /** Allocation (when asked), then the criterion on every unit, through the pipeline the CLI uses too; the model is not changed. */
  private async applyPlan(request: PlanRequest, job: JobContext): Promise<AppliedPlan> {
    const { plan } = request;
    if (plan.dare) throw new Error(DELTA_REFUSAL);
    if (plan.granularity === 'channels') throw new Error(CHANNELS_REFUSAL);
    const data = this.samples();
    const batches = calibrationInputs(data);
    try {
      const { sparsity, note } = request.allocate
        ? await allocatePlan(this.model, plan, data, batches, {
            sweep: request.sweep && sweepCurves(request.sweep),
            lambda: request.options?.lambda,
            outlierThreshold: request.options?.outlierThreshold,
            epsilon: request.options?.epsilon,
            shouldStop: () => job.cancelled(),
          })
        : { sparsity: plan.sparsity };
      throwIfCancelled(job);
      const applied = await applyPlanKernels(this.model, { ...plan, sparsity }, batches, {
        onUnit: (p) => job.progress('Pruning', p.index + 1, p.total),
        shouldStop: () => job.cancelled(),
      });
      throwIfCancelled(job);
      return { sparsity, kernels: applied.kernels, achieved: applied.sparsity, overall: applied.overall, note, skipped: applied.skipped };
    } finally {
      tf.dispose(batches);
    }
  }

  /** Runs `work` with the pruned kernels stored in the model (what `exportFiles` writes), the originals restored after. */
  private async withStoredKernels<T>(kernels: ReadonlyMap<string, Float32Array>, work: () => Promise<T>): Promise<T> {
    const originals = new Map<string, Float32Array>();
    try {
      for (const [unit, values] of kernels) {
        originals.set(unit, await readKernel(this.model, unit));
        this.model.setKernel(unit, values);
      }
      return await work();
    } finally {
      for (const [unit, values] of originals) this.model.setKernel(unit, values);
    }
  }

  private reopen(files: { path: string; bytes: Uint8Array }[]): Promise<OpenedModel> {
    return openModel(files.map((f) => ({ path: `${this.opened.name}/${f.path}`, size: f.bytes.length, bytes: async () => f.bytes })));
  }

  /** Another GraphModel (an export reopened) evaluated on this session's data against the same dense reference. */
  private async evaluateOpened(opened: OpenedModel, reference: Float32Array | undefined): Promise<Evaluation> {
    if (opened.format !== 'graph-model') throw new Error(`the export reopened as a ${opened.format}, not a TF.js GraphModel`);
    const other = await GraphModelPrunable.create(opened);
    try {
      return plainEvaluation(await evaluateSamples(other, this.samples(), { reference, latencyRuns: 0 }));
    } finally {
      other.dispose();
    }
  }
}
