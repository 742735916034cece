import { HF_TRANSFORMER_CAPABILITIES } from '../../core/pipeline/capabilities';
import { syntheticTokens, tokenCalibrationWindows, type PipelineData, type TokenShape } from '../../core/pipeline/data';
import { readKernel } from '../../core/model/kernels';
import { unitZeroCountsAsync } from '../../core/model/inspect';
import { blockInfluence, FINERCUT_SAMPLES, transformerTarget } from '../../core/removal';
import { runTransformerSweep, type TransformerSweepMetric } from '../../core/sweep/transformer-sweep';
import { createTokenizer, type Tokenizer } from '../../core/tokenizer';
import { TransformerModel } from '../../core/transformer/model';
import { blockNames, parameterSpecs, projectionSpecs } from '../../core/transformer/parameters';
import { perplexity } from '../../core/transformer/perplexity';
import type { LayerInfo, UnitInfo } from '../../core/types';
import { LopperInputError } from '../../io/errors';
import { writeHfTransformer, type WeightValues } from '../../io/export';
import { sha256Hex } from '../../io/hash';
import { tokenizeText } from '../../io/text';
import type { InputFile, OpenedModel, TransformerPayload } from '../../io/types';
import { tokenDataOf } from '../data';
import type { KindDescription, KindModel, ModelKind } from '../kind';
import { transformerParamsLeft } from './params';
import { TransformerPrunable } from './prunable';

/** A projection as a row of the layer table (its zeros aside). */
function linearLayer(unit: Pick<UnitInfo, 'name' | 'shape' | 'size'>): Omit<LayerInfo, 'sparsity'> {
  const [inputs, outputs] = unit.shape;
  return { name: unit.name, type: 'Linear', outputShape: [null, null, outputs], params: unit.size, flops: 2 * inputs * outputs, prunable: true };
}

/** The layer table and totals of a transformer as `describe` gives them, less the zeros of its kernels. */
export interface TransformerOutline {
  totalParams: number;
  totalFlops: number;
  layers: Omit<LayerInfo, 'sparsity'>[];
  units: string[];
  removalCandidates: string[];
  contextLength: number;
}

/**
 * A transformer's outline from its config alone (the shapes the weights were checked against when
 * it was opened): no weight is read or uploaded. What a built model's summary gives but its zeros.
 */
export function transformerOutline(payload: TransformerPayload): TransformerOutline {
  const { config } = payload;
  const units = projectionSpecs(config).map((spec) => ({ name: spec.unit, shape: [spec.inputs, spec.outputs], size: spec.inputs * spec.outputs }));
  const layers = units.map(linearLayer);
  const removalCandidates: string[] = [];
  for (let block = 0; block < config.layers; block++) {
    const { attention, mlp } = blockNames(config, block);
    removalCandidates.push(attention, mlp);
  }
  return {
    totalParams: parameterSpecs(config).reduce((sum, spec) => sum + spec.shape.reduce((a, b) => a * b, 1), 0),
    totalFlops: layers.reduce((n, l) => n + l.flops, 0),
    layers,
    units: units.map((unit) => unit.name),
    removalCandidates,
    contextLength: config.contextLength,
  };
}

/** A Hugging Face decoder-only transformer (config.json + safetensors, optional tokenizer). */
class TransformerKindModel implements KindModel {
  readonly key = 'hf-transformer' as const;
  readonly capabilities = HF_TRANSFORMER_CAPABILITIES;
  readonly syntheticDefault = FINERCUT_SAMPLES;
  readonly prunable: TransformerPrunable;
  readonly tokens: TokenShape;
  private readonly tokenizer: Tokenizer | null;

  constructor(
    readonly opened: OpenedModel,
    private readonly payload: TransformerPayload,
    readonly model: TransformerModel,
  ) {
    this.prunable = new TransformerPrunable(model, opened.name);
    const { hiddenSize, intermediateSize, heads } = payload.config;
    this.tokens = { contextLength: model.contextLength, vocabSize: payload.config.vocabSize, width: { hiddenSize, intermediateSize, heads } };
    this.tokenizer = payload.tokenizer ? createTokenizer(payload.tokenizer.json) : null;
  }

  async describe(): Promise<KindDescription> {
    const zeros = await unitZeroCountsAsync(this.model);
    const layers: LayerInfo[] = this.model.units().map((unit) => ({ ...linearLayer(unit), sparsity: (zeros.get(unit.name) ?? 0) / unit.size }));
    const prunableParams = layers.reduce((n, l) => n + l.params, 0);
    const zeroCount = layers.reduce((n, l) => n + l.sparsity * l.params, 0);
    return {
      inputShape: [null, null],
      outputShape: [null, null, this.payload.config.vocabSize],
      totalParams: this.model.parameterCount(),
      totalFlops: layers.reduce((n, l) => n + l.flops, 0),
      prunableParams,
      sparsity: prunableParams === 0 ? 0 : zeroCount / prunableParams,
      layers,
      ...(this.tokenizer && { tokenizer: this.tokenizer.kind }),
      contextLength: this.model.contextLength,
    };
  }

  async readData(file: InputFile): Promise<PipelineData> {
    if (!/\.txt$/i.test(file.path)) {
      throw new LopperInputError({ file: file.path, message: 'is not text for a language model', expected: 'a .txt file', actual: file.path.split('.').pop() ?? 'no extension' });
    }
    if (!this.tokenizer) {
      throw new LopperInputError({
        file: file.path,
        message: 'cannot be tokenized: the model came without a tokenizer',
        expected: 'tokenizer.json or char-tokenizer.json beside config.json',
      });
    }
    const bytes = await file.bytes();
    const ids = tokenizeText(file.path, bytes, this.tokenizer);
    return { kind: 'tokens', source: file.path, hash: await sha256Hex(bytes), ids, synthetic: false };
  }

  checkData(data: PipelineData): void {
    const { ids } = tokenDataOf(data, this.opened.name);
    const vocab = this.tokens.vocabSize;
    const outside = ids.findIndex((id) => id < 0 || id >= vocab);
    if (outside >= 0) throw new Error(`${data.source}: token id ${ids[outside]} at position ${outside} is outside the vocabulary of ${this.opened.name} (${vocab} tokens)`);
  }

  syntheticData(samples: number, seed: number): PipelineData {
    return syntheticTokens(this.tokens, samples, seed);
  }

  perplexity(ids: Int32Array, options: Parameters<NonNullable<KindModel['perplexity']>>[1]) {
    const { kernels, bypass, ...rest } = options;
    return perplexity(this.model, ids, { ...rest, forward: { kernels, bypass } });
  }

  sweep(data: PipelineData, options: Parameters<KindModel['sweep']>[1]) {
    const tokens = tokenDataOf(data, this.opened.name);
    const metric = options.metric as TransformerSweepMetric;
    return runTransformerSweep(this.model, tokens.ids, { ...options, metric });
  }

  removalTarget(data: PipelineData) {
    return { target: transformerTarget(this.model, this.windows(data)) };
  }

  blockInfluence(data: PipelineData) {
    return blockInfluence(this.model, this.windows(data));
  }

  async layerDetail(layer: string): Promise<{ units: string[]; values: Float32Array }> {
    return { units: [layer], values: await readKernel(this.model, layer) };
  }

  /** A removed sublayer computes none of its parameters: its projections, their biases and the norm in front of it. */
  paramsLeft(removed: readonly string[], totalParams: number): number {
    return transformerParamsLeft(
      removed,
      totalParams,
      [...this.payload.tensors].map(([name, tensor]) => [name, tensor.shape.reduce((a, b) => a * b, 1)] as const),
    );
  }

  async weightValues(): Promise<Map<string, WeightValues>> {
    const parameters = await this.model.exportParameters();
    return new Map([...parameters].map(([name, tensor]) => [name, { shape: [...tensor.shape], values: tensor.values }]));
  }

  async write(options: Parameters<KindModel['write']>[0]) {
    const { files } = await writeHfTransformer(this.opened, this.model, {
      removed: options.removed,
      float16: options.float16,
      configJson: this.payload.configJson,
      ...(options.recipe && { recipe: options.recipe }),
    });
    return files;
  }

  dispose(): void {
    this.model.dispose();
  }

  private windows(data: PipelineData): number[][] {
    return tokenCalibrationWindows(tokenDataOf(data, this.opened.name), this.tokens);
  }
}

export const HF_TRANSFORMER_KIND: ModelKind = {
  key: 'hf-transformer',
  capabilities: HF_TRANSFORMER_CAPABILITIES,
  open: async (opened) => {
    const payload = opened.transformer;
    if (payload === undefined) throw new Error(`${opened.name} holds no transformer weights`);
    return new TransformerKindModel(opened, payload, new TransformerModel(payload.config, payload.tensors));
  },
};
