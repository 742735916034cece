import { SUPPORTED_MODEL_TYPES, TransformerConfigError, normalizeTransformerConfig } from '../core/transformer/config';
import type { TransformerConfig } from '../core/transformer/config';
import { canonicalName, checkParameters, isBufferName } from '../core/transformer/parameters';
import type { NamedTensor } from '../core/transformer/parameters';
import { CHAR_TOKENIZER_FILE, HF_TOKENIZER_FILE, TokenizerError, createTokenizer } from '../core/tokenizer';
import { LopperInputError, NoModelFoundError, listForMessage } from './errors';
import type { InputErrorDetails } from './errors';
import { sha256Hex } from './hash';
import { basename, dirname, hasExtension, isRecord, parseJsonBytes, readJson, whyNotJson } from './input-file';
import { SAFETENSORS_INDEX, readSafetensorsCheckpoint } from './safetensors';
import type { InputFile, MatchContext, ModelFormat, OpenedModel, TransformerPayload } from './types';

/** config.json is not JSON, names an unsupported architecture, or lacks a field the model needs. */
export class TransformerConfigFileError extends LopperInputError {
  override name = 'TransformerConfigFileError';
}

/** The safetensors weights do not hold what config.json describes. */
export class TransformerWeightsError extends LopperInputError {
  override name = 'TransformerWeightsError';
}

/** tokenizer.json (or char-tokenizer.json) is not a tokenizer Lopper can run. */
export class TokenizerFileError extends LopperInputError {
  override name = 'TokenizerFileError';
}

const CONFIG_FILE = 'config.json';

function isConfigFile(file: InputFile): boolean {
  return basename(file.path) === CONFIG_FILE;
}

export function hasSafetensorsBeside(files: readonly InputFile[], config: InputFile): boolean {
  const folder = dirname(config.path);
  return files.some((file) => dirname(file.path) === folder && (hasExtension(file.path, '.safetensors') || basename(file.path) === SAFETENSORS_INDEX));
}

/** config.json files that look like a Hugging Face model's: a `model_type`, or safetensors beside them. */
function configCandidates(files: readonly InputFile[], json: (file: InputFile) => unknown): InputFile[] {
  return files.filter((file) => {
    if (!isConfigFile(file)) return false;
    const parsed = json(file);
    return (isRecord(parsed) && typeof parsed['model_type'] === 'string') || hasSafetensorsBeside(files, file);
  });
}

/** The error of a core check, as one naming the file it is about. */
function fileError<E extends LopperInputError>(
  ErrorClass: new (details: InputErrorDetails) => E,
  file: string,
  error: { message: string; expected?: string | undefined; actual?: string | undefined },
): E {
  const details: InputErrorDetails = { file, message: error.message };
  if (error.expected !== undefined) details.expected = error.expected;
  if (error.actual !== undefined) details.actual = error.actual;
  return new ErrorClass(details);
}

/** The longest context a config may declare (2^24 positions, beyond every released model): a bigger one is a broken config. */
export const MAX_CONTEXT_LENGTH = 2 ** 24;

function checkContextLength(file: string, config: TransformerConfig): void {
  if (config.contextLength <= MAX_CONTEXT_LENGTH) return;
  const field = config.modelType === 'gpt2' ? 'n_positions' : 'max_position_embeddings';
  throw new TransformerConfigFileError({
    file,
    message: `${field} is ${config.contextLength}, more positions than Lopper opens`,
    expected: `at most ${MAX_CONTEXT_LENGTH}`,
    actual: String(config.contextLength),
  });
}

export async function readConfig(file: InputFile): Promise<{ bytes: Uint8Array; config: TransformerConfig }> {
  const bytes = await file.bytes();
  const json = parseJsonBytes(bytes);
  if (json === undefined) {
    throw new TransformerConfigFileError({ file: file.path, ...whyNotJson(bytes), expected: 'a Hugging Face config.json' });
  }
  let config: TransformerConfig;
  try {
    config = normalizeTransformerConfig(json);
  } catch (error) {
    throw error instanceof TransformerConfigError ? fileError(TransformerConfigFileError, file.path, error) : error;
  }
  checkContextLength(file.path, config);
  return { bytes, config };
}

const BLOCK = /^(?:model\.layers|transformer\.h)\.(\d+)\./;

/** The config's layer count against the blocks the weights hold, before every expected tensor is listed (10⁹ layers would never finish). */
function checkBlockCount(config: TransformerConfig, tensors: ReadonlyMap<string, unknown>, sources: ReadonlyMap<string, string>, files: readonly string[]): void {
  let blocks = 0;
  let last: string | undefined;
  for (const name of tensors.keys()) {
    const block = BLOCK.exec(name);
    if (block !== null && Number(block[1]) + 1 > blocks) [blocks, last] = [Number(block[1]) + 1, name];
  }
  if (config.layers <= blocks) return;
  const field = config.modelType === 'gpt2' ? 'n_layer' : 'num_hidden_layers';
  throw new TransformerWeightsError({
    file: (last && sources.get(last)) ?? listForMessage(files),
    message: `holds ${blocks === 0 ? 'no blocks' : `blocks 0…${blocks - 1}`}, but config.json declares ${config.layers} (${field})`,
    expected: `${config.layers} blocks`,
    actual: `${blocks}`,
  });
}

/**
 * The weights (canonical names → shapes) against config.json: the block count, every tensor the config
 * needs with its shape, and no block beyond the config's; errors name the file that holds the tensor.
 */
export function checkWeightShapes(
  config: TransformerConfig,
  tensors: ReadonlyMap<string, { shape: readonly number[] }>,
  sources: ReadonlyMap<string, string>,
  files: readonly string[],
): void {
  checkBlockCount(config, tensors, sources, files);
  const problems = checkParameters(config, tensors);
  if (problems.length > 0) {
    const [first] = problems;
    const more = problems.length > 1 ? ` (and ${problems.length - 1} more problems)` : '';
    const file = sources.get(first.name) ?? listForMessage(files);
    throw new TransformerWeightsError({
      file,
      message:
        first.actual === 'missing'
          ? `has no tensor "${first.name}", which config.json (${config.modelType}) needs${more}`
          : `tensor "${first.name}" has the wrong shape for config.json (${config.modelType})${more}`,
      expected: first.expected,
      actual: first.actual,
    });
  }
  const beyond = [...tensors.keys()].map((name) => ({ name, block: BLOCK.exec(name) })).find(({ block }) => block !== null && Number(block[1]) >= config.layers);
  if (beyond !== undefined) {
    throw new TransformerWeightsError({
      file: sources.get(beyond.name) ?? listForMessage(files),
      message: `holds "${beyond.name}", a block that config.json (${config.layers} layers) does not have: the config and the weights are of different models`,
      expected: `blocks 0…${config.layers - 1}`,
      actual: `block ${beyond.block?.[1]}`,
    });
  }
}

async function readWeights(files: readonly InputFile[], configFile: InputFile, config: TransformerConfig): Promise<{ tensors: Map<string, NamedTensor>; files: string[] }> {
  const folder = dirname(configFile.path);
  if (!hasSafetensorsBeside(files, configFile)) {
    const siblings = files.filter((file) => dirname(file.path) === folder).map((file) => basename(file.path));
    throw new TransformerWeightsError({
      file: configFile.path,
      message: `has no *.safetensors weights beside it (got: ${listForMessage(siblings)})`,
      expected: 'model.safetensors, or shards with model.safetensors.index.json',
      mismatchInMessage: true,
    });
  }
  const checkpoint = await readSafetensorsCheckpoint(files, folder, { include: (name) => !isBufferName(name) });
  const tensors = new Map<string, NamedTensor>();
  const sources = new Map<string, string>();
  for (const [name, tensor] of checkpoint.tensors) {
    const canonical = canonicalName(config, name);
    tensors.set(canonical, tensor);
    sources.set(canonical, checkpoint.sources.get(name) ?? configFile.path);
  }
  checkWeightShapes(config, tensors, sources, checkpoint.files);
  return { tensors, files: checkpoint.files };
}

export async function readTokenizer(files: readonly InputFile[], folder: string, config: TransformerConfig): Promise<TransformerPayload['tokenizer']> {
  for (const name of [HF_TOKENIZER_FILE, CHAR_TOKENIZER_FILE]) {
    const file = files.find((f) => dirname(f.path) === folder && basename(f.path) === name);
    if (file === undefined) continue;
    const json = await readJson(file);
    if (json === undefined) throw new TokenizerFileError({ file: file.path, ...whyNotJson(await file.bytes()), expected: 'a tokenizer.json' });
    let vocabSize: number;
    try {
      vocabSize = createTokenizer(json).vocabSize;
    } catch (error) {
      throw error instanceof TokenizerError ? fileError(TokenizerFileError, file.path, error) : error;
    }
    if (vocabSize > config.vocabSize) {
      throw new TokenizerFileError({
        file: file.path,
        message: `produces token ids up to ${vocabSize - 1}, but the model's embedding has ${config.vocabSize} rows (vocab_size in config.json)`,
        expected: `a tokenizer of at most ${config.vocabSize} tokens`,
        actual: `${vocabSize} tokens`,
        mismatchInMessage: true,
      });
    }
    return { file: file.path, json };
  }
  return undefined;
}

/** The folder's name, else the config's `_name_or_path`, else its model_type. */
export function transformerName(configPath: string, json: unknown, config: TransformerConfig): string {
  const folder = basename(dirname(configPath));
  if (folder !== '') return folder;
  const named = isRecord(json) ? json['_name_or_path'] : undefined;
  if (typeof named === 'string' && named.trim() !== '') return basename(named.trim());
  return config.modelType;
}

/** Opens a Hugging Face decoder-only transformer folder whose config.json is `configFile`. */
export async function openHfTransformer(configFile: InputFile, files: readonly InputFile[]): Promise<OpenedModel> {
  const { bytes, config } = await readConfig(configFile);
  const weights = await readWeights(files, configFile, config);
  const tokenizer = await readTokenizer(files, dirname(configFile.path), config);
  const transformer: TransformerPayload = { config, tensors: weights.tensors, configJson: parseJsonBytes(bytes) };
  if (tokenizer !== undefined) transformer.tokenizer = tokenizer;
  return {
    format: 'hf-transformer',
    name: transformerName(configFile.path, parseJsonBytes(bytes), config),
    artifacts: { format: 'hf-transformer' },
    sha256: await sha256Hex(bytes),
    files: [configFile.path, ...weights.files, ...(tokenizer ? [tokenizer.file] : [])],
    transformer,
  };
}

export const hfTransformerFormat: ModelFormat = {
  name: 'hf-transformer',
  match(files: readonly InputFile[], context?: MatchContext): boolean {
    return configCandidates(files, (file) => context?.json(file.path)).length > 0;
  },
  async open(files: readonly InputFile[]): Promise<OpenedModel> {
    const parsed = new Map<InputFile, unknown>();
    for (const file of files.filter(isConfigFile)) parsed.set(file, await readJson(file));
    const [configFile] = configCandidates(files, (file) => parsed.get(file));
    if (configFile === undefined) {
      throw new NoModelFoundError(
        files.map((f) => f.path),
        `a Hugging Face model folder: config.json (model_type ${Object.keys(SUPPORTED_MODEL_TYPES).join(', ')}) with *.safetensors`,
      );
    }
    return openHfTransformer(configFile, files);
  },
};
