import * as tf from '@tensorflow/tfjs';
import { gzipSync } from 'fflate';
import type { AllocationInput, SensitivityCurves } from '../core/allocate/types';
import { checkSameArchitecture, dare, dareModel, unitSeed } from '../core/delta/dare';
import { searchRescale as searchDareRescale } from '../core/delta/darex';
import { jsDivergence } from '../core/metrics/divergence';
import { readKernel } from '../core/model/kernels';
import { weightStats } from '../core/model/stats';
import { CALIBRATION_SAMPLES } from '../core/apply/capture';
import { applyPlanKernels, withKernelTensors } from '../core/pipeline/apply';
import { calibrationInputs, evaluationWindow, tokenCalibrationWindows, type PipelineData } from '../core/pipeline/data';
import { concatFloat32, evaluateSamples, forwardLatency, predictSamples, predictTokenWindows } from '../core/pipeline/evaluate';
import { allocatePlan } from '../core/pipeline/plan';
import { countZeros, PlanCache, type PlanCacheOptions } from '../core/pipeline/plan-cache';
import type { PrunableForward } from '../core/pipeline/prunable';
import { checkExport } from '../core/pipeline/verify';
import type { PruningPlan } from '../core/plan';
import { greedyRemoval } from '../core/removal';
import { restrictCandidates } from '../core/removal/candidate-set';
import type { GroupPreview } from '../core/structure';
import type { SweepCell as EngineCell, SweepMetric, SweepResult } from '../core/sweep/engine';
import type { Evaluation } from '../core/types';
import { ArchitectureMismatchError } from '../core/delta/dare';
import { ecosystemExport } from '../io/ecosystem';
import type { GraphDefNode } from '../io/ecosystem/types';
import { exportZip, type ExportFile, type WeightValues } from '../io/export';
import { openModel } from '../io/open';
import { recipeFromPlan, type Recipe } from '../io/recipe';
import type { InputFile, OpenedModel } from '../io/types';
import { nonFiniteInputWarnings } from '../io/warnings';
import type { KindModel, KindOpenOptions } from '../kinds/kind';
import { openKind } from '../kinds/registry';
import {
  CancelledError,
  type BaseModelInfo,
  type DataSummary,
  type EvaluationScope,
  type ExportRequest,
  type ExportResult,
  type LayerDetail,
  type ModelSummary,
  type PlanRequest,
  type PlanResult,
  type PlanSizes,
  type RemovalConfig,
  type RemovalReport,
  type RemovalScoreEvent,
  type RemovedEvaluation,
  type SweepCell,
  type SweepConfig,
  type SweepReport,
} from '../worker/protocol';

/** The kind built for `opened`, rebuilt once with the input shapes `data` needs where its samples fill dynamic dimensions differently. */
async function fittedKind(opened: OpenedModel, data: PipelineData | undefined, options: KindOpenOptions): Promise<{ kind: KindModel; options: KindOpenOptions }> {
  const kind = await openKind(opened, options);
  const shapes = data && kind.inputShapesFor?.(data);
  if (shapes === undefined) return { kind, options };
  kind.dispose();
  const fitted: KindOpenOptions = { inputShapes: { ...options.inputShapes, ...shapes } };
  return { kind: await openKind(opened, fitted), options: fitted };
}

/** The page's model summary of a built kind. */
async function summaryOf(kind: KindModel): Promise<ModelSummary> {
  const { opened } = kind;
  return {
    format: opened.format,
    name: opened.name,
    sha256: opened.sha256,
    ...(await kind.describe()),
    units: kind.prunable.units().map((unit) => unit.name),
    capabilities: kind.capabilities,
    removalCandidates: kind.prunable.removalCandidates(),
  };
}

/** What a running job may do: report progress and learn that it was cancelled. */
export interface JobContext {
  progress(label: string, done: number, total: number, event?: { cell?: SweepCell; score?: RemovalScoreEvent }): void;
  cancelled(): boolean;
  /** A greedy removal step of `steps` finished: the candidate it removed and its output change. */
  removedStep?(index: number, steps: number, removed: string, value: number): void;
}

export function throwIfCancelled(job: JobContext): void {
  if (job.cancelled()) throw new CancelledError();
}

/** A job nobody watches or cancels (the command line). */
export const QUIET_JOB: JobContext = { progress: () => undefined, cancelled: () => false };

/** A plan's kernels and what they achieved; the model is not changed. */
interface AppliedPlan {
  sparsity: Record<string, number>;
  kernels: Map<string, Float32Array>;
  achieved: Record<string, number>;
  overall: number;
  note?: string;
  skipped: { unit: string; reason: string }[];
  /** A criterion pruned (false for a plan that only drops DARE deltas). */
  pruned: boolean;
}

/** An export before it is zipped or written: its files, its recipe and the evaluation the recipe records. */
export interface PreparedExport {
  files: ExportFile[];
  recipe: Recipe;
  /** What the export must reproduce when opened again: the in-app evaluation (float32) or that of the written float16 weights. */
  reference: Evaluation;
  /** Sparsity over the prunable weights that still compute (zeros, or channels cut out), and the parameters that do. */
  sparsity: number;
  params: number;
  /** Units the criterion left as they are, with the reason. */
  skipped: { unit: string; reason: string }[];
  /** Files for other tools (llm-compressor, Model Explorer, Distiller) beside the model, and why any is missing. */
  extras: ExportFile[];
  notes: string[];
}

/**
 * From this many parameters on, a plan's live evaluation runs on the calibration subset (the first
 * min(128, N) samples, or the calibration windows' tokens), cut to the live compute budget below,
 * and its gzipped size is left for the full evaluation; the full evaluation runs on request and
 * before every export.
 */
export const LIVE_SUBSET_PARAMS = 10_000_000;

/**
 * The forward compute of a live evaluation: its subset holds at most this many floating-point
 * operations (the model's FLOPs per sample or per token, times the subset's size: about a second
 * of the WASM backend on one thread), and never fewer than LIVE_MIN_SAMPLES samples or LIVE_MIN_TOKENS tokens.
 */
export const LIVE_FLOP_BUDGET = 2e10;
export const LIVE_MIN_SAMPLES = 16;
export const LIVE_MIN_TOKENS = 64;

const gzipSizes = new WeakMap<WeightValues['values'], number>();

/** Bytes of one weight's values, gzipped as an export's shard would be (once per array object: a plan's kernels are never written). */
function gzipBytes(values: WeightValues['values']): number {
  const known = gzipSizes.get(values);
  if (known !== undefined) return known;
  const bytes = gzipSync(new Uint8Array(values.buffer, values.byteOffset, values.byteLength), { level: 6 }).length;
  gzipSizes.set(values, bytes);
  return bytes;
}

/** Bytes of the float32 weights, and of them gzipped weight by weight (what unstructured zeros save on the wire). */
export function sizesOf(weights: ReadonlyMap<string, WeightValues>): PlanSizes {
  let denseBytes = 0;
  let gzipped = 0;
  for (const w of weights.values()) {
    denseBytes += w.values.byteLength;
    gzipped += gzipBytes(w.values);
  }
  return { denseBytes, gzipBytes: gzipped };
}

/** A sweep report's curves as the sensitivity allocation reads them: null cells become NaN. */
export function sweepCurves(sweep: SweepReport): SensitivityCurves {
  return {
    layers: sweep.layers,
    sparsities: sweep.sparsities,
    values: sweep.values.map((row) => row.map((v) => (v === null ? NaN : v))),
    dense: sweep.dense,
    metric: sweep.metric,
  };
}

/** An engine's result as the page's report (`lopper sweep`'s schema): NaN becomes null; data hash, backend and time added. */
function sweepReport(result: SweepResult, dataHash: string, startedMs: number): SweepReport {
  return {
    criterion: result.criterion,
    granularity: result.granularity,
    metric: result.metric,
    sparsities: result.sparsities,
    layers: result.layers,
    values: result.values.map((row) => row.map((v) => (Number.isNaN(v) ? null : v))),
    dense: result.dense,
    dataHash,
    backend: tf.getBackend(),
    seconds: (performance.now() - startedMs) / 1000,
    cancelled: result.cancelled,
    skipped: result.skipped,
  };
}

/** An evaluation without the outputs and cancel flag that `evaluateSamples` adds. */
function plainEvaluation(result: Evaluation & { outputs?: Float32Array; cancelled?: boolean }): Evaluation {
  const { outputs: _outputs, cancelled: _cancelled, ...evaluation } = result;
  return evaluation;
}

const formatShare = (x: number): string => `${(x * 100).toFixed(1)}%`;

/** Files an export wrote, as a drop of a folder named after the model. */
function asDrop(name: string, files: readonly ExportFile[]): InputFile[] {
  return files.map((f) => ({ path: `${name}/${f.path}`, size: f.bytes.length, bytes: async () => f.bytes }));
}

/**
 * One open model with its data, on the active backend, for every model kind: evaluation, sweeps,
 * removal, plan application, delta pruning and export-and-verify are written here once, over the
 * kind's `KindModel` (src/kinds) and the pipeline (src/core/pipeline). The page's worker and the
 * `lopper` command line are thin hosts over it, so both give the same bytes for the same plan.
 * Owns every tensor it makes; everything it returns is plain data.
 */
export class ModelSession {
  private current: PipelineData;
  /** The dense outputs on data without labels (the divergence's reference), by data hash. */
  /** The dense outputs that a divergence compares with, per data hash (the current data and its live subset). */
  private references = new Map<string, Float32Array>();
  private dense: { hash: string; evaluation: Evaluation } | null = null;
  /** The kernels the last measured plan changed (by unit), for the layer detail's dense-vs-pruned histograms. */
  private planKernels: ReadonlyMap<string, Float32Array> | null = null;
  private base: { kind: KindModel; sha256: string } | null = null;
  /** The model was freed (`releaseModel` or `dispose`). */
  private released = false;
  /** Every stored weight's float32 and gzipped bytes, by weight name: a plan's sizes only gzip the kernels it changes. */
  private storedSizes: { denseBytes: number; gzip: Map<string, number> } | null = null;
  /**
   * Names the kernels stored in the model, for the plan cache: `stored`
   * for the model as opened, extended while `withStoredKernels` holds others (DARE's kernels).
   */
  private storedKey = 'stored';
  /** Statistics and pruned kernels reused across plan evaluations (keys name the data, the stored kernels and the backend). */
  private planCache: PlanCache | null = new PlanCache();
  /** OWL's outlier ratios and ECoFLaP's importance by what they were computed from (small maps; reused while the plan cache is on). */
  private readonly allocationMemo = new Map<string, Partial<AllocationInput>>();

  /** The seeded synthetic data last asked for (kept so that a rebuilt model gets the same kind of data). */
  private synthetic: { samples: number; seed: number };

  private constructor(
    private kindModel: KindModel,
    private described: ModelSummary,
    data: PipelineData,
    private options: KindOpenOptions,
  ) {
    this.current = data;
    this.synthetic = { samples: kindModel.syntheticDefault, seed: 0 };
  }

  /** Sets the plan cache's budgets, or turns it off (`false`: every plan is applied from scratch). */
  configurePlanCache(options: PlanCacheOptions | false): void {
    this.planCache = options === false ? null : new PlanCache(options);
  }

  /** The plan cache's hit counters and bytes held, or null when it is off. */
  planCacheState(): { counters: PlanCache['counters']; bytes: PlanCache['bytes'] } | null {
    return this.planCache && { counters: { ...this.planCache.counters }, bytes: this.planCache.bytes };
  }

  /**
   * Builds the model as its kind, with `data` (checked against it) or the kind's data-free default.
   * Data whose samples fill the model's dynamic input dimensions differently sets them.
   */
  static async create(opened: OpenedModel, data?: PipelineData, options: KindOpenOptions = {}): Promise<ModelSession> {
    const fitted = await fittedKind(opened, data, options);
    try {
      if (data) fitted.kind.checkData(data);
      return new ModelSession(fitted.kind, await summaryOf(fitted.kind), data ?? fitted.kind.syntheticData(fitted.kind.syntheticDefault, 0), fitted.options);
    } catch (error) {
      fitted.kind.dispose();
      throw error;
    }
  }

  get kind(): KindModel {
    return this.kindModel;
  }

  get summary(): ModelSummary {
    return this.described;
  }

  /** What the model was built with beyond its files (input shapes): a rebuild on another backend passes them on. */
  get openOptions(): KindOpenOptions {
    return this.options;
  }

  /**
   * Rebuilds the model with other shapes for its dynamic input dimensions (by input name, without
   * the batch; `{}` back to the defaults). A dataset must fit the new shapes; synthetic data is
   * drawn again for them. On any error the model stays as it was.
   */
  async setInputShapes(inputShapes: Readonly<Record<string, readonly number[]>>): Promise<void> {
    const options: KindOpenOptions = Object.keys(inputShapes).length > 0 ? { inputShapes } : {};
    const kind = await openKind(this.kind.opened, options);
    try {
      const data = this.current.synthetic ? kind.syntheticData(this.synthetic.samples, this.synthetic.seed) : this.current;
      kind.checkData(data);
      await this.replaceKind(kind, options, data);
    } catch (error) {
      kind.dispose();
      throw error;
    }
  }

  /** Makes `kind` (the same weights, other input shapes) the session's model, with `data`. */
  private async replaceKind(kind: KindModel, options: KindOpenOptions, data: PipelineData): Promise<void> {
    const summary = await summaryOf(kind);
    this.kindModel.dispose();
    this.kindModel = kind;
    this.described = summary;
    this.options = options;
    this.current = data;
    this.references.clear();
    this.dense = null;
    // Statistics and pruned kernels were computed on activations of the old input shapes (a synthetic data hash does not name them).
    this.planCache?.clear();
    this.allocationMemo.clear();
  }

  get opened(): OpenedModel {
    return this.kind.opened;
  }

  get data(): PipelineData {
    return this.current;
  }

  dataSummary(): DataSummary {
    const d = this.current;
    if (d.kind === 'tokens') return { source: d.source, hash: d.hash, samples: d.ids.length, shape: [d.ids.length], labelled: !d.synthetic, synthetic: d.synthetic };
    const warnings = nonFiniteInputWarnings(d.source, d.inputs);
    return {
      source: d.source,
      hash: d.hash,
      samples: d.shape[0],
      shape: d.shape,
      labelled: d.labels !== undefined,
      synthetic: d.synthetic,
      ...(warnings.length > 0 && { warnings }),
    };
  }

  /** Reads a dropped data file for the model (a dataset .json, or text for a language model) and makes it the current data. */
  async loadData(file: InputFile): Promise<void> {
    const data = await this.kind.readData(file);
    const shapes = this.kind.inputShapesFor?.(data);
    if (shapes === undefined) {
      this.current = data;
      return;
    }
    const options: KindOpenOptions = { inputShapes: { ...this.options.inputShapes, ...shapes } };
    const kind = await openKind(this.kind.opened, options);
    try {
      kind.checkData(data);
      await this.replaceKind(kind, options, data);
    } catch (error) {
      kind.dispose();
      throw error;
    }
  }

  useSynthetic(samples: number, seed: number): void {
    this.current = this.kind.syntheticData(samples, seed);
    this.synthetic = { samples, seed };
  }

  /** The dense model on the current data, with the latency of one forward pass. */
  async evaluate(job: JobContext): Promise<Evaluation> {
    const evaluation = await this.measure({}, job, { latency: true });
    this.dense = { hash: this.current.hash, evaluation };
    return evaluation;
  }

  /** A layer's weight statistics, and those of the kernels the last measured plan gives it where it changes them. */
  async layerDetail(layer: string): Promise<LayerDetail> {
    const { units, values } = await this.kind.layerDetail(layer);
    const dense = weightStats(values);
    const planned = this.planKernels;
    if (!planned || !units.some((unit) => planned.has(unit)) || dense.count === 0) return { layer, units, stats: dense };
    const kernels = await Promise.all(units.map(async (unit) => planned.get(unit) ?? (await readKernel(this.kind.prunable, unit))));
    const prunedValues = concatFloat32(kernels);
    const pruned = weightStats(prunedValues);
    const range = [Math.min(dense.min, pruned.min), Math.max(dense.max, pruned.max)] as const;
    if (!Number.isFinite(range[0]) || !Number.isFinite(range[1])) return { layer, units, stats: dense, pruned };
    return { layer, units, stats: weightStats(values, undefined, range), pruned: weightStats(prunedValues, undefined, range) };
  }

  /** Outputs of the first samples (token positions for a language model), flat, with their shape. */
  async predict(samples: number): Promise<{ outputs: Float32Array; shape: number[] }> {
    const data = this.current;
    if (data.kind === 'samples') {
      const run = await predictSamples(this.kind.prunable, data, { samples });
      return { outputs: run.outputs, shape: [run.samples, run.perSample] };
    }
    const n = Math.min(samples, data.ids.length, this.tokenShape().contextLength);
    const ids = tf.tensor2d(data.ids.subarray(0, n), [1, n], 'int32');
    try {
      const outputs = await predictTokenWindows(this.kind.prunable, [ids]);
      return { outputs, shape: [n, outputs.length / n] };
    } finally {
      ids.dispose();
    }
  }

  /** Each unit pruned alone at each sparsity (the kind's cached engine where it has one), or DARE drop rates with a base loaded. */
  async sweep(config: SweepConfig, job: JobContext, units?: readonly string[]): Promise<SweepReport> {
    if (config.delta) return this.deltaSweep(config, job);
    this.checkGranularity(config.granularity);
    const started = performance.now();
    const result = await this.kind.sweep(this.current, {
      criterion: config.criterion,
      granularity: config.granularity,
      sparsities: config.sparsities,
      seed: config.seed,
      metric: this.sweepMetric(config.metric),
      ...(units && { units }),
      onCell: (cell: EngineCell) => job.progress('Sweeping', cell.index + 1, cell.total, { cell: { unit: cell.unit, sparsity: cell.sparsity, value: cell.value } }),
      shouldStop: () => job.cancelled(),
    });
    return sweepReport(result, this.current.hash, started);
  }

  /** FinerCut's greedy removal on the calibration data (with ShortGPT's block influence where the kind has blocks). */
  async removal(config: RemovalConfig, job: JobContext): Promise<RemovalReport> {
    const started = performance.now();
    const { target, kinds } = this.kind.removalTarget(this.current);
    const restricted = restrictCandidates(target, kinds, config.candidates ?? 'all');
    const steps = Math.min(config.steps ?? Infinity, restricted.candidates().length);
    const result = await greedyRemoval(restricted, {
      metric: config.metric,
      steps,
      onScore: (score) => job.progress('Removing', score.done, score.total, { score: { step: score.step, candidate: score.candidate, value: score.value } }),
      onStep: (step, index) => job.removedStep?.(index, steps, step.removed, step.scores[step.removed]),
      shouldStop: () => job.cancelled(),
    });
    const influence = result.cancelled || !this.kind.blockInfluence ? [] : await this.kind.blockInfluence(this.current);
    return { ...result, blockInfluence: influence, dataHash: this.current.hash, seconds: (performance.now() - started) / 1000 };
  }

  /** The model with the removals applied (a removed branch or sublayer passes its skip path), on all of its data. */
  async evaluateRemoved(removed: string[], job: JobContext): Promise<RemovedEvaluation> {
    const evaluation = await this.measure({ bypass: new Set(removed) }, job);
    return { evaluation, params: this.kind.paramsLeft(removed, this.summary.totalParams) };
  }

  /** The plan's target spread over the live units by its allocation (N:M: every unit at N/M). */
  async allocate(request: PlanRequest, job: JobContext, curves?: SensitivityCurves): Promise<{ sparsity: Record<string, number>; note?: string }> {
    if (!request.allocate) return { sparsity: request.plan.sparsity };
    const result = await this.withCalibration((batches) =>
      allocatePlan(this.kind.prunable, request.plan, this.current, batches, {
        sweep: curves ?? (request.sweep && sweepCurves(request.sweep)),
        lambda: request.options?.lambda,
        outlierThreshold: request.options?.outlierThreshold,
        epsilon: request.options?.epsilon,
        shouldStop: () => job.cancelled(),
        ...(this.planCache && { memo: this.allocationMemo, memoKey: `${tf.getBackend()}|${this.storedKey}|${this.current.hash}` }),
      }),
    );
    throwIfCancelled(job);
    return result;
  }

  /** The whole plan (allocation, criterion, removals, channels, DARE) measured on the current data; nothing in the model changes. */
  async evaluatePlan(request: PlanRequest, job: JobContext): Promise<PlanResult> {
    if (request.plan.granularity === 'channels') return this.evaluateChannelPlan(request, job);
    const applied = await this.applyPlan(request, job);
    this.planKernels = applied.kernels;
    const removed = request.plan.removed;
    const scope = this.evaluationScope(request.evaluation);
    const evaluation = await withKernelTensors(this.kind.prunable, applied.kernels, (kernels) => this.measure({ kernels, bypass: this.bypassOf(removed) }, job, { scope }));
    // A live evaluation of a large model leaves the gzipped size (seconds of compression) to the full one.
    const live = request.evaluation === 'subset' || (request.evaluation !== 'full' && this.summary.totalParams >= LIVE_SUBSET_PARAMS);
    const sizes = await this.planSizes(applied.kernels, !live);
    return {
      sparsity: applied.sparsity,
      achieved: applied.achieved,
      // One definition in the page, the CLI and the recipe: zeros over the prunable weights that still compute.
      overall: request.plan.dare && !applied.pruned ? applied.overall : await this.liveSparsity(applied.kernels, removed),
      evaluation,
      params: this.kind.paramsLeft(removed, this.summary.totalParams),
      sizes,
      note: applied.note,
      skipped: applied.skipped,
      scope,
    };
  }

  /**
   * What a plan's evaluation runs on: the whole current data, or for a model of at least
   * LIVE_SUBSET_PARAMS parameters (`auto`) or on request (`subset`), its calibration subset.
   */
  evaluationScope(request: PlanRequest['evaluation'] = 'auto'): EvaluationScope {
    const data = this.current;
    const all = data.kind === 'samples' ? data.shape[0] : data.ids.length;
    const unit = data.kind === 'samples' ? 'samples' : 'tokens';
    const wanted = request === 'subset' || (request === 'auto' && this.summary.totalParams >= LIVE_SUBSET_PARAMS);
    // Data-free token windows are the calibration windows already; the perplexity of a text counts its tokens.
    const calibration =
      data.kind === 'samples'
        ? Math.min(CALIBRATION_SAMPLES, all)
        : data.synthetic
          ? all
          : Math.min(
              all,
              tokenCalibrationWindows(data, this.tokenShape()).reduce((n, w) => n + w.length, 0),
            );
    // A token costs about two operations per parameter (the head and embedding included); a sample the model's FLOPs.
    const perItem = unit === 'samples' && this.summary.totalFlops > 0 ? this.summary.totalFlops : 2 * this.summary.totalParams;
    const affordable = Math.max(unit === 'samples' ? LIVE_MIN_SAMPLES : LIVE_MIN_TOKENS, Math.floor(LIVE_FLOP_BUDGET / perItem));
    // Data-free windows are cut to whole windows, or to the first window's first tokens.
    const window = data.kind === 'tokens' && data.synthetic ? tokenCalibrationWindows(data, this.tokenShape())[0].length : 1;
    const subsetSize = Math.min(calibration, affordable < window ? affordable : affordable - (affordable % window));
    return wanted && subsetSize < all ? { subset: true, size: subsetSize, of: all, unit } : { subset: false, size: all, of: all, unit };
  }

  /** Opens a DARE base (the same kind and architecture) and lists the units whose kernels differ from it. */
  async loadBase(opened: OpenedModel): Promise<BaseModelInfo> {
    if (opened.format !== this.opened.format) throw new ArchitectureMismatchError(`${opened.name} is a ${opened.format}, the model a ${this.opened.format}`);
    const base = await openKind(opened, this.options);
    try {
      checkSameArchitecture(this.kind.prunable, base.prunable);
    } catch (error) {
      base.dispose();
      throw error;
    }
    this.base?.kind.dispose();
    this.base = { kind: base, sha256: opened.sha256 };
    const changedUnits: string[] = [];
    for (const unit of this.kind.prunable.units()) {
      const same = tf.tidy(() => tf.all(tf.equal(this.kind.prunable.getKernel(unit.name), base.prunable.getKernel(unit.name))));
      if ((await same.data())[0] === 0) changedUnits.push(unit.name);
      same.dispose();
    }
    return { name: opened.name, sha256: opened.sha256, changedUnits };
  }

  /** DAREx-q: q on a grid above 1 − p, scored by the loss on the data (or the divergence without labels). */
  async searchRescale(p: number, seed: number, job: JobContext): Promise<{ q: number; value: number; curve: { q: number; value: number }[] }> {
    const base = this.requireBase();
    const units = this.kind.prunable.units().map((u) => u.name);
    const result = await searchDareRescale(
      p,
      async (q) => {
        const kernels = await dareModel(this.kind.prunable, base.prunable, units, { p, q, seed });
        const evaluation = await withKernelTensors(this.kind.prunable, kernels, (tensors) => this.measure({ kernels: tensors }));
        return evaluation.loss ?? evaluation.divergence ?? NaN;
      },
      { onProgress: (_point, done, total) => job.progress('Searching q', done, total), shouldStop: () => job.cancelled() },
    );
    throwIfCancelled(job);
    return { q: result.q, value: result.value, curve: result.curve.map((point) => ({ q: point.q, value: point.value })) };
  }

  /** Channel dependency groups, shown before a channels plan is applied. */
  channelGroups(): GroupPreview[] {
    return this.kind.channels?.groups() ?? [];
  }

  /**
   * The plan applied and written in the model's own format with its recipe (removals rewired,
   * channels cut out); the recipe records the dense evaluation and `reference`.
   */
  async prepareExport(request: ExportRequest, job: JobContext): Promise<PreparedExport> {
    const { plan, float16 } = request;
    const removed = plan.removed;
    let sparsity = plan.sparsity;
    let write: (recipe?: Recipe) => Promise<ExportFile[]>;
    let inApp: Evaluation | undefined;
    let achieved: Pick<PreparedExport, 'sparsity' | 'params' | 'skipped'>;
    job.progress('Checking the export', 0, 3);
    if (plan.granularity === 'channels') {
      this.refuseChannelRemovals(removed);
      const channels = this.requireChannels();
      const shrunk = await this.withCalibration((batches) => channels.shrink(plan, batches));
      write = async (recipe) => shrunk.write({ float16, recipe });
      achieved = { sparsity: shrunk.sparsity, params: shrunk.params, skipped: shrunk.skipped };
    } else {
      const applied = await this.applyPlan({ plan, allocate: false }, job);
      sparsity = applied.sparsity;
      achieved = {
        sparsity: await this.liveSparsity(applied.kernels, removed),
        params: this.kind.paramsLeft(removed, this.summary.totalParams),
        skipped: applied.skipped,
      };
      if (!float16) inApp = await withKernelTensors(this.kind.prunable, applied.kernels, (kernels) => this.measure({ kernels, bypass: this.bypassOf(removed) }));
      write = (recipe) => this.withStoredKernels(applied.kernels, () => this.kind.write({ removed, float16, recipe }));
    }
    job.progress('Checking the export', 1, 3);
    // A float16 export is held to the evaluation of its own rounded weights, not of the float32 ones.
    const reference = inApp ?? (await this.evaluateOpened(await openModel(asDrop(this.opened.name, await write())), job));
    const recipe = recipeFromPlan({ ...plan, sparsity }, this.opened, { dense: await this.denseEvaluation(job), pruned: reference }, undefined, this.options.inputShapes);
    const files = await write(recipe);
    throwIfCancelled(job);
    const ecosystem = ecosystemExport({
      format: this.opened.format,
      modelName: this.opened.name,
      units: this.kind.prunable.units().map(({ name, size, layer }) => ({ name, size, layer })),
      plan: { ...plan, sparsity },
      ...(request.sweep && { sweep: request.sweep }),
      ...(plan.target > 0 && { sensitivityAt: plan.target }),
      ...(this.opened.format === 'graph-model' && { graphNodes: (this.opened.artifacts.modelTopology as { node?: GraphDefNode[] }).node }),
    });
    return { files, recipe, reference, ...achieved, extras: ecosystem.files, notes: ecosystem.notes };
  }

  /** The model's bytes with `kernels` in place of their units' stored kernels: the unchanged weights' gzipped sizes come from a cache. */
  private async planSizes(kernels: ReadonlyMap<string, Float32Array>, gzip = true): Promise<PlanSizes> {
    if (!gzip) return { denseBytes: this.summary.totalParams * 4 };
    if (this.storedSizes === null) {
      const weights = await this.kind.weightValues();
      let denseBytes = 0;
      const gzip = new Map<string, number>();
      for (const [name, w] of weights) {
        denseBytes += w.values.byteLength;
        gzip.set(name, gzipBytes(w.values));
      }
      this.storedSizes = { denseBytes, gzip };
    }
    const weightOf = new Map(this.kind.prunable.units().map((unit) => [unit.name, unit.weight]));
    const replaced = new Set([...kernels.keys()].map((unit) => weightOf.get(unit)));
    let gzipped = 0;
    for (const [name, bytes] of this.storedSizes.gzip) if (!replaced.has(name)) gzipped += bytes;
    for (const values of kernels.values()) gzipped += gzipBytes(values);
    return { denseBytes: this.storedSizes.denseBytes, gzipBytes: gzipped };
  }

  /** Zeros over the weights of the units that still compute with `removed` bypassed, `kernels` in place of the stored ones. */
  private async liveSparsity(kernels: ReadonlyMap<string, Float32Array>, removed: readonly string[]): Promise<number> {
    let zeros = 0;
    let total = 0;
    for (const unit of this.kind.prunable.liveUnits(removed)) {
      const kernel = kernels.get(unit.name);
      zeros += kernel !== undefined ? countZeros(kernel) : await this.storedZeros(unit.name);
      total += unit.size;
    }
    return total === 0 ? 0 : zeros / total;
  }

  /** Zeros of a unit's stored kernel (counted once per stored-kernel state while the plan cache is on). */
  private async storedZeros(unit: string): Promise<number> {
    const read = () => readKernel(this.kind.prunable, unit);
    if (this.planCache === null) return countZeros(await read());
    return this.planCache.storedZeroCount(unit, this.storedKey, read);
  }

  /** The export as a zip; before it is handed over, the zip is opened again like a user's drop, evaluated, and checked against the in-app evaluation. */
  async exportModel(request: ExportRequest, job: JobContext): Promise<ExportResult> {
    const prepared = await this.prepareExport(request, job);
    const zip = exportZip([...prepared.files, ...prepared.extras], prepared.recipe);
    job.progress('Checking the export', 2, 3);
    const reopened = await openModel([{ path: `${this.opened.name}-pruned.zip`, size: zip.length, bytes: async () => zip }]);
    return {
      fileName: `${this.opened.name}-pruned${request.float16 ? '-f16' : ''}.zip`,
      zip,
      files: [...prepared.files.map((f) => f.path), 'recipe.json', ...prepared.extras.map((f) => f.path)],
      ...(prepared.notes.length > 0 && { notes: prepared.notes }),
      check: checkExport(prepared.reference, await this.evaluateOpened(reopened, job)),
    };
  }

  /** Another model (an export opened again) evaluated on this session's data against the same dense reference. */
  async evaluateOpened(opened: OpenedModel, job?: JobContext): Promise<Evaluation> {
    if (opened.format !== this.opened.format) throw new Error(`the export reopened as a ${opened.format}, not a ${this.opened.format}`);
    const other = await openKind(opened, this.options);
    try {
      return await this.measure({}, job, {}, other);
    } finally {
      other.dispose();
    }
  }

  /**
   * Frees the session's model, its DARE base and cached kernels ahead of `dispose`, for a caller
   * that has only `evaluateOpened` (an export opened again) left to run: the dense outputs that
   * compares against are computed first where it needs them. The session runs no model of its own after this.
   */
  async releaseModel(): Promise<void> {
    if (this.released) return;
    const data = this.current;
    const compared = data.kind === 'samples' ? data.labels === undefined : data.synthetic || this.kind.perplexity === undefined;
    if (compared) await this.referenceOutputs();
    this.dispose();
  }

  dispose(): void {
    this.planCache?.clear();
    this.allocationMemo.clear();
    if (!this.released) this.kind.dispose();
    this.released = true;
    this.base?.kind.dispose();
    this.base = null;
  }

  /** The dense evaluation on the current data, measured once per data. */
  async denseEvaluation(job?: JobContext): Promise<Evaluation> {
    if (this.dense?.hash !== this.current.hash) this.dense = { hash: this.current.hash, evaluation: await this.measure({}, job, { latency: true }) };
    return this.dense.evaluation;
  }

  /**
   * The metric that fits the data, for `kind` (this model by default) with the forward pass's
   * changes: accuracy and loss with labels, perplexity on text, otherwise the divergence from the
   * dense outputs of this model.
   */
  private async measure(
    forward: PrunableForward,
    job?: JobContext,
    options: { latency?: boolean; scope?: EvaluationScope } = {},
    kind: KindModel = this.kind,
  ): Promise<Evaluation> {
    const data = this.current;
    const subset = options.scope?.subset ? options.scope.size : undefined;
    const watch = job && { onProgress: (done: number, total: number) => job.progress('Evaluating', done, total), shouldStop: () => job.cancelled() };
    let evaluation: Evaluation;
    if (data.kind === 'samples') {
      const reference = data.labels ? undefined : await this.referenceOutputs();
      evaluation = plainEvaluation(
        await evaluateSamples(kind.prunable, data, { forward, reference, latencyRuns: options.latency ? 3 : 0, ...(subset !== undefined && { samples: subset }), ...watch }),
      );
    } else if (!data.synthetic && kind.perplexity) {
      const ids = subset === undefined ? data.ids : data.ids.subarray(0, subset);
      const window = evaluationWindow(kind.tokens ?? this.tokenShape(), ids.length);
      const result = await kind.perplexity(ids, { kernels: forward.kernels, bypass: forward.bypass, contextLength: window.length, batchSize: window.batch, ...watch });
      evaluation = {
        perplexity: result.perplexity,
        loss: result.nll,
        samples: result.tokens,
        windowLength: window.length,
        ...(window.cappedByMemory && { windowCappedByMemory: true }),
      };
    } else {
      // A live subset of data-free windows is their first `subset` tokens, measured against the dense outputs of the same tokens.
      const measured = subset === undefined ? data : { ...data, hash: `${data.hash}:first-${subset}`, ids: data.ids.subarray(0, subset) };
      const unchanged = kind === this.kind && forward.kernels === undefined && (forward.bypass?.size ?? 0) === 0 && forward.onUnitInput === undefined;
      if (unchanged) {
        // The model against its own dense outputs on the same windows: no divergence, and no forward pass to hold them.
        evaluation = { divergence: 0, samples: tokenCalibrationWindows(measured, this.tokenShape()).reduce((n, w) => n + w.length, 0) };
      } else {
        const reference = await this.referenceOutputs(measured);
        const outputs = await this.withTokenBatches((batches) => predictTokenWindows(kind.prunable, batches, forward), measured);
        const vocab = this.tokenShape().vocabSize;
        evaluation = { divergence: jsDivergence(reference, outputs, vocab, { fromLogits: true }), samples: outputs.length / vocab };
      }
    }
    if (job) throwIfCancelled(job);
    if (options.latency && data.kind === 'tokens') {
      const latency = await this.withTokenBatches((batches) => forwardLatency(kind.prunable, batches[0], forward));
      evaluation = { ...evaluation, latencyMs: latency, batchSize: 1 };
    }
    return evaluation;
  }

  /** The dense model's outputs on the current data (its calibration windows for token ids), computed once per data hash. */
  private async referenceOutputs(data: PipelineData = this.current): Promise<Float32Array> {
    const known = this.references.get(data.hash);
    if (known !== undefined) return known;
    const outputs =
      data.kind === 'samples'
        ? (await predictSamples(this.kind.prunable, data)).outputs
        : await this.withTokenBatches((batches) => predictTokenWindows(this.kind.prunable, batches), data);
    for (const hash of this.references.keys()) if (hash !== this.current.hash && !hash.startsWith(`${this.current.hash}:`)) this.references.delete(hash);
    this.references.set(data.hash, outputs);
    return outputs;
  }

  private tokenShape() {
    const shape = this.kind.tokens;
    if (shape === undefined) throw new Error(`${this.opened.name} takes no token ids`);
    return shape;
  }

  private async withTokenBatches<T>(work: (batches: tf.Tensor[]) => Promise<T>, data: PipelineData = this.current): Promise<T> {
    const batches = calibrationInputs(data, this.tokenShape());
    try {
      return await work(batches);
    } finally {
      tf.dispose(batches);
    }
  }

  /** Runs `work` with the current data's calibration batches (the first min(128, N) samples, or the token windows), disposing them after. */
  private async withCalibration<T>(work: (batches: tf.Tensor[]) => Promise<T>): Promise<T> {
    const batches = calibrationInputs(this.current, this.kind.tokens);
    try {
      return await work(batches);
    } finally {
      tf.dispose(batches);
    }
  }

  /** The metric a sweep runs: a language model's accuracy is its loss on text; data-free, every kind measures the divergence. */
  private sweepMetric(metric: SweepMetric): SweepMetric {
    const data = this.current;
    const labelled = data.kind === 'samples' ? data.labels !== undefined : !data.synthetic;
    if (!labelled && (metric === 'accuracy' || metric === 'loss')) return 'js';
    return data.kind === 'tokens' && metric === 'accuracy' ? 'loss' : metric;
  }

  private checkGranularity(granularity: string): void {
    const capabilities = this.kind.capabilities;
    if (!(capabilities.granularities as readonly string[]).includes(granularity)) {
      throw new Error(capabilities.unavailable[granularity] ?? `${granularity} is not available for ${this.opened.name}`);
    }
  }

  private bypassOf(removed: readonly string[]): ReadonlySet<string> | undefined {
    return removed.length > 0 ? new Set(removed) : undefined;
  }

  /**
   * DARE against the base (when the plan has it), then the allocation and the criterion on every
   * unit (on the DARE kernels), through the pipeline; the model is not changed.
   */
  private async applyPlan(request: PlanRequest, job: JobContext): Promise<AppliedPlan> {
    const { plan } = request;
    if (!plan.dare) return this.applyCriterion(request, job);
    const dared = await this.applyDare(plan);
    const prunes = request.allocate ? plan.target > 0 : Object.values(plan.sparsity).some((s) => s > 0);
    if (!prunes) return dared;
    const pruned = await this.withStoredKernels(dared.kernels, () => this.applyCriterion(request, job), `dare:${JSON.stringify(plan.dare)}:${plan.seed}`);
    return { ...pruned, kernels: new Map([...dared.kernels, ...pruned.kernels]), note: [dared.note, pruned.note].filter(Boolean).join('; ') };
  }

  private async applyCriterion(request: PlanRequest, job: JobContext): Promise<AppliedPlan> {
    const { plan } = request;
    this.checkGranularity(plan.granularity);
    return this.withCalibration(async (batches) => {
      const { sparsity, note } = request.allocate ? await this.allocate(request, job) : { sparsity: plan.sparsity };
      const applied = await applyPlanKernels(this.kind.prunable, { ...plan, sparsity }, batches, {
        onUnit: (p) => job.progress('Pruning', p.index + 1, p.total),
        shouldStop: () => job.cancelled(),
        ...(this.planCache && { cache: this.planCache, cacheKey: `${tf.getBackend()}|${this.storedKey}|${this.current.hash}` }),
      });
      throwIfCancelled(job);
      return { sparsity, kernels: applied.kernels, achieved: applied.sparsity, overall: applied.overall, note, skipped: applied.skipped, pruned: true };
    });
  }

  private refuseChannelRemovals(removed: readonly string[]): void {
    if (removed.length > 0) throw new Error('Channel shrinking together with removed layers is not supported yet: set the removal slider to 0');
  }

  private requireChannels() {
    this.checkGranularity('channels');
    const channels = this.kind.channels;
    if (channels === undefined) throw new Error(`${this.opened.name} has no channel groups`);
    return channels;
  }

  /** Channels: whole neurons/filters go with every coupled weight; the shrunk model is written and measured as it would be exported. */
  private async evaluateChannelPlan(request: PlanRequest, job: JobContext): Promise<PlanResult> {
    this.planKernels = null;
    this.refuseChannelRemovals(request.plan.removed);
    const channels = this.requireChannels();
    const { sparsity, note } = await this.allocate(request, job);
    const shrunk = await this.withCalibration((batches) => channels.shrink({ ...request.plan, sparsity }, batches));
    throwIfCancelled(job);
    const evaluation = await this.evaluateOpened(await openModel(asDrop(this.opened.name, shrunk.write({ float16: false }))), job);
    const sizes = sizesOf(shrunk.weights);
    return {
      sparsity,
      achieved: shrunk.achieved,
      overall: shrunk.sparsity,
      evaluation,
      params: shrunk.params,
      sizes: { ...sizes, shrunkBytes: sizes.denseBytes, denseBytes: this.summary.totalParams * 4 },
      note,
      skipped: shrunk.skipped,
    };
  }

  private requireBase(): KindModel {
    if (!this.base) throw new Error('Delta pruning needs a base model: load one first');
    return this.base.kind;
  }

  /** DARE on every unit: the base kernels plus the fine-tuned deltas, each dropped with probability p, the rest rescaled by 1/q. */
  private async applyDare(plan: PruningPlan): Promise<AppliedPlan> {
    const options = plan.dare;
    const base = this.requireBase();
    if (!options) throw new Error('the plan holds no DARE step');
    if (options.base !== this.base?.sha256) throw new Error('The plan was made against another base model than the one loaded');
    const units = this.kind.prunable.units().map((u) => u.name);
    const kernels = await dareModel(this.kind.prunable, base.prunable, units, { p: options.p, q: options.q, seed: plan.seed });
    const achieved: Record<string, number> = {};
    let dropped = 0;
    let deltas = 0;
    for (const [unit, values] of kernels) {
      const fine = await readKernel(this.kind.prunable, unit);
      const original = await readKernel(base.prunable, unit);
      let unitDropped = 0;
      let unitDeltas = 0;
      for (let i = 0; i < values.length; i++) {
        if (fine[i] === original[i]) continue;
        unitDeltas += 1;
        if (values[i] === original[i]) unitDropped += 1;
      }
      achieved[unit] = unitDeltas === 0 ? 0 : unitDropped / unitDeltas;
      dropped += unitDropped;
      deltas += unitDeltas;
    }
    const overall = deltas === 0 ? 0 : dropped / deltas;
    return {
      sparsity: plan.sparsity,
      kernels,
      achieved,
      overall,
      skipped: [],
      pruned: false,
      note: `DARE: ${formatShare(overall)} of the deltas dropped, the rest scaled by 1/${options.q.toFixed(3)}`,
    };
  }

  /**
   * Delta sensitivity: for every unit × drop rate p, DARE on that unit's deltas alone (rescaled by
   * 1/(1 − p)), every other unit as fine-tuned, and the metric measured. Streams cells like a sweep.
   */
  private async deltaSweep(config: SweepConfig, job: JobContext): Promise<SweepReport> {
    if (!this.base) throw new Error('A delta-sensitivity sweep needs a base model: load one first');
    const base = this.base.kind;
    const started = performance.now();
    const units = this.kind.prunable.units().map((u) => u.name);
    const rates = config.sparsities;
    const values: (number | null)[][] = units.map(() => rates.map(() => null));
    const pick = (e: Evaluation): number => (config.metric === 'accuracy' ? (e.accuracy ?? NaN) : config.metric === 'loss' ? (e.loss ?? NaN) : (e.divergence ?? NaN));
    const dense = pick(await this.denseEvaluation(job));
    let done = 0;
    let cancelled = false;
    const total = units.length * rates.length;
    for (const [row, unit] of units.entries()) {
      const fine = await readKernel(this.kind.prunable, unit);
      const original = await readKernel(base.prunable, unit);
      for (const [column, p] of rates.entries()) {
        if (job.cancelled()) {
          cancelled = true;
          break;
        }
        const kernels = new Map([[unit, dare(original, fine, { p, seed: unitSeed(config.seed, unit) })]]);
        const value = p === 0 ? dense : pick(await withKernelTensors(this.kind.prunable, kernels, (tensors) => this.measure({ kernels: tensors })));
        values[row][column] = value;
        done += 1;
        job.progress('Sweeping deltas', done, total, { cell: { unit, sparsity: p, value } });
      }
      if (cancelled) break;
    }
    return {
      criterion: 'random',
      granularity: 'unstructured',
      metric: config.metric,
      sparsities: rates,
      layers: units,
      values,
      dense,
      dataHash: this.current.hash,
      backend: tf.getBackend(),
      seconds: (performance.now() - started) / 1000,
      cancelled,
      skipped: [],
      delta: true,
    };
  }

  /** Runs `work` with `kernels` stored in the model (what a writer writes), the originals restored after. */
  private async withStoredKernels<T>(kernels: ReadonlyMap<string, Float32Array>, work: () => Promise<T>, storedKey = 'written'): Promise<T> {
    const originals = new Map<string, Float32Array>();
    const before = this.storedKey;
    this.storedKey = `${before}>${storedKey}`;
    try {
      for (const [unit, values] of kernels) {
        originals.set(unit, (await readKernel(this.kind.prunable, unit)).slice());
        this.kind.prunable.setKernel(unit, values);
      }
      return await work();
    } finally {
      for (const [unit, values] of originals) this.kind.prunable.setKernel(unit, values);
      this.storedKey = before;
    }
  }
}
