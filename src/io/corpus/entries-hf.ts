import { baseFiles, splitSafetensors, text, withJson, withSafetensorsHeader, joinSafetensors, type FileMap } from './bytes';
import type { CorpusEntry } from './types';

const LLAMA = 'e2e/fixtures/hf-llama-tiny';
const GPT2 = 'e2e/fixtures/hf-gpt2-tiny';
const QWEN2 = 'e2e/fixtures/hf-qwen2-tiny';
const CHAR_LM = 'public/models/char-lm';

type Header = Record<string, Record<string, unknown>>;

const llama = (): FileMap => baseFiles(LLAMA);

function editConfig(base: string, edit: (config: Record<string, unknown>) => void): () => FileMap {
  return () => withJson(baseFiles(base), 'config.json', edit);
}

/** The LLaMA base with one config.json field set. */
function llamaWith(field: string, value: unknown): () => FileMap {
  return editConfig(LLAMA, (c) => {
    c[field] = value;
  });
}

function editHeader(edit: (header: Header) => void): () => FileMap {
  return () => {
    const files = llama();
    return { ...files, 'model.safetensors': withSafetensorsHeader(files['model.safetensors'], edit) };
  };
}

function hfError(name: string, cls: string, files: () => FileMap, file: string, message: RegExp): CorpusEntry {
  return { name, class: cls, kind: 'hf-transformer', files, command: 'inspect', expect: { kind: 'error', file: `${name}/${file}`, message } };
}

function range(header: Header, tensor: string): [number, number] {
  const entry = header[tensor];
  if (entry === undefined) throw new Error(`corpus: no tensor ${tensor}`);
  return entry['data_offsets'] as [number, number];
}

function lastTensor(header: Header): string {
  const [name] = Object.entries(header)
    .filter(([key]) => key !== '__metadata__')
    .sort(([, a], [, b]) => (b['data_offsets'] as number[])[1] - (a['data_offsets'] as number[])[1])[0];
  return name;
}

export function hfEntries(): CorpusEntry[] {
  return [
    {
      name: 'hf-huge-context',
      class: 'max_position_embeddings 10⁹',
      kind: 'hf-transformer',
      files: () => ({
        ...withJson(baseFiles(CHAR_LM), 'config.json', (c) => {
          c['max_position_embeddings'] = 1e9;
        }),
        'long.txt': baseFiles(CHAR_LM, [])['eval.txt'].subarray(0, 20_000),
      }),
      data: 'long.txt',
      command: 'eval',
      expect: {
        kind: 'error',
        file: 'hf-huge-context/config.json',
        message: /max_position_embeddings is 1000000000, more positions than Lopper opens \(expected at most 16777216, got 1000000000\)/,
      },
    },
    hfError(
      'hf-config-fewer-layers',
      'config with fewer layers than the weights',
      llamaWith('num_hidden_layers', 1),
      'model.safetensors',
      /holds "model\.layers\.1\.[\w.]+", a block that config\.json \(1 layers\) does not have/,
    ),
    hfError(
      'hf-config-more-layers',
      'config with more layers than the weights',
      llamaWith('num_hidden_layers', 3),
      'model.safetensors',
      /holds blocks 0…1, but config\.json declares 3 \(num_hidden_layers\) \(expected 3 blocks, got 2\)/,
    ),
    hfError(
      'hf-billion-layers',
      'config with more layers than the weights',
      llamaWith('num_hidden_layers', 1e9),
      'model.safetensors',
      /holds blocks 0…1, but config\.json declares 1000000000 \(num_hidden_layers\) \(expected 1000000000 blocks, got 2\)/,
    ),
    hfError(
      'hf-fractional-size',
      'non-integer shape',
      llamaWith('intermediate_size', 64.5),
      'config.json',
      /field "intermediate_size" is not a positive integer \(expected a positive integer, got 64\.5\)/,
    ),
    hfError(
      'hf-negative-size',
      'negative shape',
      llamaWith('hidden_size', -32),
      'config.json',
      /field "hidden_size" is not a positive integer \(expected a positive integer, got -32\)/,
    ),
    hfError(
      'hf-heads-do-not-divide',
      'config sizes that do not fit together',
      llamaWith('num_attention_heads', 5),
      'config.json',
      /field "num_key_value_heads" \(2\) does not divide num_attention_heads \(5\) \(expected a divisor of 5, got 2\)/,
    ),
    hfError(
      'hf-tokenizer-beyond-embedding',
      'tokenizer ids beyond the embedding rows',
      () =>
        withJson<{ vocab: string[] }>(baseFiles(CHAR_LM), 'char-tokenizer.json', (t) => {
          t.vocab.push('é');
        }),
      'char-tokenizer.json',
      /produces token ids up to 84, but the model's embedding has 84 rows \(vocab_size in config\.json\)/,
    ),
    hfError(
      'hf-weight-transposed',
      'kernel stored transposed',
      editHeader((h) => {
        h['model.layers.0.mlp.up_proj.weight']['shape'] = [32, 64];
      }),
      'model.safetensors',
      /tensor "model\.layers\.0\.mlp\.up_proj\.weight" has the wrong shape for config\.json \(llama\).*expected \[64, 32\], got \[32, 64\]/,
    ),
    {
      name: 'hf-nan-weights',
      class: 'NaN/Inf weights',
      kind: 'hf-transformer',
      files: () => {
        const files = llama();
        const parts = splitSafetensors(files['model.safetensors']);
        const [begin] = range(parts.header, 'model.layers.0.self_attn.q_proj.weight');
        const data = parts.data.slice();
        new DataView(data.buffer).setFloat32(begin, NaN, true);
        new DataView(data.buffer).setFloat32(begin + 4, -Infinity, true);
        return { ...files, 'model.safetensors': joinSafetensors({ header: parts.header, data }) };
      },
      command: 'inspect',
      expect: { kind: 'warning', warning: /weight model\.layers\.0\.self_attn\.q_proj\.weight holds 1 NaN and 1 ±Infinity values/ },
    },
    hfError(
      'st-overlapping-ranges',
      'overlapping safetensors ranges',
      editHeader((h) => {
        h['model.layers.0.post_attention_layernorm.weight']['data_offsets'] = range(h, 'model.layers.0.input_layernorm.weight');
      }),
      'model.safetensors',
      /tensors "model\.layers\.0\.(input|post_attention)_layernorm\.weight" and "model\.layers\.0\.(input|post_attention)_layernorm\.weight" share bytes/,
    ),
    hfError(
      'st-header-past-eof',
      'safetensors header past EOF',
      () => {
        const files = llama();
        const bytes = files['model.safetensors'].slice();
        new DataView(bytes.buffer).setBigUint64(0, BigInt(bytes.length), true);
        return { ...files, 'model.safetensors': bytes };
      },
      'model.safetensors',
      /declares a header longer than the file \(expected at most \d+ bytes, got \d+ bytes\)/,
    ),
    hfError(
      'st-header-not-json',
      'safetensors header not JSON',
      () => {
        const files = llama();
        const bytes = files['model.safetensors'].slice();
        const length = Number(new DataView(bytes.buffer).getBigUint64(0, true));
        bytes.fill(0x7e, 8, 8 + length);
        return { ...files, 'model.safetensors': bytes };
      },
      'model.safetensors',
      /has a header that is not a JSON object/,
    ),
    hfError(
      'st-unknown-dtype',
      'safetensors unknown dtype',
      editHeader((h) => {
        h['model.layers.0.self_attn.q_proj.weight']['dtype'] = 'F4';
      }),
      'model.safetensors',
      /weight "model\.layers\.0\.self_attn\.q_proj\.weight" has dtype F4, which Lopper cannot read \(expected F32, F16 or BF16, got F4\)/,
    ),
    hfError(
      'st-offsets-out-of-range',
      'safetensors out-of-range offsets',
      editHeader((h) => {
        const last = lastTensor(h);
        const [begin, end] = range(h, last);
        h[last]['data_offsets'] = [begin + 8, end + 8];
      }),
      'model.safetensors',
      /has data_offsets out of range \(expected 0 ≤ begin ≤ end ≤ \d+, got \[\d+, \d+\]\)/,
    ),
    hfError(
      'st-truncated',
      'truncated shard',
      () => {
        const files = llama();
        return { ...files, 'model.safetensors': files['model.safetensors'].subarray(0, files['model.safetensors'].length - 100) };
      },
      'model.safetensors',
      /has data_offsets out of range/,
    ),
    hfError(
      'hf-missing-shard',
      'missing shard',
      () => {
        const { 'model-00002-of-00002.safetensors': _missing, ...files } = baseFiles(QWEN2);
        return files;
      },
      'model.safetensors.index.json',
      /weight_map lists "model-00002-of-00002\.safetensors" but no such file was dropped/,
    ),
    {
      name: 'hf-proto-keys',
      class: '__proto__/constructor keys',
      kind: 'hf-transformer',
      files: () => {
        const files = llama();
        const config = new TextDecoder()
          .decode(files['config.json'])
          .replace('{', '{"__proto__": {"lopperPolluted": true}, "constructor": {"prototype": {"lopperPolluted": true}},');
        const safetensors = withSafetensorsHeader(files['model.safetensors'], (h) => {
          h['__metadata__'] = { ...h['__metadata__'], constructor: 'x', ['__proto__']: 'y' };
        });
        return { ...files, 'config.json': text(config), 'model.safetensors': safetensors };
      },
      command: 'inspect',
      expect: { kind: 'opens' },
    },
    hfError('hf-config-invalid-json', 'invalid JSON', () => ({ ...llama(), 'config.json': text('{"model_type": "llama",') }), 'config.json', /is not valid JSON/),
    hfError('hf-unknown-model-type', 'unknown layer class', llamaWith('model_type', 'mamba'), 'config.json', /mamba/),
    hfError(
      'hf-tokenizer-invalid-json',
      'invalid JSON',
      () => ({ ...baseFiles(GPT2), 'tokenizer.json': text('{"model": {"type": "BPE", "vocab": {') }),
      'tokenizer.json',
      /is not valid JSON/,
    ),
  ];
}
