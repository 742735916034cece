import * as tf from '@tensorflow/tfjs';
import { evaluate, predict } from '../core/evaluate';
import { syntheticInputs } from '../core/data/synthetic';
import { inspectModel } from '../core/model/inspect';
import { runSweep } from '../core/sweep/engine';
import { PrunableModel } from '../core/model/runtime';
import { weightStats } from '../core/model/stats';
import type { Evaluation } from '../core/types';
import { checkDatasetFitsModel, parseDataset } from '../io/dataset';
import { LopperInputError } from '../io/errors';
import { openModel, splitDrop } from '../io/open';
import type { Dataset, InputFile, OpenedModel } from '../io/types';
import { CancelledError, type SweepCell, type SweepConfig, type SweepReport, type BackendState, type DataSummary, type LayerDetail, type ModelSummary, type OpenResult, type TransferFile } from './protocol';

/** What a running job may do: report progress and learn that it was cancelled. */
export interface JobContext {
  progress(label: string, done: number, total: number, cell?: SweepCell): void;
  cancelled(): boolean;
}

export const SYNTHETIC_SAMPLES = 32;

export function blobFile(file: TransferFile): InputFile {
  return {
    path: file.path,
    size: file.blob.size,
    bytes: async () => new Uint8Array(await file.blob.arrayBuffer()),
  };
}

interface Loaded {
  opened: OpenedModel;
  model: PrunableModel;
  summary: ModelSummary;
}

function throwIfCancelled(job: JobContext): void {
  if (job.cancelled()) throw new CancelledError();
}

/**
 * The worker's state: the open model, its data and the dense evaluation. Owns every tensor;
 * everything it returns is plain data.
 */
export class WorkerApi {
  private loaded: Loaded | null = null;
  private data: Dataset | null = null;
  private reference: Float32Array | null = null;
  private backend: BackendState | null = null;

  setBackendState(state: BackendState): void {
    this.backend = state;
  }

  /** Rebuilds the open model on the now active backend (after a backend switch). */
  async rebuild(job: JobContext): Promise<Evaluation | null> {
    if (!this.loaded) return null;
    const opened = this.loaded.opened;
    this.loaded.model.dispose();
    this.loaded = null;
    this.loaded = await this.build(opened);
    this.reference = null;
    return this.evaluate(job);
  }

  async openFiles(files: InputFile[], job: JobContext): Promise<OpenResult> {
    const { modelFiles, datasetFiles } = await splitDrop(files);
    job.progress('Checking files', 0, 3);
    const opened = await openModel(modelFiles);
    throwIfCancelled(job);
    const dataset = datasetFiles.length > 0 ? await parseDataset(datasetFiles[0]) : null;
    return this.replaceModel(opened, dataset, job);
  }

  async openDataset(files: InputFile[], job: JobContext): Promise<{ data: DataSummary; evaluation: Evaluation }> {
    const loaded = this.requireModel();
    if (files.length !== 1) {
      throw new LopperInputError({
        file: files.map((f) => f.path).join(', ') || '(nothing)',
        message: 'drop exactly one dataset file',
        expected: 'one .json dataset',
        actual: `${files.length} files`,
      });
    }
    const dataset = await parseDataset(files[0]);
    checkDatasetFitsModel(dataset, loaded.model.inputShape, classCount(loaded.model.outputShape));
    this.data = dataset;
    this.reference = null;
    const evaluation = await this.evaluate(job);
    return { data: summarizeData(dataset), evaluation };
  }

  async useSynthetic(samples: number, seed: number, job: JobContext): Promise<{ data: DataSummary; evaluation: Evaluation }> {
    const loaded = this.requireModel();
    this.data = syntheticDataset(loaded.model, samples, seed);
    this.reference = null;
    const evaluation = await this.evaluate(job);
    return { data: summarizeData(this.data), evaluation };
  }

  async evaluate(job: JobContext): Promise<Evaluation> {
    const loaded = this.requireModel();
    const data = this.requireData();
    if (!data.labels && !this.reference) {
      this.reference = await predict(loaded.model, data, { shouldStop: () => job.cancelled() });
    }
    const evaluation = await evaluate(loaded.model, data, {
      reference: data.labels ? undefined : (this.reference ?? undefined),
      onProgress: (done, total) => job.progress('Evaluating', done, total),
      shouldStop: () => job.cancelled(),
    });
    throwIfCancelled(job);
    return evaluation;
  }

  async layerDetail(layer: string): Promise<LayerDetail> {
    const loaded = this.requireModel();
    const units = loaded.model.units().filter((u) => u.layer === layer);
    const source = units.length > 0 ? units.map((u) => u.name) : [];
    const values = source.length > 0 ? await concatKernels(loaded.model, source) : await layerWeights(loaded.model, layer);
    return { layer, units: source, stats: weightStats(values) };
  }

  async predictSamples(samples: number): Promise<{ outputs: Float32Array; shape: number[] }> {
    const loaded = this.requireModel();
    const data = this.requireData();
    const n = Math.min(samples, data.shape[0]);
    const per = data.inputs.length / data.shape[0];
    const slice: Dataset = { ...data, inputs: data.inputs.subarray(0, n * per), shape: [n, ...data.shape.slice(1)], labels: data.labels?.subarray(0, n) };
    const outputs = await predict(loaded.model, slice, {});
    return { outputs, shape: [n, outputs.length / n] };
  }

  /** A sensitivity sweep over every unit; cells stream out as progress, a cancel keeps what is done. */
  async sweep(config: SweepConfig, job: JobContext): Promise<SweepReport> {
    const loaded = this.requireModel();
    const data = this.requireData();
    const started = performance.now();
    const result = await runSweep(loaded.model, data, {
      criterion: config.criterion,
      granularity: config.granularity,
      sparsities: config.sparsities,
      metric: config.metric,
      seed: config.seed,
      onCell: (cell) => job.progress('Sweeping', cell.index + 1, cell.total, { unit: cell.unit, sparsity: cell.sparsity, value: cell.value }),
      shouldStop: () => job.cancelled(),
    });
    return {
      criterion: result.criterion,
      granularity: result.granularity,
      metric: result.metric,
      sparsities: result.sparsities,
      layers: result.layers,
      values: result.values.map((row) => row.map((v) => (v === null || Number.isNaN(v) ? null : v))),
      dense: result.dense,
      dataHash: data.hash,
      backend: tf.getBackend(),
      seconds: (performance.now() - started) / 1000,
      cancelled: result.cancelled,
      skipped: result.skipped ?? [],
    };
  }

  private async replaceModel(opened: OpenedModel, dataset: Dataset | null, job: JobContext): Promise<OpenResult> {
    job.progress('Building model', 1, 3);
    const next = await this.build(opened);
    try {
      throwIfCancelled(job);
      if (dataset) checkDatasetFitsModel(dataset, next.model.inputShape, classCount(next.model.outputShape));
    } catch (error) {
      next.model.dispose();
      throw error;
    }
    const previous = { loaded: this.loaded, data: this.data, reference: this.reference };
    this.loaded = next;
    this.data = dataset ?? syntheticDataset(next.model, SYNTHETIC_SAMPLES, 0);
    this.reference = null;
    try {
      job.progress('Evaluating', 2, 3);
      const evaluation = await this.evaluate(job);
      previous.loaded?.model.dispose();
      return { model: next.summary, data: summarizeData(this.data), evaluation, backend: this.requireBackend() };
    } catch (error) {
      next.model.dispose();
      this.loaded = previous.loaded;
      this.data = previous.data;
      this.reference = previous.reference;
      throw error;
    }
  }

  private async build(opened: OpenedModel): Promise<Loaded> {
    const model = await PrunableModel.fromArtifacts(opened.artifacts);
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
    };
    return { opened, model, summary };
  }

  private requireModel(): Loaded {
    if (!this.loaded) throw new Error('No model is open');
    return this.loaded;
  }

  private requireData(): Dataset {
    if (!this.data) throw new Error('No evaluation data is loaded');
    return this.data;
  }

  private requireBackend(): BackendState {
    if (!this.backend) throw new Error('The compute backend has not been initialised');
    return this.backend;
  }
}

function classCount(outputShape: (number | null)[]): number | undefined {
  const last = outputShape[outputShape.length - 1];
  return typeof last === 'number' ? last : undefined;
}

function syntheticDataset(model: PrunableModel, samples: number, seed: number): Dataset {
  const { inputs, shape, hash } = syntheticInputs(model.inputShape, samples, seed);
  return { source: 'synthetic', inputs, shape, hash };
}

function summarizeData(data: Dataset): DataSummary {
  return {
    source: data.source,
    hash: data.hash,
    samples: data.shape[0],
    shape: data.shape,
    labelled: data.labels !== undefined,
    synthetic: data.source === 'synthetic',
  };
}

function concatFloat32(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

async function concatKernels(model: PrunableModel, units: string[]): Promise<Float32Array> {
  const parts: Float32Array[] = [];
  for (const unit of units) {
    const kernel = model.getKernel(unit);
    try {
      parts.push((await kernel.data()) as Float32Array);
    } finally {
      kernel.dispose();
    }
  }
  return concatFloat32(parts);
}

/** All weights of a layer without units (BatchNorm, biases only…). `getWeights()` returns live variables: read, never dispose. */
async function layerWeights(model: PrunableModel, layer: string): Promise<Float32Array> {
  const weights = model.layersModel.getLayer(layer).getWeights();
  return concatFloat32(await Promise.all(weights.map(async (w) => (await w.data()) as Float32Array)));
}
