import { create } from 'zustand';
import type { Evaluation, WeightStats } from '../core/types';
import { densePlan, type PruningPlan } from '../core/plan';
import type {
  BackendName,
  BackendState,
  BaseModelInfo,
  DataSummary,
  ExportResult,
  ModelSummary,
  PlanResult,
  RemovalConfig,
  RemovalReport,
  RemovedEvaluation,
  SweepConfig,
  SweepReport,
} from '../worker/protocol';

export interface JobState {
  id: number;
  label: string;
  done: number;
  total: number;
  startedAt: number;
  cancellable: boolean;
}

export interface UserError {
  message: string;
  file?: string;
}

export type PlanState = PruningPlan;

export interface Snapshot {
  name: string;
  plan: PruningPlan;
  result: PlanResult | null;
}

export interface ExportState {
  float16: boolean;
  status: 'idle' | 'running' | 'done' | 'failed';
  result: Omit<ExportResult, 'zip'> | null;
}

export type SweepStatus = 'idle' | 'running' | 'done' | 'cancelled' | 'failed';

export interface SweepState {
  status: SweepStatus;
  config: SweepConfig;
  /** Filled cell by cell while running; null before the first sweep. */
  report: SweepReport | null;
  done: number;
  total: number;
  startedAt: number;
  /** Units whose curves are drawn beside the heatmap. */
  curves: string[];
  /** The running sweep's job, which its Cancel button cancels. */
  jobId?: number;
}

export const DEFAULT_GRID = [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95];

export const defaultSweepConfig = (): SweepConfig => ({ criterion: 'magnitude', granularity: 'unstructured', sparsities: DEFAULT_GRID, metric: 'accuracy', seed: 0 });

export interface RemovalState {
  status: SweepStatus;
  config: RemovalConfig;
  /** Filled candidate by candidate while running. */
  report: RemovalReport | null;
  done: number;
  total: number;
  startedAt: number;
  /** How many greedy removals apply (the slider). */
  count: number;
  /** The evaluation with the first `count` removals, once measured. */
  applied: (RemovedEvaluation & { count: number }) | null;
  /** The running search's job, which its Cancel button cancels. */
  jobId?: number;
}

export const idleRemoval = (): RemovalState => ({ status: 'idle', config: { metric: 'js' }, report: null, done: 0, total: 0, startedAt: 0, count: 0, applied: null });

/** What the page says after the compute worker was restarted; it stays until dismissed. */
export interface RecoveryState {
  /** Why the worker was restarted, in words. */
  reason: string;
  /** `stopped`: it kept stopping and was not restarted again; a backend choice starts it anew. */
  status: 'restoring' | 'restored' | 'failed' | 'stopped';
  /** What was restored, or what could not be. */
  detail: string;
}

/** Whether the session (files, data, plan, history, snapshots, results) is saved in the browser. */
export interface PersistenceState {
  status: 'off' | 'saving' | 'saved' | 'error';
  message: string | null;
}

export interface LopperState {
  backend: BackendState | null;
  backendPending: BackendName | null;
  model: ModelSummary | null;
  data: DataSummary | null;
  evaluation: Evaluation | null;
  /** Dense evaluation of the open model on the current data. */
  denseEvaluation: Evaluation | null;
  plan: PlanState;
  selectedLayer: string | null;
  /** The selected layer's weight statistics, and those of the last measured plan's kernels where it changes them. */
  layerStats: { layer: string; units: string[]; stats: WeightStats; pruned?: WeightStats } | null;
  jobs: JobState[];
  /** Work scheduled but not yet shown (debounces included). */
  pendingWork: number;
  error: UserError | null;
  notice: string | null;
  workerTensors: number;
  demoName: string | null;
  sweep: SweepState;
  removal: RemovalState;
  /** The last measured result of the plan (allocation, achieved sparsity, evaluation, sizes). */
  planResult: PlanResult | null;
  history: { past: PruningPlan[]; future: PruningPlan[] };
  snapshots: Snapshot[];
  exporting: ExportState;
  /** The base model of a delta-pruning pair, and the last DAREx-q search. */
  delta: { base: BaseModelInfo | null; p: number; q: number; search: { q: number; value: number; curve: { q: number; value: number }[] } | null };
  /** OWL's λ and M, ECoFLaP's ε. */
  allocationOptions: { lambda: number; outlierThreshold: number; epsilon: number };
  recovery: RecoveryState | null;
  persistence: PersistenceState;
}

export const emptyPlan = (): PlanState => densePlan([], '');

/** The state of a page that has just loaded; tests reset the store to it between cases. */
export const initialState = (): LopperState => ({
  backend: null,
  backendPending: null,
  model: null,
  data: null,
  evaluation: null,
  denseEvaluation: null,
  plan: emptyPlan(),
  selectedLayer: null,
  layerStats: null,
  jobs: [],
  pendingWork: 0,
  error: null,
  notice: null,
  workerTensors: 0,
  demoName: null,
  sweep: { status: 'idle', config: defaultSweepConfig(), report: null, done: 0, total: 0, startedAt: 0, curves: [] },
  removal: idleRemoval(),
  planResult: null,
  history: { past: [], future: [] },
  snapshots: [],
  exporting: { float16: false, status: 'idle', result: null },
  allocationOptions: { lambda: 0.08, outlierThreshold: 5, epsilon: 1e-3 },
  delta: { base: null, p: 0.5, q: 0.5, search: null },
  recovery: null,
  persistence: { status: 'off', message: null },
});

export const useLopper = create<LopperState>()(initialState);

export const selectBusy = (s: LopperState): boolean => s.pendingWork > 0 || s.jobs.length > 0;
