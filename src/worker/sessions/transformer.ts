import * as tf from '@tensorflow/tfjs';
import { HF_TRANSFORMER_CAPABILITIES } from '../../core/pipeline/capabilities';
import { mulberry32 } from '../../core/data/synthetic';
import { weightStats } from '../../core/model/stats';
import { blockInfluence, calibrationWindows, greedyRemoval, transformerTarget } from '../../core/removal';
import { createTokenizer, type Tokenizer } from '../../core/tokenizer';
import { TransformerModel } from '../../core/transformer/model';
import { jsFromLogits } from '../../core/transformer/output-change';
import { perplexity } from '../../core/transformer/perplexity';
import type { Evaluation, LayerInfo } from '../../core/types';
import { LopperInputError } from '../../io/errors';
import { sha256Hex } from '../../io/hash';
import { tokenizeText } from '../../io/text';
import type { InputFile, OpenedModel, TransformerPayload } from '../../io/types';
import type { GroupPreview } from '../../core/structure';
import { runTransformerSweep } from '../../core/sweep/transformer-sweep';
import { evaluateTransformerPlan, exportTransformerPlan, type TransformerPlanContext } from './transformer-plan';
import type {
  BaseModelInfo,
  DataSummary,
  ExportRequest,
  ExportResult,
  LayerDetail,
  ModelSummary,
  PlanRequest,
  PlanResult,
  SweepConfig,
  RemovalConfig,
  RemovalReport,
  RemovedEvaluation,
  SweepReport,
} from '../protocol';
import { SYNTHETIC_SAMPLES, throwIfCancelled, sweepOptions, sweepReport, type JobContext, type Session, type SessionData, type TokenData } from './session';
import { unitZeroCountsAsync } from '../../core/model/inspect';
import { readKernel } from '../../core/model/kernels';
import type { CalibrationStats } from '../../core/criteria/types';

/** Tokens for one synthetic sample: a context window's worth, capped so data-free mode stays quick. */
const SYNTHETIC_WINDOW = 64;

async function unitRows(model: TransformerModel): Promise<LayerInfo[]> {
  const zeros = await unitZeroCountsAsync(model);
  return model.units().map((unit) => {
    const [inputs, outputs] = unit.shape;
    return {
      name: unit.name,
      type: 'Linear',
      outputShape: [null, null, outputs],
      params: unit.size,
      flops: 2 * inputs * outputs,
      prunable: true,
      sparsity: (zeros.get(unit.name) ?? 0) / unit.size,
    };
  });
}

function syntheticTokens(vocabSize: number, samples: number, window: number, seed: number): TokenData {
  const random = mulberry32(seed);
  const ids = Int32Array.from({ length: samples * window }, () => Math.floor(random() * vocabSize));
  return { source: 'synthetic', hash: `synthetic:${seed}:${samples}`, ids, synthetic: true };
}

/** A Hugging Face decoder-only transformer with a text (or random token ids) to evaluate on. */
export class TransformerSession implements Session {
  private tokens: TokenData;
  private denseLogits: Float32Array | null = null;
  private dense: { hash: string; evaluation: Evaluation } | null = null;
  private readonly statsCache = new Map<string, Map<string, CalibrationStats>>();

  private constructor(
    readonly opened: OpenedModel,
    readonly model: TransformerModel,
    readonly tokenizer: Tokenizer | null,
    readonly summary: ModelSummary,
    tokens: TokenData | null,
  ) {
    this.tokens = tokens ?? syntheticTokens(model.config.vocabSize, SYNTHETIC_SAMPLES, Math.min(SYNTHETIC_WINDOW, model.contextLength), 0);
  }

  static async create(opened: OpenedModel, payload: TransformerPayload, data?: SessionData): Promise<TransformerSession> {
    const tokenizer = payload.tokenizer ? createTokenizer(payload.tokenizer.json) : null;
    const model = new TransformerModel(payload.config, payload.tensors);
    try {
      const layers = await unitRows(model);
      const prunableParams = layers.reduce((n, l) => n + l.params, 0);
      const zeros = layers.reduce((n, l) => n + l.sparsity * l.params, 0);
      const summary: ModelSummary = {
        format: opened.format,
        name: opened.name,
        sha256: opened.sha256,
        inputShape: [null, null],
        outputShape: [null, null, payload.config.vocabSize],
        totalParams: model.parameterCount(),
        totalFlops: layers.reduce((n, l) => n + l.flops, 0),
        prunableParams,
        sparsity: prunableParams === 0 ? 0 : zeros / prunableParams,
        layers,
        units: model.units().map((u) => u.name),
        capabilities: HF_TRANSFORMER_CAPABILITIES,
        removalCandidates: model.removalCandidates(),
        tokenizer: tokenizer?.kind,
        contextLength: model.contextLength,
      };
      return new TransformerSession(opened, model, tokenizer, summary, data?.kind === 'tokens' ? data.tokens : null);
    } catch (error) {
      model.dispose();
      throw error;
    }
  }

  get data(): SessionData {
    return { kind: 'tokens', tokens: this.tokens };
  }

  dataSummary(): DataSummary {
    const t = this.tokens;
    return { source: t.source, hash: t.hash, samples: t.ids.length, shape: [t.ids.length], labelled: !t.synthetic, synthetic: t.synthetic };
  }

  async loadData(file: InputFile): Promise<void> {
    if (!/\.txt$/i.test(file.path)) {
      throw new LopperInputError({ file: file.path, message: 'is not text for a language model', expected: 'a .txt file', actual: file.path.split('.').pop() ?? 'no extension' });
    }
    if (!this.tokenizer) {
      throw new LopperInputError({ file: file.path, message: 'cannot be tokenized: the model came without a tokenizer', expected: 'tokenizer.json beside config.json' });
    }
    const bytes = await file.bytes();
    const ids = tokenizeText(file.path, bytes, this.tokenizer);
    this.tokens = { source: file.path, hash: await sha256Hex(bytes), ids, synthetic: false };
    this.denseLogits = null;
  }

  useSynthetic(samples: number, seed: number): void {
    this.tokens = syntheticTokens(this.model.config.vocabSize, samples, Math.min(SYNTHETIC_WINDOW, this.model.contextLength), seed);
    this.denseLogits = null;
  }

  async evaluate(job: JobContext): Promise<Evaluation> {
    const latencyMs = await this.latency();
    if (this.tokens.synthetic) {
      if (!this.denseLogits) this.denseLogits = await this.logits(this.tokens.ids.subarray(0, Math.min(this.tokens.ids.length, this.model.contextLength)));
      return { divergence: 0, samples: this.tokens.ids.length, latencyMs, batchSize: 1 };
    }
    const result = await perplexity(this.model, this.tokens.ids, {
      onProgress: (done, total) => job.progress('Perplexity', done, total),
      shouldStop: () => job.cancelled(),
    });
    throwIfCancelled(job);
    return { perplexity: result.perplexity, loss: result.nll, samples: result.tokens, latencyMs, batchSize: 1 };
  }

  async layerDetail(layer: string): Promise<LayerDetail> {
    return { layer, units: [layer], stats: weightStats(await readKernel(this.model, layer)) };
  }

  /** Logits of the first tokens of the data, flattened: `samples` positions × vocabulary. */
  async predict(samples: number): Promise<{ outputs: Float32Array; shape: number[] }> {
    const n = Math.min(samples, this.tokens.ids.length, this.model.contextLength);
    const outputs = await this.logits(this.tokens.ids.subarray(0, n));
    return { outputs, shape: [n, this.model.config.vocabSize] };
  }

  /** Each projection pruned alone at each level; loss (text) or divergence (data-free) on calibration windows. */
  async sweep(config: SweepConfig, job: JobContext): Promise<SweepReport> {
    const started = performance.now();
    const metric = config.metric === 'accuracy' ? 'loss' : config.metric;
    const result = await runTransformerSweep(this.model, this.tokens.ids, { ...sweepOptions(config, job), metric });
    return sweepReport(result, this.tokens.hash, started);
  }

  /** FinerCut on calibration windows of the current tokens, with ShortGPT's block influence beside it. */
  async removal(config: RemovalConfig, job: JobContext): Promise<RemovalReport> {
    const started = performance.now();
    const windows = calibrationWindows(this.tokens.ids, this.model.contextLength);
    const result = await greedyRemoval(transformerTarget(this.model, windows), {
      metric: config.metric,
      steps: config.steps,
      onScore: (score) => job.progress('Removing', score.done, score.total, { score: { step: score.step, candidate: score.candidate, value: score.value } }),
      shouldStop: () => job.cancelled(),
    });
    const influence = result.cancelled ? [] : await blockInfluence(this.model, windows);
    return { ...result, blockInfluence: influence, dataHash: this.tokens.hash, seconds: (performance.now() - started) / 1000 };
  }

  /** Perplexity (or divergence on synthetic ids) with the sublayers removed, and the parameters left. */
  async evaluateRemoved(removed: string[], job: JobContext): Promise<RemovedEvaluation> {
    const bypass = new Set(removed);
    const removedParams = this.summary.layers.filter((l) => removed.some((c) => l.name.startsWith(`${c}.`))).reduce((n, l) => n + l.params, 0);
    const params = this.summary.totalParams - removedParams;
    if (this.tokens.synthetic) {
      const ids = this.tokens.ids.subarray(0, Math.min(this.tokens.ids.length, this.model.contextLength));
      if (!this.denseLogits) this.denseLogits = await this.logits(ids);
      const dense = this.denseLogits;
      const divergence = tf.tidy(() => {
        const pruned = this.model.forward(tf.tensor2d(ids, [1, ids.length], 'int32'), { bypass });
        return jsFromLogits(tf.tensor3d(dense, pruned.shape as [number, number, number]), pruned);
      });
      const value = (await divergence.data())[0];
      divergence.dispose();
      return { evaluation: { divergence: value, samples: ids.length }, params };
    }
    const result = await perplexity(this.model, this.tokens.ids, {
      forward: { bypass },
      onProgress: (done, total) => job.progress('Perplexity', done, total),
      shouldStop: () => job.cancelled(),
    });
    throwIfCancelled(job);
    return { evaluation: { perplexity: result.perplexity, loss: result.nll, samples: result.tokens }, params };
  }

  channelGroups(): GroupPreview[] {
    return [];
  }

  loadBase(): Promise<BaseModelInfo> {
    return Promise.reject(new Error('Delta pruning of transformers runs on the command line (`lopper prune --base … --dare …`)'));
  }

  searchRescale(): Promise<{ q: number; value: number; curve: { q: number; value: number }[] }> {
    return this.loadBase().then(() => ({ q: 1, value: 0, curve: [] }));
  }

  evaluatePlan(request: PlanRequest, job: JobContext): Promise<PlanResult> {
    return evaluateTransformerPlan(this.planContext(), request, job);
  }

  exportModel(request: ExportRequest, job: JobContext): Promise<ExportResult> {
    return exportTransformerPlan(this.planContext(), request, job);
  }

  private planContext(): TransformerPlanContext {
    return {
      model: this.model,
      opened: this.opened,
      tokens: this.tokens,
      totalParams: this.summary.totalParams,
      statsCache: this.statsCache,
      denseEvaluation: async (job) => {
        if (this.dense?.hash !== this.tokens.hash) this.dense = { hash: this.tokens.hash, evaluation: await this.evaluate(job) };
        return this.dense.evaluation;
      },
      evaluateOpened: async (opened, job) => {
        if (!opened.transformer) throw new Error(`${opened.name} is not a transformer`);
        const other = await TransformerSession.create(opened, opened.transformer, this.data);
        try {
          return await other.evaluate(job);
        } finally {
          other.dispose();
        }
      },
    };
  }

  dispose(): void {
    this.model.dispose();
  }

  private async logits(ids: Int32Array): Promise<Float32Array> {
    const out = tf.tidy(() => this.model.forward(tf.tensor2d(ids, [1, ids.length], 'int32')));
    try {
      return (await out.data()) as Float32Array;
    } finally {
      out.dispose();
    }
  }

  /** Milliseconds for one forward pass of one context window (median of 3 after a warm-up). */
  private async latency(): Promise<number> {
    const ids = this.tokens.ids.subarray(0, Math.min(this.tokens.ids.length, this.model.contextLength));
    const times: number[] = [];
    for (let i = 0; i < 4; i++) {
      const start = performance.now();
      await this.logits(ids);
      if (i > 0) times.push(performance.now() - start);
    }
    times.sort((a, b) => a - b);
    return times[1];
  }
}
