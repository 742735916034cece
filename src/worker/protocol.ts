import type { GraphInputSpec } from '../kinds/graph-model/inputs';
import type { CandidateSet } from '../core/removal/candidate-set';
import type { KindCapabilities } from '../core/pipeline/prunable';
import type { CriterionKey, Granularity } from '../core/criteria/types';
import type { PruningPlan } from '../core/plan';
import type { OutputChangeMetric as RemovalMetric, SweepMetric } from '../core/options';
import type { GroupPreview } from '../core/structure';
import type { Evaluation, LayerInfo, WeightStats } from '../core/types';
import type { ModelFormatName } from '../io/types';

export const BACKENDS = ['webgpu', 'webgl', 'wasm', 'cpu'] as const;
export type BackendName = (typeof BACKENDS)[number];

export interface BackendState {
  name: BackendName;
  /** Why this backend is active, in words (shown on hover). */
  reason: string;
  /** Backends that initialised in this browser. */
  available: BackendName[];
  /** WASM helper threads, when the wasm backend is active. */
  wasmThreads?: number;
  /** Whether this runtime offers WASM SIMD and threads (SharedArrayBuffer + atomics). */
  wasmSimd?: boolean;
  wasmMultithread?: boolean;
  crossOriginIsolated: boolean;
  /** Per-backend micro-benchmark results (ms for one small matMul), when measured. */
  benchmarkMs?: Partial<Record<BackendName, number>>;
}

export interface ModelSummary {
  format: ModelFormatName;
  name: string;
  sha256: string;
  inputShape: (number | null)[];
  outputShape: (number | null)[];
  totalParams: number;
  totalFlops: number;
  prunableParams: number;
  sparsity: number;
  layers: LayerInfo[];
  /** Prunable unit names (DESIGN §6). */
  units: string[];
  /** Sublayers or layers that can be removed (bypassed), DESIGN §6 names. */
  removalCandidates: string[];
  /** LayersModels and GraphModels: whether each candidate is a residual branch or a shape-preserving single layer. */
  removalKinds?: Record<string, 'branch' | 'layer'>;
  /** What the model's kind offers (criteria, granularities, allocations, removal, delta pruning). */
  capabilities: KindCapabilities;
  /** Problems that do not stop the model from opening (NaN/±Infinity weights), DESIGN §6 `warnings`. */
  warnings?: string[];
  /**
   * The layer graph's connections, `from` feeding `to`, by the names in `layers` (a LayersModel's
   * inbound nodes, a GraphModel node's inputs), when the session provides them. The page draws the
   * structure as this DAG (residual and concat edges included); without it, layers in order.
   */
  edges?: { from: string; to: string }[];
  /** GraphModels: their inputs (placeholder, dtype, resolved shape and where its size came from). */
  inputs?: GraphInputSpec[];
  /** Language models: their tokenizer kind and context length. */
  tokenizer?: string;
  contextLength?: number;
}

export interface DataSummary {
  source: string;
  hash: string;
  samples: number;
  shape: number[];
  labelled: boolean;
  synthetic: boolean;
  /** NaN/±Infinity inputs. */
  warnings?: string[];
}

export interface OpenResult {
  model: ModelSummary;
  data: DataSummary;
  evaluation: Evaluation;
  backend: BackendState;
}

/** A file crossing into the worker: Blobs clone cheaply (no copy of the bytes). */
export interface TransferFile {
  path: string;
  blob: Blob;
}

export interface LayerDetail {
  layer: string;
  units: string[];
  stats: WeightStats;
  /**
   * The same statistics of the kernels the last measured plan gives this layer, when it changes
   * them; `stats.histogram` and `pruned.histogram` then share their bin edges.
   */
  pruned?: WeightStats;
}

export type { SweepMetric } from '../core/options';

export interface SweepConfig {
  criterion: CriterionKey;
  granularity: Granularity;
  sparsities: number[];
  metric: SweepMetric;
  seed: number;
  /** Delta sensitivity: the columns are DARE drop rates p on the deltas against the loaded base model. */
  delta?: boolean;
}

/** One filled heatmap cell, streamed while a sweep runs. */
export interface SweepCell {
  unit: string;
  sparsity: number;
  value: number;
}

/** A sweep as `lopper sweep` writes it (DESIGN §6), plus what the page needs. */
export interface SweepReport {
  criterion: CriterionKey;
  granularity: Granularity;
  metric: SweepMetric;
  sparsities: number[];
  layers: string[];
  /** units × sparsities; null where not computed (cancelled) or not prunable by the criterion. */
  values: (number | null)[][];
  dense: number;
  dataHash: string;
  backend: string;
  seconds: number;
  cancelled: boolean;
  skipped: { unit: string; reason: string }[];
  /** True for a delta-sensitivity sweep (columns = DARE drop rates). */
  delta?: boolean;
}

export type { OutputChangeMetric as RemovalMetric } from '../core/options';

export interface RemovalConfig {
  metric: RemovalMetric;
  /** Greedy steps (all candidates when absent). */
  steps?: number;
  /** LayersModels and GraphModels: residual branches, shape-preserving layers, or both (the default here). */
  candidates?: CandidateSet;
}

/** One candidate's output change at one greedy step, streamed while the search runs. */
export interface RemovalScoreEvent {
  step: number;
  candidate: string;
  value: number;
}

/** FinerCut's greedy removal as `lopper remove` writes it (DESIGN §6), plus what the page shows. */
export interface RemovalReport {
  metric: RemovalMetric;
  candidates: string[];
  steps: { removed: string; scores: Record<string, number> }[];
  dense: number;
  cancelled: boolean;
  /** ShortGPT Block Influence per block (transformers), for comparison. */
  blockInfluence: { block: string; influence: number }[];
  dataHash: string;
  seconds: number;
}

export interface RemovedEvaluation {
  evaluation: Evaluation;
  /** Parameters left after the removals (weights of the removed sublayers' projections taken away). */
  params: number;
}

export interface PlanRequest {
  plan: PruningPlan;
  /** Run the plan's allocation for its unlocked units (the global slider moved). */
  allocate: boolean;
  /** The last sweep, for the sensitivity allocation. */
  sweep?: SweepReport;
  /** OWL's λ and M, ECoFLaP's ε. */
  options?: { lambda?: number; outlierThreshold?: number; epsilon?: number };
  /**
   * What the evaluation runs on: `auto` (the default) — the calibration subset for a model of at least
   * 10M parameters (`LIVE_SUBSET_PARAMS`), all of the data otherwise; `full` — all of the data and the
   * gzipped size; `subset` — the calibration subset whatever the size.
   */
  evaluation?: 'auto' | 'full' | 'subset';
}

/** What a plan's evaluation ran on: `size` of the data's `of` samples (or tokens of a text). */
export interface EvaluationScope {
  /** True when only the calibration subset was evaluated. */
  subset: boolean;
  size: number;
  of: number;
  unit: 'samples' | 'tokens';
}

export interface PlanSizes {
  /** float32 weights, every parameter. */
  denseBytes: number;
  /** The float32 export gzipped: what unstructured zeros save on the wire (left out of a subset evaluation: it costs seconds on a large model). */
  gzipBytes?: number;
  /** Parameters × 4 after removing pruned channels, when the granularity is `channels`. */
  shrunkBytes?: number;
}

export interface PlanResult {
  /** Per-unit sparsity the plan now asks for (after allocation). */
  sparsity: Record<string, number>;
  /** Per-unit sparsity achieved, and over all units. */
  achieved: Record<string, number>;
  overall: number;
  evaluation: Evaluation;
  /** Parameters left (removed sublayers and pruned channels taken away). */
  params: number;
  sizes: PlanSizes;
  note?: string;
  skipped: { unit: string; reason: string }[];
  /** What the evaluation ran on (absent for a channels plan, always measured on all of the data). */
  scope?: EvaluationScope;
}

export interface BaseModelInfo {
  name: string;
  sha256: string;
  /** Units whose kernels differ from the open model's. */
  changedUnits: string[];
}

export interface ExportRequest {
  plan: PruningPlan;
  float16: boolean;
  /** The sensitivity sweep of this model and data, when one was run: the export adds its node data and Distiller CSV. */
  sweep?: SweepReport;
}

export interface ExportResult {
  fileName: string;
  zip: Uint8Array;
  files: string[];
  /** Why a file for other tools is missing or cannot reproduce the plan (DESIGN §6 "Exports for other tools"). */
  notes?: string[];
  /** The export reloaded and evaluated against the in-app evaluation (of float16-rounded weights for a float16 export). */
  check: { metric: string; inApp: number; reloaded: number; difference: number; ok: boolean };
}

/** Requests, keyed by kind, with the type of their result. */
export interface Requests {
  init: { args: { backend: BackendName | 'auto' }; result: BackendState };
  setBackend: { args: { backend: BackendName }; result: { backend: BackendState; evaluation: Evaluation | null } };
  openFiles: { args: { files: TransferFile[] }; result: OpenResult };
  openDemo: { args: { name: string; baseUrl: string }; result: OpenResult };
  /** `model`: the rebuilt model's summary when the dataset's samples set its dynamic input dimensions. */
  openDataset: { args: { files: TransferFile[] }; result: { data: DataSummary; evaluation: Evaluation; model?: ModelSummary } };
  /** Rebuilds the model with these per-sample shapes for its dynamic input dimensions (by input name; `{}`: the defaults). */
  setInputShapes: { args: { shapes: Record<string, number[]> }; result: { model: ModelSummary; data: DataSummary; evaluation: Evaluation } };
  useSynthetic: { args: { samples: number; seed: number }; result: { data: DataSummary; evaluation: Evaluation } };
  evaluate: { args: Record<string, never>; result: Evaluation };
  layerDetail: { args: { layer: string }; result: LayerDetail };
  /** Flat model outputs for the first `samples` inputs of the current data (tests, comparisons). */
  predict: { args: { samples: number }; result: { outputs: Float32Array; shape: number[] } };
  memory: { args: Record<string, never>; result: { numTensors: number } };
  sweep: { args: SweepConfig; result: SweepReport };
  removal: { args: RemovalConfig; result: RemovalReport };
  evaluateRemoved: { args: { removed: string[] }; result: RemovedEvaluation };
  evaluatePlan: { args: PlanRequest; result: PlanResult };
  channelGroups: { args: Record<string, never>; result: GroupPreview[] };
  /** Loads the base model of a delta-pruning pair (same architecture as the open one). */
  loadBase: { args: { files?: TransferFile[]; demo?: { name: string; baseUrl: string } }; result: BaseModelInfo };
  /** DAREx-q: the rescale q with the lowest loss (or output change) for drop rate p. */
  searchRescale: { args: { p: number; seed: number }; result: { q: number; value: number; curve: { q: number; value: number }[] } };
  exportModel: { args: ExportRequest; result: ExportResult };
}

export type RequestKind = keyof Requests;

export type RequestMessage = {
  [K in RequestKind]: { type: 'request'; id: number; kind: K; args: Requests[K]['args'] };
}[RequestKind];

export interface CancelMessage {
  type: 'cancel';
  id: number;
}

/** The client's heartbeat: the worker answers every ping with a pong, between the steps of a job too. */
export interface PingMessage {
  type: 'ping';
  id: number;
}

/**
 * Faults the worker stages on itself, for end-to-end tests of recovery. Each strikes at a job's
 * step boundary, the `afterSteps`-th from now (default 1), so a test can stage it before starting
 * the job it should hit: `close` stops the worker silently (`self.close()`), `hang` blocks its
 * thread as a kernel that never returns would, `throw` fails that job, `crash` raises an error
 * outside any job. The page never sends these; a test posts one inside the worker.
 */
export const FAULTS = ['close', 'hang', 'throw', 'crash'] as const;
export type FaultKind = (typeof FAULTS)[number];

export interface FaultMessage {
  type: 'fault';
  fault: FaultKind;
  afterSteps?: number;
}

export type ToWorker = RequestMessage | CancelMessage | PingMessage | FaultMessage;

export interface SerializedError {
  name: string;
  message: string;
  file?: string;
}

export type FromWorker =
  | { type: 'result'; id: number; value: unknown; numTensors: number }
  | { type: 'error'; id: number; error: SerializedError; numTensors: number }
  | { type: 'progress'; id: number; label: string; done: number; total: number; cell?: SweepCell; score?: RemovalScoreEvent }
  | { type: 'ready' }
  /** The answer to a ping: the job running now and how many step boundaries jobs have reached so far. */
  | { type: 'pong'; id: number; running: number | null; steps: number };

export class CancelledError extends Error {
  constructor() {
    super('Cancelled');
    this.name = 'CancelledError';
  }
}
