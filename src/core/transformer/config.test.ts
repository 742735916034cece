import { describe, expect, it } from 'vitest';
import { TransformerConfigError, normalizeTransformerConfig } from './config';
import { SMOLLM_135M_CONFIG } from './shapes';

const GPT2 = { model_type: 'gpt2', vocab_size: 50257, n_embd: 768, n_layer: 12, n_head: 12, n_positions: 1024, layer_norm_epsilon: 1e-5 };
const LLAMA = { ...SMOLLM_135M_CONFIG, bos_token_id: 0, eos_token_id: 0 };

describe('normalizeTransformerConfig', () => {
  it('reads GPT-2 (n_inner null → 4·n_embd, tied, biases everywhere)', () => {
    expect(normalizeTransformerConfig({ ...GPT2, n_inner: null })).toEqual({
      modelType: 'gpt2',
      family: 'gpt2',
      vocabSize: 50257,
      hiddenSize: 768,
      layers: 12,
      heads: 12,
      kvHeads: 12,
      headDim: 64,
      intermediateSize: 3072,
      contextLength: 1024,
      normEps: 1e-5,
      activation: 'gelu_new',
      ropeTheta: 0,
      tieWordEmbeddings: true,
      qkvBias: true,
      outputBias: true,
      mlpBias: true,
    });
  });

  it('reads a SmolLM-style LLaMA config with grouped-query attention', () => {
    expect(normalizeTransformerConfig(LLAMA)).toMatchObject({
      family: 'llama',
      heads: 9,
      kvHeads: 3,
      headDim: 64,
      contextLength: 2048,
      tieWordEmbeddings: true,
      qkvBias: false,
      outputBias: false,
      mlpBias: false,
      bosTokenId: 0,
      eosTokenId: 0,
      activation: 'silu',
    });
  });

  it('gives Qwen2 q/k/v biases and windows Mistral', () => {
    expect(normalizeTransformerConfig({ ...LLAMA, model_type: 'qwen2', use_sliding_window: false, sliding_window: 4096 })).toMatchObject({ qkvBias: true, outputBias: false });
    expect(normalizeTransformerConfig({ ...LLAMA, model_type: 'qwen2' }).slidingWindow).toBeUndefined();
    expect(normalizeTransformerConfig({ ...LLAMA, model_type: 'mistral', sliding_window: 4096 }).slidingWindow).toBe(4096);
    expect(normalizeTransformerConfig({ ...LLAMA, model_type: 'mistral', sliding_window: null }).slidingWindow).toBeUndefined();
    expect(normalizeTransformerConfig({ ...LLAMA, attention_bias: true, mlp_bias: true })).toMatchObject({ qkvBias: true, outputBias: true, mlpBias: true });
    expect(normalizeTransformerConfig({ ...LLAMA, head_dim: 32 }).headDim).toBe(32);
    expect(normalizeTransformerConfig({ ...LLAMA, eos_token_id: [2, 3] }).eosTokenId).toBe(2);
  });

  it.each([
    ['model_type', { ...GPT2, model_type: 'bert' }, 'names an architecture Lopper does not run'],
    ['model_type', { n_embd: 4 }, 'is missing'],
    ['n_layer', { ...GPT2, n_layer: undefined }, 'is missing'],
    ['n_head', { ...GPT2, n_head: 5 }, 'does not divide n_embd'],
    ['activation_function', { ...GPT2, activation_function: 'swish' }, 'names an activation'],
    ['scale_attn_by_inverse_layer_idx', { ...GPT2, scale_attn_by_inverse_layer_idx: true }, 'is set'],
    ['hidden_size', { ...LLAMA, hidden_size: 0 }, 'is not a positive integer'],
    ['hidden_act', { ...LLAMA, hidden_act: 'gelu' }, 'is not silu'],
    ['rms_norm_eps', { ...LLAMA, rms_norm_eps: -1 }, 'is not a positive number'],
    ['tie_word_embeddings', { ...LLAMA, tie_word_embeddings: 'yes' }, 'is not true or false'],
    ['rope_scaling', { ...LLAMA, rope_scaling: { rope_type: 'llama3' } }, 'is set'],
    ['max_window_layers', { ...LLAMA, model_type: 'qwen2', use_sliding_window: true, sliding_window: 4096, max_window_layers: 10 }, 'windows only some layers'],
  ])('rejects a bad %s, naming the field', (field, json, problem) => {
    let error: unknown;
    try {
      normalizeTransformerConfig(json);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(TransformerConfigError);
    expect((error as TransformerConfigError).field).toBe(field);
    expect((error as Error).message).toContain(problem);
  });
});
