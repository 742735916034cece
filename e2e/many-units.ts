import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Projections of one LLaMA block, in parameter order. */
export const LLAMA_PROJECTIONS = ['self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj', 'self_attn.o_proj', 'mlp.gate_proj', 'mlp.up_proj', 'mlp.down_proj'];

/** A deterministic value in [-0.2, 0.2) for index `i`: the fractional part of a scaled sine. */
function weightAt(i: number, seed: number): number {
  const x = Math.sin((i + 1) * 12.9898 + seed * 78.233) * 43758.5453;
  return (x - Math.floor(x) - 0.5) * 0.4;
}

/**
 * Writes a random-weight LLaMA-style checkpoint (`config.json` + `model.safetensors`) with `blocks`
 * decoder blocks of width 16 into `dir`: 7 projections per block, so 30 blocks give 210 units.
 * Deterministic for a given `blocks` and `seed`.
 */
export function writeManyUnitLlama(dir: string, blocks: number, seed = 1): string[] {
  const hidden = 16;
  const intermediate = 32;
  const heads = 2;
  const vocab = 40;
  const config = {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    hidden_size: hidden,
    intermediate_size: intermediate,
    num_hidden_layers: blocks,
    num_attention_heads: heads,
    num_key_value_heads: heads,
    max_position_embeddings: 32,
    rms_norm_eps: 1e-6,
    rope_theta: 10000,
    hidden_act: 'silu',
    tie_word_embeddings: false,
    vocab_size: vocab,
    bos_token_id: 1,
    eos_token_id: 2,
    attention_bias: false,
    torch_dtype: 'float32',
  };
  const tensors: [string, number[]][] = [['model.embed_tokens.weight', [vocab, hidden]]];
  const shapes: Record<string, number[]> = {
    'self_attn.q_proj': [hidden, hidden],
    'self_attn.k_proj': [hidden, hidden],
    'self_attn.v_proj': [hidden, hidden],
    'self_attn.o_proj': [hidden, hidden],
    'mlp.gate_proj': [intermediate, hidden],
    'mlp.up_proj': [intermediate, hidden],
    'mlp.down_proj': [hidden, intermediate],
  };
  const units: string[] = [];
  for (let b = 0; b < blocks; b++) {
    tensors.push([`model.layers.${b}.input_layernorm.weight`, [hidden]]);
    for (const projection of LLAMA_PROJECTIONS) {
      if (projection === 'mlp.gate_proj') tensors.push([`model.layers.${b}.post_attention_layernorm.weight`, [hidden]]);
      tensors.push([`model.layers.${b}.${projection}.weight`, shapes[projection]]);
      units.push(`model.layers.${b}.${projection}`);
    }
  }
  tensors.push(['model.norm.weight', [hidden]], ['lm_head.weight', [vocab, hidden]]);
  let index = 0;
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  const chunks: Float32Array[] = [];
  let offset = 0;
  for (const [name, shape] of tensors) {
    const size = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(size);
    const norm = name.endsWith('norm.weight');
    for (let i = 0; i < size; i++) data[i] = norm ? 1 : weightAt(index++, seed);
    header[name] = { dtype: 'F32', shape, data_offsets: [offset, offset + size * 4] };
    offset += size * 4;
    chunks.push(data);
  }
  let json = JSON.stringify(header);
  while ((8 + json.length) % 8 !== 0) json += ' ';
  const headerBytes = Buffer.from(json, 'utf8');
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(headerBytes.length));
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 1));
  writeFileSync(join(dir, 'model.safetensors'), Buffer.concat([length, headerBytes, ...chunks.map((c) => Buffer.from(c.buffer))]));
  return units;
}
