import type { TransformerConfig } from '../../core/transformer/config';
import type { TransformerModel } from '../../core/transformer/model';
import { projectionSpecs, type NamedTensor } from '../../core/transformer/parameters';
import { basename, isRecord } from '../input-file';
import type { Recipe } from '../recipe';
import type { OpenedModel } from '../types';
import { encodeFloat16 } from './float16';
import { ExportError, type ExportFile } from './tfjs-layers-writer';
import { LOPPER_VERSION } from './version';

export interface WriteHfOptions {
  /** Removal candidates bypassed (`model.layers.3.self_attn`, `transformer.h.0.mlp`), named as in `model`. */
  removed?: readonly string[];
  /** Summarised (all but the per-unit sparsities) under `config.json`'s `lopper` key. */
  recipe?: Recipe;
  /** Store every tensor as F16 instead of F32. */
  float16?: boolean;
  /** The source's config.json, parsed; without it one is written from the normalised config. */
  configJson?: unknown;
}

/** What the `lopper` key of a written config.json holds. */
export interface HfLopperMetadata {
  version: string;
  /** Removed sublayers, named as in the source model. */
  removed: string[];
  /** Sublayers kept in the file with a zeroed output projection, named as in the written model. */
  zeroed: string[];
  /** Source blocks dropped because both their sublayers were removed; later blocks are renumbered. */
  droppedBlocks: number[];
  recipe?: Omit<Recipe, 'sparsity'>;
}

const BLOCK_PREFIX = /^(transformer\.h|model\.layers)\.(\d+)\./;

/** The source block of a parameter name, or undefined for embeddings, final norm and head. */
function blockOf(name: string): number | undefined {
  const match = BLOCK_PREFIX.exec(name);
  return match ? Number(match[2]) : undefined;
}

function renumbered(name: string, index: number): string {
  return name.replace(BLOCK_PREFIX, (_, prefix: string) => `${prefix}.${index}.`);
}

/** A config.json for a normalised config, for when the source's own is not at hand. */
function configFromNormalised(config: TransformerConfig): Record<string, unknown> {
  const ids = { ...(config.bosTokenId !== undefined && { bos_token_id: config.bosTokenId }), ...(config.eosTokenId !== undefined && { eos_token_id: config.eosTokenId }) };
  if (config.family === 'gpt2') {
    return {
      model_type: 'gpt2',
      vocab_size: config.vocabSize,
      n_embd: config.hiddenSize,
      n_layer: config.layers,
      n_head: config.heads,
      n_inner: config.intermediateSize,
      n_positions: config.contextLength,
      layer_norm_epsilon: config.normEps,
      activation_function: config.activation,
      tie_word_embeddings: config.tieWordEmbeddings,
      ...ids,
    };
  }
  return {
    model_type: config.modelType,
    vocab_size: config.vocabSize,
    hidden_size: config.hiddenSize,
    intermediate_size: config.intermediateSize,
    num_hidden_layers: config.layers,
    num_attention_heads: config.heads,
    num_key_value_heads: config.kvHeads,
    head_dim: config.headDim,
    max_position_embeddings: config.contextLength,
    rms_norm_eps: config.normEps,
    rope_theta: config.ropeTheta,
    hidden_act: config.activation,
    tie_word_embeddings: config.tieWordEmbeddings,
    ...(config.modelType !== 'qwen2' && { attention_bias: config.outputBias, mlp_bias: config.mlpBias }),
    ...(config.slidingWindow !== undefined && { sliding_window: config.slidingWindow }),
    ...ids,
  };
}

/**
 * The safetensors bytes of `tensors` (in map order): an 8-byte little-endian header length, the
 * JSON header with `__metadata__` first (padded with spaces to a multiple of 8), then the data.
 */
export function encodeSafetensorsFile(tensors: ReadonlyMap<string, NamedTensor>, options: { float16?: boolean; metadata?: Record<string, string> } = {}): Uint8Array {
  const dtype = options.float16 ? 'F16' : 'F32';
  const header: Record<string, unknown> = { __metadata__: options.metadata ?? { format: 'pt' } };
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const [name, tensor] of tensors) {
    const size = tensor.shape.reduce((a, b) => a * b, 1);
    if (size !== tensor.values.length) throw new ExportError(`tensor ${name}: shape [${tensor.shape.join(', ')}] needs ${size} values, got ${tensor.values.length}`);
    const stored = options.float16 ? encodeFloat16(tensor.values) : tensor.values;
    const bytes = new Uint8Array(stored.buffer, stored.byteOffset, stored.byteLength);
    header[name] = { dtype, shape: tensor.shape, data_offsets: [offset, offset + bytes.byteLength] };
    chunks.push(bytes);
    offset += bytes.byteLength;
  }
  const encoder = new TextEncoder();
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (encoder.encode(json).length % 8)) % 8);
  const headerBytes = encoder.encode(json);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let position = 8 + headerBytes.length;
  for (const chunk of chunks) {
    out.set(chunk, position);
    position += chunk.byteLength;
  }
  return out;
}

/** Which sublayers are zeroed, which blocks dropped, and the new index of every kept block. */
function removalLayout(model: TransformerModel, removed: readonly string[]): { dropped: number[]; zeroed: Set<string>; newIndex: Map<number, number> } {
  const candidates = model.removalCandidates();
  const unknown = removed.filter((name) => !candidates.includes(name));
  if (unknown.length > 0) throw new ExportError(`cannot remove ${unknown.join(', ')}: not an attention or MLP sublayer of this ${model.config.modelType} model`);
  const removedSet = new Set(removed);
  const dropped: number[] = [];
  const zeroed = new Set<string>();
  const newIndex = new Map<number, number>();
  for (let block = 0; block < model.config.layers; block++) {
    const [attention, mlp] = candidates.slice(2 * block, 2 * block + 2);
    if (removedSet.has(attention) && removedSet.has(mlp)) {
      dropped.push(block);
      continue;
    }
    newIndex.set(block, newIndex.size);
    for (const sublayer of [attention, mlp]) if (removedSet.has(sublayer)) zeroed.add(sublayer);
  }
  return { dropped, zeroed, newIndex };
}

/** The output projection of each sublayer (the last projection it runs): `o_proj`, `down_proj`, `c_proj`. */
function outputProjections(config: TransformerConfig): Map<string, string> {
  const last = new Map<string, string>();
  for (const spec of projectionSpecs(config)) last.set(spec.sublayer, spec.unit);
  return last;
}

function writtenConfig(source: OpenedModel, model: TransformerModel, options: WriteHfOptions, lopper: HfLopperMetadata, layers: number): Record<string, unknown> {
  const original = options.configJson ?? configFromNormalised(model.config);
  if (!isRecord(original)) throw new ExportError(`the config.json of ${source.name} is not a JSON object`);
  const config: Record<string, unknown> = structuredClone(original);
  config[model.config.family === 'gpt2' ? 'n_layer' : 'num_hidden_layers'] = layers;
  const layerTypes = config['layer_types'];
  if (Array.isArray(layerTypes) && layerTypes.length === model.config.layers) {
    config['layer_types'] = layerTypes.filter((_, block) => !lopper.droppedBlocks.includes(block));
  }
  if ('torch_dtype' in config) config['torch_dtype'] = options.float16 ? 'float16' : 'float32';
  config['lopper'] = lopper;
  return config;
}

/**
 * A Hugging Face export of a (pruned) decoder-only transformer: `config.json` (the source's, with
 * the layer count updated and Lopper's metadata under `lopper`), `model.safetensors` (every
 * parameter in checkpoint naming and layout, F32 or F16, `__metadata__: {format: "pt"}`) and the
 * source's tokenizer file when it has one. A removed sublayer stays loadable by stock libraries:
 * its output projection's weight and bias are written as zeros, so only the residual passes. When
 * both sublayers of a block are removed the block is dropped and the following ones renumbered.
 */
export async function writeHfTransformer(source: OpenedModel, model: TransformerModel, options: WriteHfOptions = {}): Promise<{ files: ExportFile[] }> {
  if (source.format !== 'hf-transformer') throw new ExportError(`${source.name} is a ${source.format}, not a Hugging Face transformer`);
  const removed = [...new Set(options.removed ?? [])];
  const { dropped, zeroed, newIndex } = removalLayout(model, removed);
  const outputs = outputProjections(model.config);
  const zeroedParameters = new Set([...zeroed].flatMap((sublayer) => [`${outputs.get(sublayer)}.weight`, `${outputs.get(sublayer)}.bias`]));
  const tensors = new Map<string, NamedTensor>();
  for (const [name, tensor] of await model.exportParameters()) {
    const block = blockOf(name);
    if (block !== undefined && !newIndex.has(block)) continue;
    const values = zeroedParameters.has(name) ? new Float32Array(tensor.values.length) : tensor.values;
    tensors.set(block === undefined ? name : renumbered(name, newIndex.get(block) ?? block), { shape: tensor.shape, values });
  }
  const rename = (sublayer: string): string => {
    const block = blockOf(`${sublayer}.`);
    return block === undefined ? sublayer : renumbered(`${sublayer}.`, newIndex.get(block) ?? block).slice(0, -1);
  };
  const lopper: HfLopperMetadata = { version: LOPPER_VERSION, removed, zeroed: [...zeroed].map(rename), droppedBlocks: dropped };
  if (options.recipe !== undefined) {
    const { sparsity: _sparsity, ...summary } = options.recipe;
    lopper.recipe = summary;
  }
  const config = writtenConfig(source, model, options, lopper, newIndex.size);
  const encoder = new TextEncoder();
  const files: ExportFile[] = [
    { path: 'config.json', bytes: encoder.encode(`${JSON.stringify(config, null, 2)}\n`) },
    { path: 'model.safetensors', bytes: encodeSafetensorsFile(tensors, { float16: options.float16 }) },
  ];
  const tokenizer = source.transformer?.tokenizer;
  if (tokenizer !== undefined) files.push({ path: basename(tokenizer.file), bytes: encoder.encode(JSON.stringify(tokenizer.json)) });
  return { files };
}
