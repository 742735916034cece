import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { NoModelFoundError } from './errors';
import { TokenizerFileError, TransformerConfigFileError, TransformerWeightsError, hfTransformerFormat } from './hf-transformer';
import { sha256Hex } from './hash';
import { openModel } from './open';
import { encodeSafetensors } from './safetensors';
import { fixtureFiles, fixturePath, memoryFiles } from './test-support';
import type { InputFile } from './types';

const LLAMA = {
  model_type: 'llama',
  vocab_size: 5,
  hidden_size: 4,
  intermediate_size: 6,
  num_hidden_layers: 1,
  num_attention_heads: 2,
  num_key_value_heads: 1,
  max_position_embeddings: 8,
  tie_word_embeddings: true,
};

/** Float32 tensors of the given shapes, filled with 0.01·i. */
function tensorsOf(shapes: Record<string, number[]>): Uint8Array {
  const entries = Object.entries(shapes).map(([name, shape]): [string, { shape: number[]; values: Float32Array }] => {
    const size = shape.reduce((a, b) => a * b, 1);
    return [name, { shape, values: Float32Array.from({ length: size }, (_, i) => 0.01 * i) }];
  });
  return encodeSafetensors(new Map(entries));
}

const LLAMA_SHAPES: Record<string, number[]> = {
  'model.embed_tokens.weight': [5, 4],
  'model.layers.0.input_layernorm.weight': [4],
  'model.layers.0.self_attn.q_proj.weight': [4, 4],
  'model.layers.0.self_attn.k_proj.weight': [2, 4],
  'model.layers.0.self_attn.v_proj.weight': [2, 4],
  'model.layers.0.self_attn.o_proj.weight': [4, 4],
  'model.layers.0.post_attention_layernorm.weight': [4],
  'model.layers.0.mlp.gate_proj.weight': [6, 4],
  'model.layers.0.mlp.up_proj.weight': [6, 4],
  'model.layers.0.mlp.down_proj.weight': [4, 6],
  'model.norm.weight': [4],
};

function llamaFolder(config: object = LLAMA, shapes: Record<string, number[]> = LLAMA_SHAPES, extra: Record<string, object | string> = {}): InputFile[] {
  return memoryFiles({ 'tiny/config.json': config, 'tiny/model.safetensors': tensorsOf(shapes), ...extra });
}

describe('hfTransformerFormat', () => {
  it('opens the GPT-2 fixture with its tokenizer', async () => {
    const opened = await openModel(await fixtureFiles('hf-gpt2-tiny'));
    expect(opened.format).toBe('hf-transformer');
    expect(opened.name).toBe('hf-gpt2-tiny');
    expect(opened.sha256).toBe(await sha256Hex(new Uint8Array(await readFile(fixturePath('hf-gpt2-tiny/config.json')))));
    expect(opened.files).toEqual(['hf-gpt2-tiny/config.json', 'hf-gpt2-tiny/model.safetensors', 'hf-gpt2-tiny/tokenizer.json']);
    const transformer = opened.transformer!;
    expect(transformer.config).toMatchObject({ modelType: 'gpt2', family: 'gpt2', hiddenSize: 32, layers: 2, heads: 4, contextLength: 32 });
    expect(transformer.tensors.get('transformer.h.1.attn.c_attn.weight')?.shape).toEqual([32, 96]);
    expect(transformer.tokenizer?.file).toBe('hf-gpt2-tiny/tokenizer.json');
  });

  it('opens a sharded bfloat16 Qwen2 checkpoint through its index', async () => {
    const opened = await openModel(await fixtureFiles('hf-qwen2-tiny'));
    expect(opened.files[1]).toBe('hf-qwen2-tiny/model.safetensors.index.json');
    expect(opened.files).toHaveLength(4);
    expect(opened.transformer!.config).toMatchObject({ modelType: 'qwen2', qkvBias: true, outputBias: false, kvHeads: 2 });
    expect(opened.transformer!.tokenizer).toBeUndefined();
  });

  it('adds the missing module prefix of checkpoints saved without the LM head wrapper', async () => {
    const shapes = Object.fromEntries(Object.entries(LLAMA_SHAPES).map(([name, shape]) => [name.replace(/^model\./, ''), shape]));
    const opened = await openModel(llamaFolder(LLAMA, { ...shapes, 'layers.0.self_attn.rotary_emb.inv_freq': [1] }));
    expect([...opened.transformer!.tensors.keys()].sort()).toEqual(Object.keys(LLAMA_SHAPES).sort());
  });

  it('matches a config.json with a model_type or with safetensors beside it, and nothing else', () => {
    const context = { json: (path: string): unknown => (path === 'a/config.json' ? { model_type: 'llama' } : undefined) };
    expect(hfTransformerFormat.match(memoryFiles({ 'a/config.json': '{}' }), context)).toBe(true);
    expect(hfTransformerFormat.match(memoryFiles({ 'b/config.json': '{}', 'b/model.safetensors': '' }))).toBe(true);
    expect(hfTransformerFormat.match(memoryFiles({ 'b/config.json': '{}', 'c/model.safetensors': '' }))).toBe(false);
    expect(hfTransformerFormat.match(memoryFiles({ 'b/model.json': '{}' }))).toBe(false);
  });

  it.each([
    [
      'an unsupported model_type',
      { ...LLAMA, model_type: 'bert' },
      'tiny/config.json: field "model_type" names an architecture Lopper does not run (expected gpt2, llama, qwen2, mistral, got "bert")',
    ],
    ['a missing field', { ...LLAMA, hidden_size: undefined }, 'tiny/config.json: field "hidden_size" is missing (expected a positive integer, got nothing)'],
    ['heads that do not divide', { ...LLAMA, num_key_value_heads: 3 }, 'field "num_key_value_heads" (3) does not divide num_attention_heads (2)'],
    ['rope scaling', { ...LLAMA, rope_scaling: { type: 'linear', factor: 2 } }, 'field "rope_scaling" is set, but Lopper implements plain RoPE only'],
  ])('rejects a config.json with %s, naming the file and field', async (_, config, message) => {
    const open = openModel(llamaFolder(config));
    await expect(open).rejects.toBeInstanceOf(TransformerConfigFileError);
    await expect(open).rejects.toThrow(message);
  });

  it('rejects a config.json that is not JSON', async () => {
    await expect(openModel(memoryFiles({ 'm/config.json': '{nope', 'm/model.safetensors': tensorsOf({}) }))).rejects.toThrow('m/config.json: is not valid JSON');
  });

  it('names a tensor the config needs but the weights lack', async () => {
    const { ['model.norm.weight']: _, ...shapes } = LLAMA_SHAPES;
    const open = openModel(llamaFolder(LLAMA, shapes));
    await expect(open).rejects.toBeInstanceOf(TransformerWeightsError);
    await expect(open).rejects.toThrow('tiny/model.safetensors: has no tensor "model.norm.weight", which config.json (llama) needs (expected [4], got missing)');
  });

  it('names a tensor whose shape does not fit the config, and the file holding it', async () => {
    const open = openModel(llamaFolder(LLAMA, { ...LLAMA_SHAPES, 'model.layers.0.self_attn.k_proj.weight': [4, 4] }));
    await expect(open).rejects.toThrow(
      'tiny/model.safetensors: tensor "model.layers.0.self_attn.k_proj.weight" has the wrong shape for config.json (llama) (expected [2, 4], got [4, 4])',
    );
  });

  it('asks for an untied lm_head', async () => {
    await expect(openModel(llamaFolder({ ...LLAMA, tie_word_embeddings: false }))).rejects.toThrow('has no tensor "lm_head.weight"');
  });

  it('says when config.json has no weights beside it', async () => {
    const open = openModel(memoryFiles({ 'tiny/config.json': LLAMA, 'tiny/pytorch_model.bin': 'x' }));
    await expect(open).rejects.toThrow('tiny/config.json: has no *.safetensors weights beside it (got: config.json, pytorch_model.bin)');
  });

  it('rejects a tokenizer it cannot run, naming the file', async () => {
    const tokenizer = { model: { type: 'Unigram', vocab: [] } };
    const open = openModel(llamaFolder(LLAMA, LLAMA_SHAPES, { 'tiny/tokenizer.json': tokenizer }));
    await expect(open).rejects.toBeInstanceOf(TokenizerFileError);
    await expect(open).rejects.toThrow('tiny/tokenizer.json: model is not BPE (expected BPE, got Unigram)');
  });

  it('reads a character vocabulary', async () => {
    const opened = await openModel(llamaFolder(LLAMA, LLAMA_SHAPES, { 'tiny/char-tokenizer.json': { type: 'char', vocab: ['a', 'b', 'c', 'd', 'e'] } }));
    expect(opened.transformer!.tokenizer).toEqual({ file: 'tiny/char-tokenizer.json', json: { type: 'char', vocab: ['a', 'b', 'c', 'd', 'e'] } });
  });

  it('is not chosen for a drop without a config.json', async () => {
    await expect(openModel(memoryFiles({ 'm/model.safetensors': tensorsOf({}) }))).rejects.toBeInstanceOf(NoModelFoundError);
  });
});

describe('config.json and the weights and tokenizer beside it agree', () => {
  const block1 = Object.fromEntries(
    Object.entries(LLAMA_SHAPES)
      .filter(([name]) => name.startsWith('model.layers.0.'))
      .map(([name, shape]) => [name.replace('layers.0.', 'layers.1.'), shape]),
  );

  it('refuses weights of a block the config does not have, naming the tensor', async () => {
    const files = memoryFiles({ 'tiny/config.json': LLAMA, 'tiny/model.safetensors': tensorsOf({ ...LLAMA_SHAPES, ...block1 }) });
    const open = openModel(files);
    await expect(open).rejects.toBeInstanceOf(TransformerWeightsError);
    await expect(openModel(files)).rejects.toThrow(/^tiny\/model\.safetensors: holds "model\.layers\.1\.[^"]+", a block that config\.json \(1 layers\) does not have/);
  });

  it('refuses a tokenizer with more tokens than the embedding has rows', async () => {
    const tokenizer = { type: 'char', unk_token: '<unk>', vocab: ['<unk>', 'a', 'b', 'c', 'd', 'e', 'f'] };
    const files = memoryFiles({ 'tiny/config.json': LLAMA, 'tiny/model.safetensors': tensorsOf(LLAMA_SHAPES), 'tiny/char-tokenizer.json': tokenizer });
    await expect(openModel(files)).rejects.toBeInstanceOf(TokenizerFileError);
    await expect(openModel(files)).rejects.toThrow(/^tiny\/char-tokenizer\.json: produces token ids up to 6, but the model's embedding has 5 rows/);
  });
});
