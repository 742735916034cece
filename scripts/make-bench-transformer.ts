/**
 * Random-weight Hugging Face transformer folders for the benchmarks: config.json, a float32
 * model.safetensors and the demo LM's char-tokenizer.json (so `lopper eval --data x.txt` reads
 * text). Nothing here is committed: the bench writes them under a temporary folder.
 *
 * Run: npx tsx scripts/make-bench-transformer.ts <out-dir> [gpt2-small|smollm-135m|gpt2-blocks:N] [--seed S]
 */
import { closeSync, copyFileSync, mkdirSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { mulberry32, normalGenerator } from '../src/core/data/synthetic';
import { normalizeTransformerConfig } from '../src/core/transformer/config';
import { parameterSpecs } from '../src/core/transformer/parameters';
import { SMOLLM_135M_CONFIG } from '../src/core/transformer/shapes';

const CHAR_TOKENIZER = join(import.meta.dirname, '..', 'public', 'models', 'char-lm', 'char-tokenizer.json');

/** GPT-2 small (124M parameters): 12 blocks of width 768, vocabulary 50257, context 1024. */
export function gpt2Config(layers = 12, width = 768, vocab = 50257, context = 1024): Record<string, unknown> {
  return {
    architectures: ['GPT2LMHeadModel'],
    model_type: 'gpt2',
    n_embd: width,
    n_layer: layers,
    n_head: width / 64,
    n_positions: context,
    n_ctx: context,
    n_inner: null,
    vocab_size: vocab,
    layer_norm_epsilon: 1e-5,
    activation_function: 'gelu_new',
    tie_word_embeddings: true,
    torch_dtype: 'float32',
  };
}

/** SmolLM-135M's shape (LLaMA, grouped-query attention, tied embeddings). */
export function smollmConfig(): Record<string, unknown> {
  return { ...SMOLLM_135M_CONFIG, torch_dtype: 'float32' };
}

/** Fills `out` with N(mean, std²) draws. */
function fillNormal(out: Float32Array, normal: () => number, mean: number, std: number): void {
  for (let i = 0; i < out.length; i++) out[i] = mean + std * normal();
}

/** GPT-2-style initialisation by parameter name: norms near 1, everything else N(0, 0.02²) (position embeddings 0.01²). */
function initFor(name: string): { mean: number; std: number } {
  if (/(ln_\d|ln_f|layernorm|norm)\.weight$/.test(name)) return { mean: 1, std: 0.02 };
  if (name.endsWith('wpe.weight')) return { mean: 0, std: 0.01 };
  return { mean: 0, std: 0.02 };
}

/** Writes the folder; returns the number of parameters. */
export function writeBenchTransformer(dir: string, configJson: Record<string, unknown>, seed = 0): number {
  mkdirSync(dir, { recursive: true });
  const config = normalizeTransformerConfig(configJson);
  const specs = parameterSpecs(config);
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  let offset = 0;
  for (const spec of specs) {
    const bytes = 4 * spec.shape.reduce((a, b) => a * b, 1);
    header[spec.name] = { dtype: 'F32', shape: spec.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  const file = openSync(join(dir, 'model.safetensors'), 'w');
  let count = 0;
  try {
    writeSync(file, prefix);
    writeSync(file, json);
    const normal = normalGenerator(mulberry32(seed));
    for (const spec of specs) {
      const values = new Float32Array(spec.shape.reduce((a, b) => a * b, 1));
      const { mean, std } = initFor(spec.name);
      fillNormal(values, normal, mean, std);
      writeSync(file, new Uint8Array(values.buffer));
      count += values.length;
    }
  } finally {
    closeSync(file);
  }
  writeFileSync(join(dir, 'config.json'), `${JSON.stringify(configJson, null, 1)}\n`);
  copyFileSync(CHAR_TOKENIZER, join(dir, 'char-tokenizer.json'));
  return count;
}

function configByName(name: string): Record<string, unknown> {
  if (name === 'gpt2-small') return gpt2Config();
  if (name === 'smollm-135m') return smollmConfig();
  const blocks = /^gpt2-blocks:(\d+)$/.exec(name);
  if (blocks) return gpt2Config(Number(blocks[1]));
  throw new Error(`unknown shape ${name}: gpt2-small, smollm-135m or gpt2-blocks:N`);
}

if (process.argv[1] !== undefined && import.meta.filename === process.argv[1]) {
  const [out, shape = 'gpt2-small', ...rest] = process.argv.slice(2);
  if (out === undefined) throw new Error('usage: make-bench-transformer.ts <out-dir> [shape] [--seed S]');
  const seedAt = rest.indexOf('--seed');
  const seed = seedAt >= 0 ? Number(rest[seedAt + 1]) : 0;
  const params = writeBenchTransformer(out, configByName(shape), seed);
  process.stdout.write(`${out}: ${shape}, ${params} parameters\n`);
}
