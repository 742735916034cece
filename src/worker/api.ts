import type { GroupPreview } from '../core/structure';
import type { Evaluation } from '../core/types';
import { LopperInputError } from '../io/errors';
import { openModel, splitDrop } from '../io/open';
import { nonFiniteWeightWarnings } from '../io/warnings';
import type { InputFile, OpenedModel } from '../io/types';
import type {
  BackendState,
  BaseModelInfo,
  DataSummary,
  ExportRequest,
  ExportResult,
  LayerDetail,
  ModelSummary,
  OpenResult,
  PlanRequest,
  PlanResult,
  RemovalConfig,
  RemovalReport,
  RemovedEvaluation,
  SweepConfig,
  SweepReport,
  TransferFile,
} from './protocol';
import type { PipelineData } from '../core/pipeline/data';
import type { KindOpenOptions } from '../kinds/kind';
import { ModelSession, throwIfCancelled, type JobContext } from '../session/session';

export type { JobContext } from '../session/session';

/** A worker's synchronous Blob reader (absent on a page's main thread and in Node). */
const SyncReader = (globalThis as { FileReaderSync?: new () => { readAsArrayBuffer(blob: Blob): ArrayBuffer } }).FileReaderSync;

/**
 * A dropped file in the worker. Inside a worker it also reads byte ranges synchronously
 * (`FileReaderSync` on a slice), so a checkpoint's tensors are read from the file when they are
 * needed rather than held as one copy of the whole file.
 */
export function blobFile(file: TransferFile): InputFile {
  const reader = SyncReader === undefined ? undefined : new SyncReader();
  const { blob, path } = file;
  return {
    path,
    size: blob.size,
    bytes: async () => new Uint8Array(await blob.arrayBuffer()),
    ...(reader && {
      readRangeSync: (begin: number, end: number): Uint8Array => {
        if (begin < 0 || end > blob.size || begin > end) throw new RangeError(`${path}: bytes ${begin}…${end} are outside the file (${blob.size} bytes)`);
        try {
          return new Uint8Array(reader.readAsArrayBuffer(blob.slice(begin, end)));
        } catch (error) {
          throw new Error(`${path}: the file could not be read again (was it changed or moved since it was dropped?): ${error instanceof Error ? error.message : String(error)}`);
        }
      },
    }),
  };
}

const isText = (file: InputFile) => /\.txt$/i.test(file.path) && !/(^|\/)merges\.txt$/i.test(file.path);

const createSession = (opened: OpenedModel, data?: PipelineData, options?: KindOpenOptions): Promise<ModelSession> => ModelSession.create(opened, data, options);

/**
 * The worker's state: one open session (model + data). A new model replaces it only once it
 * has loaded and evaluated; on any error the previous one stays.
 */
export class WorkerApi {
  private session: ModelSession | null = null;
  private backend: BackendState | null = null;

  setBackendState(state: BackendState): void {
    this.backend = state;
  }

  /** Rebuilds the open model on the now active backend (after a backend switch), keeping its data. */
  async rebuild(job: JobContext): Promise<Evaluation | null> {
    if (!this.session) return null;
    const { opened, data, openOptions } = this.session;
    this.session.dispose();
    this.session = null;
    this.session = await createSession(opened, data, openOptions);
    return this.session.evaluate(job);
  }

  async openFiles(files: InputFile[], job: JobContext): Promise<OpenResult> {
    const texts = files.filter(isText);
    const { modelFiles, datasetFiles } = await splitDrop(files.filter((f) => !isText(f)));
    job.progress('Checking files', 0, 3);
    const opened = await openModel(modelFiles);
    throwIfCancelled(job);
    job.progress('Building model', 1, 3);
    const next = await createSession(opened);
    try {
      const dataFile = datasetFiles[0] ?? texts[0];
      if (dataFile) await next.loadData(dataFile);
      job.progress('Evaluating', 2, 3);
      const evaluation = await next.evaluate(job);
      this.session?.dispose();
      this.session = next;
      const warnings = nonFiniteWeightWarnings(opened);
      return { model: warnings.length > 0 ? { ...next.summary, warnings } : next.summary, data: next.dataSummary(), evaluation, backend: this.requireBackend() };
    } catch (error) {
      next.dispose();
      throw error;
    }
  }

  /** A dataset for the open model; when its samples set the model's dynamic input dimensions, the rebuilt model's summary comes with it. */
  async openDataset(files: InputFile[], job: JobContext): Promise<{ data: DataSummary; evaluation: Evaluation; model?: ModelSummary }> {
    const session = this.requireSession();
    if (files.length !== 1) {
      throw new LopperInputError({
        file: files.map((f) => f.path).join(', ') || '(nothing)',
        message: 'drop exactly one data file',
        expected: 'one dataset .json (or .txt for a language model)',
        actual: `${files.length} files`,
      });
    }
    const [previous, previousOptions, summary] = [session.data, session.openOptions, session.summary];
    await session.loadData(files[0]);
    try {
      const evaluation = await session.evaluate(job);
      return { data: session.dataSummary(), evaluation, ...(session.summary !== summary && { model: session.summary }) };
    } catch (error) {
      this.session = await this.restoreData(session, previous, previousOptions);
      throw error;
    }
  }

  /** Rebuilds the open model with other shapes for its dynamic input dimensions and measures it again; on any error it stays as it was. */
  async setInputShapes(shapes: Record<string, number[]>, job: JobContext): Promise<{ model: ModelSummary; data: DataSummary; evaluation: Evaluation }> {
    const session = this.requireSession();
    const [previous, previousOptions] = [session.data, session.openOptions];
    await session.setInputShapes(shapes);
    try {
      const evaluation = await session.evaluate(job);
      return { model: session.summary, data: session.dataSummary(), evaluation };
    } catch (error) {
      this.session = await this.restoreData(session, previous, previousOptions);
      throw error;
    }
  }

  async useSynthetic(samples: number, seed: number, job: JobContext): Promise<{ data: DataSummary; evaluation: Evaluation }> {
    const session = this.requireSession();
    session.useSynthetic(samples, seed);
    const evaluation = await session.evaluate(job);
    return { data: session.dataSummary(), evaluation };
  }

  evaluate(job: JobContext): Promise<Evaluation> {
    return this.requireSession().evaluate(job);
  }

  layerDetail(layer: string): Promise<LayerDetail> {
    return this.requireSession().layerDetail(layer);
  }

  predictSamples(samples: number): Promise<{ outputs: Float32Array; shape: number[] }> {
    return this.requireSession().predict(samples);
  }

  sweep(config: SweepConfig, job: JobContext): Promise<SweepReport> {
    return this.requireSession().sweep(config, job);
  }

  removal(config: RemovalConfig, job: JobContext): Promise<RemovalReport> {
    return this.requireSession().removal(config, job);
  }

  evaluateRemoved(removed: string[], job: JobContext): Promise<RemovedEvaluation> {
    return this.requireSession().evaluateRemoved(removed, job);
  }

  evaluatePlan(request: PlanRequest, job: JobContext): Promise<PlanResult> {
    return this.requireSession().evaluatePlan(request, job);
  }

  async loadBase(files: InputFile[], job: JobContext): Promise<BaseModelInfo> {
    const session = this.requireSession();
    const { modelFiles } = await splitDrop(files.filter((f) => !isText(f)));
    throwIfCancelled(job);
    return session.loadBase(await openModel(modelFiles));
  }

  searchRescale(p: number, seed: number, job: JobContext): Promise<{ q: number; value: number; curve: { q: number; value: number }[] }> {
    return this.requireSession().searchRescale(p, seed, job);
  }

  channelGroups(): GroupPreview[] {
    return this.requireSession().channelGroups();
  }

  exportModel(request: ExportRequest, job: JobContext): Promise<ExportResult> {
    return this.requireSession().exportModel(request, job);
  }

  /** Frees the open model (and its base). */
  dispose(): void {
    this.session?.dispose();
    this.session = null;
  }

  /** The data a failed evaluation came with is dropped again: the session goes back to what it had. */
  private async restoreData(session: ModelSession, data: PipelineData, options: KindOpenOptions): Promise<ModelSession> {
    const restored = await createSession(session.opened, data, options);
    session.dispose();
    return restored;
  }

  private requireSession(): ModelSession {
    if (!this.session) throw new Error('No model is open');
    return this.session;
  }

  private requireBackend(): BackendState {
    if (!this.backend) throw new Error('The compute backend has not been initialised');
    return this.backend;
  }
}
