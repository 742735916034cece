import * as tf from '@tensorflow/tfjs';
import { LAYERS_MODEL_CAPABILITIES } from '../../core/pipeline/capabilities';
import { syntheticInputs } from '../../core/data/synthetic';
import { evaluate, predict } from '../../core/evaluate';
import { inspectModel } from '../../core/model/inspect';
import { PrunableModel } from '../../core/model/runtime';
import { weightStats } from '../../core/model/stats';
import { greedyRemoval, layerRemovalCandidates, layersModelTarget } from '../../core/removal';
import { runSweep } from '../../core/sweep/engine';
import type { Evaluation } from '../../core/types';
import { checkDatasetFitsModel, parseDataset } from '../../io/dataset';
import type { Dataset, InputFile, OpenedModel } from '../../io/types';
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
import { deltaSweep, evaluateLayersPlan, exportLayersPlan, searchLayersRescale, type PlanContext } from './layers-plan';
import { checkSameArchitecture } from '../../core/delta/dare';
import { groupsPreview, type GroupPreview } from '../../core/structure';
import {
  concatFloat32,
  SYNTHETIC_SAMPLES,
  throwIfCancelled,
  sweepOptions,
  sweepReport,
  type JobContext,
  type Session,
  type SessionData,
  classCount,
  datasetSummary,
} from './session';
import { readKernel } from '../../core/model/kernels';

const CALIBRATION_SAMPLES = 128;

function syntheticDataset(model: PrunableModel, samples: number, seed: number): Dataset {
  const { inputs, shape, hash } = syntheticInputs(model.inputShape, samples, seed);
  return { source: 'synthetic', inputs, shape, hash };
}

/** A TF.js LayersModel with a labelled (or synthetic) dataset. */
export class LayersSession implements Session {
  private dataset: Dataset;
  /** Dense outputs on unlabelled data, the reference of the divergence metric. */
  private reference: Float32Array | null = null;
  private dense: { hash: string; evaluation: Evaluation } | null = null;
  /** Allocation inputs that cost forward passes (outlier ratios, zeroth-order importance), per data hash. */
  private readonly allocationCache = new Map<string, Map<string, number>>();
  private base: { model: PrunableModel; sha256: string } | null = null;

  private constructor(
    readonly opened: OpenedModel,
    readonly model: PrunableModel,
    readonly summary: ModelSummary,
    dataset: Dataset | null,
  ) {
    this.dataset = dataset ?? syntheticDataset(model, SYNTHETIC_SAMPLES, 0);
  }

  static async create(opened: OpenedModel, data?: SessionData): Promise<LayersSession> {
    const model = await PrunableModel.fromArtifacts(opened.artifacts);
    try {
      const { layers, totals } = await inspectModel(model);
      const summary: ModelSummary = {
        format: opened.format,
        name: opened.name,
        sha256: opened.sha256,
        inputShape: model.inputShape,
        outputShape: model.outputShape,
        totalParams: totals.totalParams,
        totalFlops: totals.totalFlops,
        prunableParams: totals.prunableParams,
        sparsity: totals.sparsity,
        layers,
        units: model.units().map((u) => u.name),
        capabilities: LAYERS_MODEL_CAPABILITIES,
        removalCandidates: layerRemovalCandidates(model).map((c) => c.name),
      };
      const dataset = data?.kind === 'dataset' ? data.dataset : null;
      if (dataset) checkDatasetFitsModel(dataset, model.inputShape, classCount(model.outputShape));
      return new LayersSession(opened, model, summary, dataset);
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
    checkDatasetFitsModel(dataset, this.model.inputShape, classCount(this.model.outputShape));
    this.dataset = dataset;
    this.reference = null;
  }

  useSynthetic(samples: number, seed: number): void {
    this.dataset = syntheticDataset(this.model, samples, seed);
    this.reference = null;
  }

  async evaluate(job: JobContext): Promise<Evaluation> {
    const data = this.dataset;
    if (!data.labels && !this.reference) {
      this.reference = await predict(this.model, data, { shouldStop: () => job.cancelled() });
    }
    const evaluation = await evaluate(this.model, data, {
      reference: data.labels ? undefined : (this.reference ?? undefined),
      onProgress: (done, total) => job.progress('Evaluating', done, total),
      shouldStop: () => job.cancelled(),
    });
    throwIfCancelled(job);
    this.dense = { hash: data.hash, evaluation };
    return evaluation;
  }

  async loadBase(opened: OpenedModel): Promise<BaseModelInfo> {
    const model = await PrunableModel.fromArtifacts(opened.artifacts);
    try {
      checkSameArchitecture(this.model, model);
    } catch (error) {
      model.dispose();
      throw error;
    }
    this.base?.model.dispose();
    this.base = { model, sha256: opened.sha256 };
    const changedUnits: string[] = [];
    for (const unit of this.model.units()) {
      const same = tf.tidy(() => tf.all(tf.equal(this.model.getKernel(unit.name), model.getKernel(unit.name))));
      if ((await same.data())[0] === 0) changedUnits.push(unit.name);
      same.dispose();
    }
    return { name: opened.name, sha256: opened.sha256, changedUnits };
  }

  searchRescale(p: number, seed: number, job: JobContext): Promise<{ q: number; value: number; curve: { q: number; value: number }[] }> {
    return searchLayersRescale(this.planContext(), p, seed, job);
  }

  channelGroups(): GroupPreview[] {
    return groupsPreview(this.model);
  }

  evaluatePlan(request: PlanRequest, job: JobContext): Promise<PlanResult> {
    return evaluateLayersPlan(this.planContext(), request, job);
  }

  exportModel(request: ExportRequest, job: JobContext): Promise<ExportResult> {
    return exportLayersPlan(this.planContext(), request, job, (opened) => this.evaluateOpened(opened, job));
  }

  private async evaluateOpened(opened: OpenedModel, job: JobContext): Promise<Evaluation> {
    const other = await LayersSession.create(opened, this.data);
    try {
      return await other.evaluate(job);
    } finally {
      other.dispose();
    }
  }

  private planContext(): PlanContext {
    return {
      model: this.model,
      opened: this.opened,
      summary: this.summary,
      dataset: this.dataset,
      cache: this.allocationCache,
      evaluateOpened: (opened, job) => this.evaluateOpened(opened, job),
      base: this.base,
      denseEvaluation: async (job) => (this.dense?.hash === this.dataset.hash ? this.dense.evaluation : this.evaluate(job)),
    };
  }

  async layerDetail(layer: string): Promise<LayerDetail> {
    const units = this.model
      .units()
      .filter((u) => u.layer === layer)
      .map((u) => u.name);
    const values =
      units.length > 0
        ? concatFloat32(await Promise.all(units.map((unit) => readKernel(this.model, unit))))
        : // getWeights() returns the live variables: read them, never dispose them.
          concatFloat32(
            await Promise.all(
              this.model.layersModel
                .getLayer(layer)
                .getWeights()
                .map(async (w) => (await w.data()) as Float32Array),
            ),
          );
    return { layer, units, stats: weightStats(values) };
  }

  async predict(samples: number): Promise<{ outputs: Float32Array; shape: number[] }> {
    const data = this.dataset;
    const n = Math.min(samples, data.shape[0]);
    const per = data.inputs.length / data.shape[0];
    const slice: Dataset = { ...data, inputs: data.inputs.subarray(0, n * per), shape: [n, ...data.shape.slice(1)], labels: data.labels?.subarray(0, n) };
    const outputs = await predict(this.model, slice, {});
    return { outputs, shape: [n, outputs.length / n] };
  }

  async sweep(config: SweepConfig, job: JobContext): Promise<SweepReport> {
    if (config.delta) return deltaSweep(this.planContext(), config, job);
    const started = performance.now();
    const result = await runSweep(this.model, this.dataset, { ...sweepOptions(config, job), metric: config.metric });
    return sweepReport(result, this.dataset.hash, started);
  }

  async removal(config: RemovalConfig, job: JobContext): Promise<RemovalReport> {
    const started = performance.now();
    const data = this.dataset;
    const samples = Math.min(CALIBRATION_SAMPLES, data.shape[0]);
    const per = data.inputs.length / data.shape[0];
    const target = layersModelTarget(this.model, { inputs: data.inputs.subarray(0, samples * per), shape: [samples, ...data.shape.slice(1)] });
    const result = await greedyRemoval(target, {
      metric: config.metric,
      steps: config.steps,
      onScore: (score) => job.progress('Removing', score.done, score.total, { score: { step: score.step, candidate: score.candidate, value: score.value } }),
      shouldStop: () => job.cancelled(),
    });
    return { ...result, blockInfluence: [], dataHash: data.hash, seconds: (performance.now() - started) / 1000 };
  }

  /** The model evaluated with the removals applied, on all of its data. */
  /** The model with the removals applied (a removed branch passes its skip path), on all of its data. */
  async evaluateRemoved(removed: string[], job: JobContext): Promise<RemovedEvaluation> {
    const bypass = new Set(removed);
    const data = this.dataset;
    if (!data.labels && !this.reference) this.reference = await predict(this.model, data, {});
    const evaluation = await evaluate(this.model, data, {
      forward: { bypass },
      reference: data.labels ? undefined : (this.reference ?? undefined),
      onProgress: (done, total) => job.progress('Evaluating', done, total),
      shouldStop: () => job.cancelled(),
    });
    throwIfCancelled(job);
    const removedParams = this.summary.layers.filter((l) => bypass.has(l.name)).reduce((total, l) => total + l.params, 0);
    return { evaluation, params: this.summary.totalParams - removedParams };
  }

  dispose(): void {
    this.model.dispose();
    this.base?.model.dispose();
  }
}
