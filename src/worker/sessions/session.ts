import * as tf from '@tensorflow/tfjs';
import type { SensitivityCurves } from '../../core/allocate/types';
import type { GroupPreview } from '../../core/structure';
import type { SweepCell as EngineCell, SweepResult } from '../../core/sweep/engine';
import type { Evaluation } from '../../core/types';
import type { Dataset, InputFile, OpenedModel } from '../../io/types';
import { nonFiniteInputWarnings } from '../../io/warnings';
import {
  CancelledError,
  type BaseModelInfo,
  type DataSummary,
  type LayerDetail,
  type ModelSummary,
  type ExportRequest,
  type ExportResult,
  type PlanRequest,
  type PlanResult,
  type RemovalConfig,
  type RemovalReport,
  type RemovalScoreEvent,
  type RemovedEvaluation,
  type SweepCell,
  type SweepConfig,
  type SweepReport,
} from '../protocol';

/** What a running job may do: report progress and learn that it was cancelled. */
export interface JobContext {
  progress(label: string, done: number, total: number, event?: { cell?: SweepCell; score?: RemovalScoreEvent }): void;
  cancelled(): boolean;
}

export function throwIfCancelled(job: JobContext): void {
  if (job.cancelled()) throw new CancelledError();
}

/** Token ids of a text for a language model, or synthetic ones. */
export interface TokenData {
  source: string;
  hash: string;
  ids: Int32Array;
  synthetic: boolean;
}

export type SessionData = { kind: 'dataset'; dataset: Dataset } | { kind: 'tokens'; tokens: TokenData };

export const SYNTHETIC_SAMPLES = 32;

/**
 * One open model with its data, on the active backend. Owns every tensor it makes; everything it
 * returns is plain data.
 */
export interface Session {
  readonly opened: OpenedModel;
  readonly summary: ModelSummary;
  readonly data: SessionData;
  dataSummary(): DataSummary;
  /** Checks that a dropped data file fits the model and makes it the current data. */
  loadData(file: InputFile): Promise<void>;
  useSynthetic(samples: number, seed: number): void;
  evaluate(job: JobContext): Promise<Evaluation>;
  layerDetail(layer: string): Promise<LayerDetail>;
  predict(samples: number): Promise<{ outputs: Float32Array; shape: number[] }>;
  sweep(config: SweepConfig, job: JobContext): Promise<SweepReport>;
  removal(config: RemovalConfig, job: JobContext): Promise<RemovalReport>;
  evaluateRemoved(removed: string[], job: JobContext): Promise<RemovedEvaluation>;
  evaluatePlan(request: PlanRequest, job: JobContext): Promise<PlanResult>;
  loadBase(opened: OpenedModel): Promise<BaseModelInfo>;
  searchRescale(p: number, seed: number, job: JobContext): Promise<{ q: number; value: number; curve: { q: number; value: number }[] }>;
  /** Channel dependency groups, shown before a channels plan is applied. */
  channelGroups(): GroupPreview[];
  exportModel(request: ExportRequest, job: JobContext): Promise<ExportResult>;
  dispose(): void;
}

export function concatFloat32(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** What every sweep engine takes from the page's request: the grid, the criterion, cells streamed as progress, cancel. */
export function sweepOptions(config: SweepConfig, job: JobContext) {
  return {
    criterion: config.criterion,
    granularity: config.granularity,
    sparsities: config.sparsities,
    seed: config.seed,
    onCell: (cell: EngineCell) => job.progress('Sweeping', cell.index + 1, cell.total, { cell: { unit: cell.unit, sparsity: cell.sparsity, value: cell.value } }),
    shouldStop: () => job.cancelled(),
  };
}

/** An engine's result as the page's report (`lopper sweep`'s schema): NaN becomes null; data hash, backend and time added. */
export function sweepReport(result: SweepResult, dataHash: string, startedMs: number): SweepReport {
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

/** The class count a classifier's output shape names (its last dimension), if fixed. */
export function classCount(outputShape: readonly (number | null)[]): number | undefined {
  const last = outputShape[outputShape.length - 1];
  return typeof last === 'number' ? last : undefined;
}

/** A dataset as the page shows it, with its NaN/±Infinity inputs warned about. */
export function datasetSummary(d: Dataset): DataSummary {
  const warnings = nonFiniteInputWarnings(d.source, d.inputs);
  return {
    source: d.source,
    hash: d.hash,
    samples: d.shape[0],
    shape: d.shape,
    labelled: d.labels !== undefined,
    synthetic: d.source === 'synthetic',
    ...(warnings.length > 0 && { warnings }),
  };
}
