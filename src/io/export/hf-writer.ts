import type { TransformerConfig } from '../../core/transformer/config';
import type { TransformerModel } from '../../core/transformer/model';
import { blockNames, parameterSpecs, projectionSpecs, type NamedTensor } from '../../core/transformer/parameters';
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

/** Where each tensor of a safetensors file goes: the header bytes (length prefix included) and each tensor's byte range after them. */
export interface SafetensorsLayout {
  header: Uint8Array;
  /** Byte range of each tensor in the data section, in the order given. */
  ranges: { name: string; begin: number; end: number }[];
  /** Bytes of the data section. */
  dataBytes: number;
}

/**
 * The layout of a safetensors file of `tensors` (in the order given): an 8-byte little-endian header
 * length, the JSON header with `__metadata__` first (padded with spaces to a multiple of 8), then the
 * data, F32 (or F16) values one tensor after another.
 */
export function safetensorsLayout(
  tensors: readonly { name: string; shape: readonly number[] }[],
  options: { float16?: boolean; metadata?: Record<string, string> } = {},
): SafetensorsLayout {
  const dtype = options.float16 ? 'F16' : 'F32';
  const bytesPer = options.float16 ? 2 : 4;
  const header: Record<string, unknown> = { __metadata__: options.metadata ?? { format: 'pt' } };
  const ranges: SafetensorsLayout['ranges'] = [];
  let offset = 0;
  for (const { name, shape } of tensors) {
    const end = offset + shape.reduce((a, b) => a * b, 1) * bytesPer;
    header[name] = { dtype, shape: [...shape], data_offsets: [offset, end] };
    ranges.push({ name, begin: offset, end });
    offset = end;
  }
  const encoder = new TextEncoder();
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (encoder.encode(json).length % 8)) % 8);
  const jsonBytes = encoder.encode(json);
  const bytes = new Uint8Array(8 + jsonBytes.length);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(jsonBytes.length), true);
  bytes.set(jsonBytes, 8);
  return { header: bytes, ranges, dataBytes: offset };
}

/** A tensor's values as stored in a written safetensors file: little-endian F32, or F16. */
export function storedBytes(values: Float32Array, float16?: boolean): Uint8Array {
  const stored = float16 ? encodeFloat16(values) : values;
  return new Uint8Array(stored.buffer, stored.byteOffset, stored.byteLength);
}

/** The safetensors bytes of `tensors` (in map order), laid out by `safetensorsLayout`. */
export function encodeSafetensorsFile(tensors: ReadonlyMap<string, NamedTensor>, options: { float16?: boolean; metadata?: Record<string, string> } = {}): Uint8Array {
  for (const [name, tensor] of tensors) {
    const size = tensor.shape.reduce((a, b) => a * b, 1);
    if (size !== tensor.values.length) throw new ExportError(`tensor ${name}: shape [${tensor.shape.join(', ')}] needs ${size} values, got ${tensor.values.length}`);
  }
  const layout = safetensorsLayout(
    [...tensors].map(([name, tensor]) => ({ name, shape: tensor.shape })),
    options,
  );
  const out = new Uint8Array(layout.header.length + layout.dataBytes);
  out.set(layout.header, 0);
  let position = layout.header.length;
  for (const tensor of tensors.values()) {
    const bytes = storedBytes(tensor.values, options.float16);
    out.set(bytes, position);
    position += bytes.byteLength;
  }
  return out;
}

/** Which sublayers are zeroed, which blocks dropped, and the new index of every kept block. */
function removalLayout(config: TransformerConfig, removed: readonly string[]): { dropped: number[]; zeroed: Set<string>; newIndex: Map<number, number> } {
  const candidates = Array.from({ length: config.layers }, (_, block) => Object.values(blockNames(config, block))).flat();
  const unknown = removed.filter((name) => !candidates.includes(name));
  if (unknown.length > 0) throw new ExportError(`cannot remove ${unknown.join(', ')}: not an attention or MLP sublayer of this ${config.modelType} model`);
  const removedSet = new Set(removed);
  const dropped: number[] = [];
  const zeroed = new Set<string>();
  const newIndex = new Map<number, number>();
  for (let block = 0; block < config.layers; block++) {
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

function writtenConfig(
  name: string,
  modelConfig: TransformerConfig,
  configJson: unknown,
  float16: boolean | undefined,
  lopper: HfLopperMetadata,
  layers: number,
): Record<string, unknown> {
  const original = configJson ?? configFromNormalised(modelConfig);
  if (!isRecord(original)) throw new ExportError(`the config.json of ${name} is not a JSON object`);
  const config: Record<string, unknown> = structuredClone(original);
  config[modelConfig.family === 'gpt2' ? 'n_layer' : 'num_hidden_layers'] = layers;
  const layerTypes = config['layer_types'];
  if (Array.isArray(layerTypes) && layerTypes.length === modelConfig.layers) {
    config['layer_types'] = layerTypes.filter((_, block) => !lopper.droppedBlocks.includes(block));
  }
  if ('torch_dtype' in config) config['torch_dtype'] = float16 ? 'float16' : 'float32';
  config['lopper'] = lopper;
  return config;
}

/** One tensor of a written model.safetensors: its written name and the parameter it holds, or zeros. */
export interface HfWrittenTensor {
  name: string;
  /** The parameter (source naming) whose values it holds. */
  source: string;
  shape: number[];
  /** A removed sublayer's output projection: written as zeros. */
  zeroed: boolean;
}

/** What an export writes for a config and its removals: the tensors of model.safetensors in order and Lopper's metadata. */
export interface HfExportLayout {
  tensors: HfWrittenTensor[];
  lopper: HfLopperMetadata;
  /** Blocks in the written model. */
  layers: number;
}

/**
 * The written model's tensors, in the order of `parameterSpecs` (checkpoint naming and layout): a
 * dropped block's are left out and the later blocks renumbered; a removed sublayer's output
 * projection is zeroed.
 */
export function hfExportLayout(config: TransformerConfig, removedNames: readonly string[], recipe?: Recipe): HfExportLayout {
  const removed = [...new Set(removedNames)];
  const { dropped, zeroed, newIndex } = removalLayout(config, removed);
  const outputs = outputProjections(config);
  const zeroedParameters = new Set([...zeroed].flatMap((sublayer) => [`${outputs.get(sublayer)}.weight`, `${outputs.get(sublayer)}.bias`]));
  const tensors: HfWrittenTensor[] = [];
  for (const spec of parameterSpecs(config)) {
    const block = blockOf(spec.name);
    if (block !== undefined && !newIndex.has(block)) continue;
    const name = block === undefined ? spec.name : renumbered(spec.name, newIndex.get(block) ?? block);
    tensors.push({ name, source: spec.name, shape: [...spec.shape], zeroed: zeroedParameters.has(spec.name) });
  }
  const rename = (sublayer: string): string => {
    const block = blockOf(`${sublayer}.`);
    return block === undefined ? sublayer : renumbered(`${sublayer}.`, newIndex.get(block) ?? block).slice(0, -1);
  };
  const lopper: HfLopperMetadata = { version: LOPPER_VERSION, removed, zeroed: [...zeroed].map(rename), droppedBlocks: dropped };
  if (recipe !== undefined) {
    const { sparsity: _sparsity, ...summary } = recipe;
    lopper.recipe = summary;
  }
  return { tensors, lopper, layers: newIndex.size };
}

/** config.json of an export: the source's (or one from the normalised config) with the layer count and Lopper's metadata. */
export function hfConfigBytes(name: string, config: TransformerConfig, layout: HfExportLayout, options: Pick<WriteHfOptions, 'configJson' | 'float16'>): Uint8Array {
  const json = writtenConfig(name, config, options.configJson, options.float16, layout.lopper, layout.layers);
  return new TextEncoder().encode(`${JSON.stringify(json, null, 2)}\n`);
}

/** The tokenizer file an export carries beside the model, when the source has one. */
export function hfTokenizerFile(source: OpenedModel['transformer']): ExportFile | undefined {
  const tokenizer = source?.tokenizer;
  return tokenizer === undefined ? undefined : { path: basename(tokenizer.file), bytes: new TextEncoder().encode(JSON.stringify(tokenizer.json)) };
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
  const layout = hfExportLayout(model.config, options.removed ?? [], options.recipe);
  const parameters = await model.exportParameters();
  const tensors = new Map<string, NamedTensor>();
  for (const { name, source: from, zeroed } of layout.tensors) {
    const tensor = parameters.get(from) as NamedTensor;
    tensors.set(name, { shape: tensor.shape, values: zeroed ? new Float32Array(tensor.values.length) : tensor.values });
  }
  const files: ExportFile[] = [
    { path: 'config.json', bytes: hfConfigBytes(source.name, model.config, layout, options) },
    { path: 'model.safetensors', bytes: encodeSafetensorsFile(tensors, { float16: options.float16 }) },
  ];
  const tokenizer = hfTokenizerFile(source.transformer);
  if (tokenizer !== undefined) files.push(tokenizer);
  return { files };
}
