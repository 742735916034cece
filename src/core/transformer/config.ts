/**
 * Hugging Face `config.json` of a decoder-only transformer, normalised to what the tfjs
 * forward pass needs. GPT-2 and the LLaMA family (llama, qwen2, mistral) are supported.
 */

export type TransformerFamily = 'gpt2' | 'llama';
export type MlpActivation = 'gelu_new' | 'gelu' | 'relu' | 'silu';

export interface TransformerConfig {
  /** `model_type` as written in config.json. */
  modelType: string;
  family: TransformerFamily;
  vocabSize: number;
  hiddenSize: number;
  layers: number;
  heads: number;
  /** Key/value heads (grouped-query attention); equals `heads` for GPT-2. */
  kvHeads: number;
  headDim: number;
  intermediateSize: number;
  /** Longest sequence the model takes: n_positions / max_position_embeddings. */
  contextLength: number;
  /** LayerNorm (GPT-2) or RMSNorm (LLaMA) epsilon. */
  normEps: number;
  activation: MlpActivation;
  /** RoPE base (LLaMA family). */
  ropeTheta: number;
  tieWordEmbeddings: boolean;
  /** Biases on q/k/v projections (Qwen2, `attention_bias`); GPT-2 always has them. */
  qkvBias: boolean;
  /** Bias on the attention output projection (GPT-2, LLaMA `attention_bias`). */
  outputBias: boolean;
  /** Biases on the MLP projections (GPT-2, LLaMA `mlp_bias`). */
  mlpBias: boolean;
  /** Attention sees only this many most recent positions (Mistral, Qwen2 with `use_sliding_window`). */
  slidingWindow?: number;
  bosTokenId?: number;
  eosTokenId?: number;
}

export const SUPPORTED_MODEL_TYPES: Readonly<Record<string, TransformerFamily>> = {
  gpt2: 'gpt2',
  llama: 'llama',
  qwen2: 'llama',
  mistral: 'llama',
};

/** config.json lacks a field, or a field has a value Lopper cannot run. */
export class TransformerConfigError extends Error {
  override name = 'TransformerConfigError';
  constructor(
    readonly field: string,
    readonly problem: string,
    readonly expected?: string,
    readonly actual?: string,
  ) {
    super(`field "${field}" ${problem}`);
  }
}

type Json = Record<string, unknown>;

function show(value: unknown): string {
  return value === undefined ? 'nothing' : JSON.stringify(value);
}

function positiveInt(json: Json, field: string, fallback?: number): number {
  const value = json[field] ?? fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new TransformerConfigError(field, value === undefined ? 'is missing' : 'is not a positive integer', 'a positive integer', show(value));
  }
  return value;
}

function positiveNumber(json: Json, field: string, fallback: number): number {
  const value = json[field] ?? fallback;
  if (typeof value !== 'number' || !(value > 0)) {
    throw new TransformerConfigError(field, 'is not a positive number', 'a positive number', show(value));
  }
  return value;
}

function flag(json: Json, field: string, fallback: boolean): boolean {
  const value = json[field] ?? fallback;
  if (typeof value !== 'boolean') throw new TransformerConfigError(field, 'is not true or false', 'true or false', show(value));
  return value;
}

function tokenId(json: Json, field: string): number | undefined {
  const value = json[field];
  const id = Array.isArray(value) ? value[0] : value;
  return typeof id === 'number' && Number.isInteger(id) ? id : undefined;
}

function requireAbsent(json: Json, field: string, why: string): void {
  const value = json[field];
  if (value !== undefined && value !== null && value !== false) {
    throw new TransformerConfigError(field, `is set, but ${why}`, 'null or absent', show(value));
  }
}

function divides(field: string, whole: number, part: number, wholeName: string): void {
  if (whole % part !== 0) {
    throw new TransformerConfigError(field, `(${part}) does not divide ${wholeName} (${whole})`, `a divisor of ${whole}`, String(part));
  }
}

function gpt2Config(json: Json): TransformerConfig {
  const hiddenSize = positiveInt(json, 'n_embd');
  const heads = positiveInt(json, 'n_head');
  divides('n_head', hiddenSize, heads, 'n_embd');
  const activation = json['activation_function'] ?? 'gelu_new';
  const activations: Record<string, MlpActivation> = { gelu_new: 'gelu_new', gelu_pytorch_tanh: 'gelu_new', gelu: 'gelu', relu: 'relu' };
  if (typeof activation !== 'string' || activations[activation] === undefined) {
    throw new TransformerConfigError('activation_function', 'names an activation Lopper does not implement', Object.keys(activations).join(', '), show(activation));
  }
  requireAbsent(json, 'scale_attn_by_inverse_layer_idx', 'Lopper runs GPT-2 with the standard 1/√d attention scale');
  requireAbsent(json, 'add_cross_attention', 'Lopper runs decoder-only models');
  if (json['scale_attn_weights'] === false) {
    throw new TransformerConfigError('scale_attn_weights', 'is false, but Lopper runs GPT-2 with the standard 1/√d attention scale', 'true', 'false');
  }
  const inner = json['n_inner'];
  return {
    modelType: 'gpt2',
    family: 'gpt2',
    vocabSize: positiveInt(json, 'vocab_size'),
    hiddenSize,
    layers: positiveInt(json, 'n_layer'),
    heads,
    kvHeads: heads,
    headDim: hiddenSize / heads,
    intermediateSize: inner === null || inner === undefined ? 4 * hiddenSize : positiveInt(json, 'n_inner'),
    contextLength: positiveInt(json, 'n_positions'),
    normEps: positiveNumber(json, 'layer_norm_epsilon', 1e-5),
    activation: activations[activation],
    ropeTheta: 0,
    tieWordEmbeddings: flag(json, 'tie_word_embeddings', true),
    qkvBias: true,
    outputBias: true,
    mlpBias: true,
    ...ids(json),
  };
}

function ids(json: Json): Pick<TransformerConfig, 'bosTokenId' | 'eosTokenId'> {
  const out: Pick<TransformerConfig, 'bosTokenId' | 'eosTokenId'> = {};
  const bos = tokenId(json, 'bos_token_id');
  const eos = tokenId(json, 'eos_token_id');
  if (bos !== undefined) out.bosTokenId = bos;
  if (eos !== undefined) out.eosTokenId = eos;
  return out;
}

function llamaConfig(json: Json, modelType: string): TransformerConfig {
  const hiddenSize = positiveInt(json, 'hidden_size');
  const heads = positiveInt(json, 'num_attention_heads');
  const kvHeads = positiveInt(json, 'num_key_value_heads', heads);
  divides('num_key_value_heads', heads, kvHeads, 'num_attention_heads');
  if (json['head_dim'] === undefined || json['head_dim'] === null) divides('num_attention_heads', hiddenSize, heads, 'hidden_size');
  const headDim = json['head_dim'] === undefined || json['head_dim'] === null ? hiddenSize / heads : positiveInt(json, 'head_dim');
  if (headDim % 2 !== 0) throw new TransformerConfigError('head_dim', 'is odd, but rotary embeddings need an even head size', 'an even number', String(headDim));
  const activation = json['hidden_act'] ?? 'silu';
  if (activation !== 'silu') throw new TransformerConfigError('hidden_act', 'is not silu', '"silu"', show(activation));
  requireAbsent(json, 'rope_scaling', 'Lopper implements plain RoPE only');
  const attentionBias = flag(json, 'attention_bias', false);
  const isQwen2 = modelType === 'qwen2';
  const window = json['sliding_window'];
  const config: TransformerConfig = {
    modelType,
    family: 'llama',
    vocabSize: positiveInt(json, 'vocab_size'),
    hiddenSize,
    layers: positiveInt(json, 'num_hidden_layers'),
    heads,
    kvHeads,
    headDim,
    intermediateSize: positiveInt(json, 'intermediate_size'),
    contextLength: positiveInt(json, 'max_position_embeddings'),
    normEps: positiveNumber(json, 'rms_norm_eps', 1e-6),
    activation: 'silu',
    ropeTheta: positiveNumber(json, 'rope_theta', 10000),
    tieWordEmbeddings: flag(json, 'tie_word_embeddings', false),
    qkvBias: isQwen2 || attentionBias,
    outputBias: !isQwen2 && attentionBias,
    mlpBias: !isQwen2 && flag(json, 'mlp_bias', false),
    ...ids(json),
  };
  if (window !== null && window !== undefined && windowedLayers(json, modelType, config.layers)) {
    config.slidingWindow = positiveInt(json, 'sliding_window');
  }
  return config;
}

/**
 * Whether attention is windowed: always for Mistral; for Qwen2 with `use_sliding_window`, the
 * layers from `max_window_layers` on are — all or none of them are supported.
 */
function windowedLayers(json: Json, modelType: string, layers: number): boolean {
  if (modelType === 'mistral') return true;
  if (modelType !== 'qwen2' || json['use_sliding_window'] !== true) return false;
  const first = json['max_window_layers'] ?? 28;
  if (first === 0) return true;
  if (typeof first === 'number' && first >= layers) return false;
  throw new TransformerConfigError('max_window_layers', 'windows only some layers, a mix Lopper does not run', `0 or ≥ ${layers}`, show(first));
}

/** Validates a parsed config.json and normalises it; throws TransformerConfigError naming the field. */
export function normalizeTransformerConfig(json: unknown): TransformerConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new TransformerConfigError('(root)', 'is not a JSON object', 'a JSON object', show(json));
  }
  const record = json as Json;
  const modelType = record['model_type'];
  const family = typeof modelType === 'string' ? SUPPORTED_MODEL_TYPES[modelType] : undefined;
  if (family === undefined || typeof modelType !== 'string') {
    throw new TransformerConfigError(
      'model_type',
      modelType === undefined ? 'is missing' : 'names an architecture Lopper does not run',
      Object.keys(SUPPORTED_MODEL_TYPES).join(', '),
      show(modelType),
    );
  }
  return family === 'gpt2' ? gpt2Config(record) : llamaConfig(record, modelType);
}
