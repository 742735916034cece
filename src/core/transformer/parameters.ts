import type { TransformerConfig } from './config';

/**
 * The parameters of a decoder-only transformer by their Hugging Face names (DESIGN §6 Units:
 * a unit is a projection's parameter path without `.weight`).
 */

/** A weight decoded to float32, row-major. */
export interface NamedTensor {
  shape: number[];
  values: Float32Array;
}

export interface ParameterSpec {
  name: string;
  /** Shape as stored in a Hugging Face checkpoint. */
  shape: number[];
}

/** A prunable projection: `Linear` (weight [out, in]) or GPT-2 `Conv1D` (weight [in, out]). */
export interface ProjectionSpec {
  /** Unit name, e.g. `model.layers.0.self_attn.q_proj`. */
  unit: string;
  /** The removal candidate (sublayer) it belongs to. */
  sublayer: string;
  inputs: number;
  outputs: number;
  bias: boolean;
  /** Stored as [in, out] (GPT-2 Conv1D) rather than [out, in] (Linear). */
  conv1d: boolean;
}

export interface BlockNames {
  attention: string;
  mlp: string;
}

export function blockNames(config: TransformerConfig, layer: number): BlockNames {
  return config.family === 'gpt2'
    ? { attention: `transformer.h.${layer}.attn`, mlp: `transformer.h.${layer}.mlp` }
    : { attention: `model.layers.${layer}.self_attn`, mlp: `model.layers.${layer}.mlp` };
}

/** Every projection, block by block: attention (q, k, v, o or c_attn, c_proj) then MLP. */
export function projectionSpecs(config: TransformerConfig): ProjectionSpec[] {
  const { hiddenSize: d, intermediateSize: inner } = config;
  const specs: ProjectionSpec[] = [];
  for (let i = 0; i < config.layers; i++) {
    const { attention, mlp } = blockNames(config, i);
    const add = (sublayer: string, name: string, inputs: number, outputs: number, bias: boolean): void => {
      specs.push({ unit: `${sublayer}.${name}`, sublayer, inputs, outputs, bias, conv1d: config.family === 'gpt2' });
    };
    if (config.family === 'gpt2') {
      add(attention, 'c_attn', d, 3 * d, true);
      add(attention, 'c_proj', d, d, true);
      add(mlp, 'c_fc', d, inner, true);
      add(mlp, 'c_proj', inner, d, true);
    } else {
      const qWidth = config.heads * config.headDim;
      const kvWidth = config.kvHeads * config.headDim;
      add(attention, 'q_proj', d, qWidth, config.qkvBias);
      add(attention, 'k_proj', d, kvWidth, config.qkvBias);
      add(attention, 'v_proj', d, kvWidth, config.qkvBias);
      add(attention, 'o_proj', qWidth, d, config.outputBias);
      add(mlp, 'gate_proj', d, inner, config.mlpBias);
      add(mlp, 'up_proj', d, inner, config.mlpBias);
      add(mlp, 'down_proj', inner, d, config.mlpBias);
    }
  }
  return specs;
}

/** Names of the token embedding, the norms and the LM head, with their shapes. */
function otherParameters(config: TransformerConfig): ParameterSpec[] {
  const d = config.hiddenSize;
  const specs: ParameterSpec[] = [];
  const head = config.tieWordEmbeddings ? [] : [{ name: 'lm_head.weight', shape: [config.vocabSize, d] }];
  if (config.family === 'gpt2') {
    specs.push({ name: 'transformer.wte.weight', shape: [config.vocabSize, d] });
    specs.push({ name: 'transformer.wpe.weight', shape: [config.contextLength, d] });
    for (let i = 0; i < config.layers; i++) {
      for (const norm of ['ln_1', 'ln_2']) {
        specs.push({ name: `transformer.h.${i}.${norm}.weight`, shape: [d] }, { name: `transformer.h.${i}.${norm}.bias`, shape: [d] });
      }
    }
    specs.push({ name: 'transformer.ln_f.weight', shape: [d] }, { name: 'transformer.ln_f.bias', shape: [d] });
  } else {
    specs.push({ name: 'model.embed_tokens.weight', shape: [config.vocabSize, d] });
    for (let i = 0; i < config.layers; i++) {
      specs.push({ name: `model.layers.${i}.input_layernorm.weight`, shape: [d] });
      specs.push({ name: `model.layers.${i}.post_attention_layernorm.weight`, shape: [d] });
    }
    specs.push({ name: 'model.norm.weight', shape: [d] });
  }
  return [...specs, ...head];
}

/** Every parameter the forward pass reads, with its checkpoint shape. */
export function parameterSpecs(config: TransformerConfig): ParameterSpec[] {
  const specs = otherParameters(config);
  for (const projection of projectionSpecs(config)) {
    const { unit, inputs, outputs } = projection;
    specs.push({ name: `${unit}.weight`, shape: projection.conv1d ? [inputs, outputs] : [outputs, inputs] });
    if (projection.bias) specs.push({ name: `${unit}.bias`, shape: [outputs] });
  }
  return specs;
}

/** Buffers some checkpoints store beside the parameters; never read. */
const BUFFER_SUFFIXES = ['.attn.bias', '.attn.masked_bias', '.rotary_emb.inv_freq'];

export function isBufferName(name: string): boolean {
  return BUFFER_SUFFIXES.some((suffix) => name.endsWith(suffix));
}

/**
 * The canonical name of a checkpoint tensor: GPT-2 checkpoints saved from `GPT2Model` lack the
 * `transformer.` prefix, LLaMA ones saved from `LlamaModel` lack `model.`.
 */
export function canonicalName(config: TransformerConfig, name: string): string {
  if (name === 'lm_head.weight') return name;
  const prefix = config.family === 'gpt2' ? 'transformer.' : 'model.';
  return name.startsWith(prefix) ? name : `${prefix}${name}`;
}

export interface ParameterProblem {
  name: string;
  expected: string;
  actual: string;
}

/** Missing tensors and shape mismatches against what the config implies (extra tensors are ignored). */
export function checkParameters(config: TransformerConfig, tensors: ReadonlyMap<string, { shape: readonly number[] }>): ParameterProblem[] {
  const problems: ParameterProblem[] = [];
  for (const spec of parameterSpecs(config)) {
    const tensor = tensors.get(spec.name);
    const expected = `[${spec.shape.join(', ')}]`;
    if (tensor === undefined) problems.push({ name: spec.name, expected, actual: 'missing' });
    else if (tensor.shape.length !== spec.shape.length || tensor.shape.some((d, i) => d !== spec.shape[i])) {
      problems.push({ name: spec.name, expected, actual: `[${tensor.shape.join(', ')}]` });
    }
  }
  return problems;
}
