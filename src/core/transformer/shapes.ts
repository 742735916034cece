/** config.json of well-known model shapes, for generated benchmark models and tests (no weights). */

/** SmolLM-135M: LLaMA, grouped-query attention, tied embeddings. */
export const SMOLLM_135M_CONFIG = {
  architectures: ['LlamaForCausalLM'],
  model_type: 'llama',
  vocab_size: 49152,
  hidden_size: 576,
  intermediate_size: 1536,
  num_hidden_layers: 30,
  num_attention_heads: 9,
  num_key_value_heads: 3,
  max_position_embeddings: 2048,
  rms_norm_eps: 1e-5,
  rope_theta: 10000,
  hidden_act: 'silu',
  tie_word_embeddings: true,
  attention_bias: false,
} as const;
