import { mkdir, open, stat, writeFile, type FileHandle } from 'node:fs/promises';
import { dirname as parentOf, join, resolve } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { allocate } from '../core/allocate/registry';
import { parseNMPattern } from '../core/masks';
import { syntheticTokens, type TokenData } from '../core/pipeline/data';
import type { PruningPlan } from '../core/plan';
import { FINERCUT_SAMPLES } from '../core/removal';
import { createTokenizer } from '../core/tokenizer';
import type { TransformerConfig } from '../core/transformer/config';
import { canonicalName, isBufferName, parameterSpecs, projectionSpecs } from '../core/transformer/parameters';
import { LopperInputError } from '../io/errors';
import { ecosystemExport, type EcosystemExport } from '../io/ecosystem';
import { hfConfigBytes, hfExportLayout, hfTokenizerFile, safetensorsLayout } from '../io/export';
import { sha256Hex } from '../io/hash';
import { checkWeightShapes, readConfig, readTokenizer, transformerName } from '../io/hf-transformer';
import { basename, dirname, parseJsonBytes } from '../io/input-file';
import { filesFromPath } from '../io/node-files';
import { RecipeWeightsError, parseRecipe, pickMetrics, planFromRecipe, recipeFromPlan, recipeJson } from '../io/recipe';
import { decodeEntry, parseSafetensorsHeader, parseSafetensorsIndex, safetensorsHeaderLength, SAFETENSORS_INDEX, type SafetensorsEntry } from '../io/safetensors';
import { tokenizeText } from '../io/text';
import type { InputFile } from '../io/types';
import { transformerParamsLeft } from '../kinds/hf-transformer/params';
import { streamMemoryBytes, streamPrune, type StreamSource } from '../kinds/hf-transformer/stream';
import { numberOption, stringOption, UsageError, type ParsedArgs } from './args';
import { startBackend } from './backend';
import { modelPath, warn, type Output } from './load';
import { argsForRecipe, readJsonFile, type PruneArgs } from './recipe-args';

/**
 * A full garbage collection, where the runtime lets one be asked for: a streamed prune frees each
 * block's arrays as it goes, and collecting them between blocks keeps what is resident near what is live.
 */
const collectGarbage: () => void = (() => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as unknown;
  return typeof gc === 'function' ? (gc as () => void) : () => undefined;
})();

const log = (message: string): void => {
  process.stderr.write(`lopper prune: ${message}\n`);
};

/** `--max-memory` in bytes: a number, optionally with a unit (k, M, G; powers of 1024), e.g. 512M. */
export function parseBytes(text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([kKmMgG]?)i?[bB]?\s*$/.exec(text);
  if (match === null) throw new UsageError(`--max-memory expects bytes, e.g. 2000000000, 512M or 2G, got "${text}"`);
  const scale = { '': 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30 }[match[2].toLowerCase() as '' | 'k' | 'm' | 'g'];
  return Math.floor(Number(match[1]) * scale);
}

function formatBytes(bytes: number): string {
  return bytes >= 2 ** 30 ? `${(bytes / 2 ** 30).toFixed(2)} GiB` : `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}

interface TensorAt {
  handle: FileHandle;
  path: string;
  entry: SafetensorsEntry;
  dataStart: number;
}

/** A folder's safetensors files read by byte range: the headers now, each tensor when asked. */
class SafetensorsRanges implements StreamSource {
  readonly shapes = new Map<string, readonly number[]>();
  private readonly at = new Map<string, TensorAt>();
  private readonly handles: FileHandle[] = [];

  static async open(files: readonly InputFile[], folder: string, config: TransformerConfig, onDisk: (file: InputFile) => string): Promise<SafetensorsRanges> {
    const ranges = new SafetensorsRanges();
    try {
      const siblings = files.filter((file) => dirname(file.path) === folder);
      const index = siblings.find((file) => basename(file.path) === SAFETENSORS_INDEX);
      let shards = siblings.filter((file) => file.path.toLowerCase().endsWith('.safetensors'));
      let listed: Map<string, string> | undefined;
      if (index !== undefined) {
        listed = parseSafetensorsIndex(parseJsonBytes(await index.bytes()), index.path);
        const names = new Set(listed.values());
        shards = shards.filter((file) => names.has(basename(file.path)));
      }
      const sources = new Map<string, string>();
      for (const shard of shards)
        await ranges.readHeader(
          shard.path,
          onDisk(shard),
          config,
          sources,
          listed && new Set([...listed].filter(([, file]) => file === basename(shard.path)).map(([name]) => name)),
        );
      checkWeightShapes(
        config,
        new Map([...ranges.shapes].map(([name, shape]) => [name, { shape }])),
        sources,
        shards.map((file) => file.path),
      );
      return ranges;
    } catch (error) {
      await ranges.close();
      throw error;
    }
  }

  async read(name: string): Promise<Float32Array> {
    const at = this.at.get(name);
    if (at === undefined) throw new Error(`no tensor named ${name} in the checkpoint`);
    const length = at.entry.end - at.entry.begin;
    const bytes = new Uint8Array(length);
    const { bytesRead } = await at.handle.read(bytes, 0, length, at.dataStart + at.entry.begin);
    if (bytesRead !== length) throw new LopperInputError({ file: at.path, message: `ends inside tensor "${name}"`, expected: `${length} bytes`, actual: `${bytesRead} bytes` });
    // The bytes were read into a buffer of their own: F32 values are read in place.
    if (at.entry.dtype === 'F32') return new Float32Array(bytes.buffer, 0, length / 4);
    return decodeEntry(bytes, { ...at.entry, begin: 0, end: length }, 0, at.path, name);
  }

  async close(): Promise<void> {
    await Promise.all(this.handles.map((handle) => handle.close()));
    this.handles.length = 0;
  }

  private async readHeader(path: string, diskPath: string, config: TransformerConfig, sources: Map<string, string>, only: ReadonlySet<string> | undefined): Promise<void> {
    const handle = await open(diskPath, 'r');
    this.handles.push(handle);
    const { size } = await handle.stat();
    const prefix = new Uint8Array(8);
    await handle.read(prefix, 0, Math.min(8, size), 0);
    const headerLength = safetensorsHeaderLength(prefix, path, size);
    const head = new Uint8Array(8 + headerLength);
    await handle.read(head, 0, head.length, 0);
    const header = parseSafetensorsHeader(head, path, size);
    for (const [raw, entry] of header.entries) {
      if (isBufferName(raw) || (only !== undefined && !only.has(raw))) continue;
      const name = canonicalName(config, raw);
      if (this.at.has(name)) throw new LopperInputError({ file: path, message: `tensor "${raw}" is also in another .safetensors file of the folder` });
      this.at.set(name, { handle, path, entry, dataStart: header.dataStart });
      this.shapes.set(name, entry.shape);
      sources.set(name, path);
    }
  }
}

/** The data a streamed prune runs on, as `openSession` gives it: text tokenized with the model's tokenizer, or seeded synthetic windows. */
async function streamData(args: ParsedArgs, config: TransformerConfig, tokenizer: { file: string; json: unknown } | undefined): Promise<TokenData> {
  const dataPath = stringOption(args, 'data');
  if (dataPath === undefined) {
    const samples = numberOption(args, 'samples', FINERCUT_SAMPLES);
    if (!Number.isInteger(samples) || samples < 1) throw new UsageError(`--samples expects an integer ≥ 1, got ${samples}`);
    const seed = numberOption(args, 'seed', 0);
    if (!Number.isInteger(seed)) throw new UsageError(`--seed expects an integer, got ${seed}`);
    return syntheticTokens({ contextLength: config.contextLength, vocabSize: config.vocabSize }, samples, seed);
  }
  if (!dataPath.toLowerCase().endsWith('.txt')) throw new UsageError(`--data for a language model is a .txt file, got ${dataPath}`);
  if (tokenizer === undefined) {
    throw new LopperInputError({
      file: dataPath,
      message: 'cannot be tokenized: the model came without a tokenizer',
      expected: 'tokenizer.json or char-tokenizer.json beside config.json',
    });
  }
  const [file] = await filesFromPath(dataPath);
  const bytes = await file.bytes();
  const ids = tokenizeText(file.path, bytes, createTokenizer(tokenizer.json));
  const outside = ids.findIndex((id) => id < 0 || id >= config.vocabSize);
  if (outside >= 0) throw new Error(`${file.path}: token id ${ids[outside]} at position ${outside} is outside the vocabulary (${config.vocabSize} tokens)`);
  return { kind: 'tokens', source: file.path, hash: await sha256Hex(bytes), ids, synthetic: false };
}

/** Refuses what a streamed prune cannot do: it runs no search and holds no second model. */
function refuseUnstreamable(options: PruneArgs): void {
  if (options.dare !== undefined || options.basePath !== undefined)
    throw new UsageError('--stream prunes one model block by block: --base/--dare (DARE) needs both models in memory');
  if (options.removeSteps > 0) throw new UsageError('--stream runs no removal search: drop --remove N, or replay a recipe that names the removed sublayers with --recipe R');
  if (options.recipePath === undefined && options.allocation !== 'uniform') {
    throw new UsageError(
      `--stream allocates uniformly: --allocation ${options.allocation} reads the whole model; run it in memory once and replay its recipe.json with --stream --recipe R`,
    );
  }
}

/** The weights digest `openModel` gives (`weightsDigest` in io/hash.ts) from each tensor's digest. */
async function digestOf(digests: ReadonlyMap<string, string>, shapes: ReadonlyMap<string, readonly number[]>): Promise<string> {
  const names = [...digests.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const entries = names.map((name) => [name, 'float32', [...(shapes.get(name) ?? [])], digests.get(name)]);
  return sha256Hex(new TextEncoder().encode(JSON.stringify(entries)));
}

/** Each tensor's digest, read one at a time (a replayed recipe is checked against the weights before anything is written). */
async function tensorDigests(source: StreamSource): Promise<Map<string, string>> {
  const digests = new Map<string, string>();
  for (const name of source.shapes.keys()) {
    const values = await source.read(name);
    digests.set(name, await sha256Hex(new Uint8Array(values.buffer, values.byteOffset, values.byteLength)));
  }
  return digests;
}

/**
 * `lopper prune <hf-folder> … --stream [--max-memory BYTES]` (DESIGN §6): the model is never held whole.
 * Headers are read first; model.safetensors is laid out from them, and each block is read by byte range,
 * pruned, written at its place and freed (`streamPrune`). The output is the in-memory prune's, byte for
 * byte: config.json, model.safetensors, the tokenizer, recipe.json and the ecosystem files.
 */
export async function pruneStreamed(args: ParsedArgs, options: PruneArgs, out: Output): Promise<void> {
  const started = performance.now();
  refuseUnstreamable(options);
  const limitText = stringOption(args, 'max-memory');
  const limit = limitText === undefined ? undefined : parseBytes(limitText);
  const backend = await startBackend(stringOption(args, 'backend'));
  const baselineRss = process.memoryUsage().rss;
  const path = modelPath(args);
  if (path.toLowerCase().endsWith('.zip')) throw new UsageError(`--stream reads the safetensors by byte range: unpack ${path} into a folder first`);
  const files = await filesFromPath(path);
  const absolute = resolve(path);
  const root = (await stat(absolute)).isDirectory() ? absolute : parentOf(absolute);
  const onDisk = (file: InputFile): string => join(parentOf(root), file.path);
  const configFile = files.find((file) => basename(file.path) === 'config.json');
  if (configFile === undefined) throw new UsageError(`--stream prunes a Hugging Face folder (config.json + *.safetensors); ${path} holds no config.json`);
  const folder = dirname(configFile.path);
  const { bytes: configBytes, config } = await readConfig(configFile);
  const configJson = parseJsonBytes(configBytes);
  const tokenizer = await readTokenizer(files, folder, config);
  const name = transformerName(configFile.path, configJson, config);
  const recipe = options.recipePath === undefined ? undefined : parseRecipe(await readJsonFile(options.recipePath), options.recipePath);
  const source = await SafetensorsRanges.open(files, folder, config, onDisk);
  try {
    const data = await streamData(recipe === undefined ? args : argsForRecipe(args, recipe), config, tokenizer);
    const modelInfo = { format: 'hf-transformer' as const, name, sha256: await sha256Hex(configBytes) };
    let plan: PruningPlan;
    if (recipe !== undefined) {
      if (recipe.dare !== undefined) throw new UsageError(`${options.recipePath} prunes DARE deltas, which --stream does not do (it holds one model)`);
      plan = planFromRecipe(recipe);
      if (recipe.dataHash !== data.hash) {
        throw new Error(`${options.recipePath} was made on data ${recipe.dataHash}, this run has ${data.hash}: pass the same --data (or --samples/--seed)`);
      }
    } else {
      const units = unitsOf(config);
      plan = {
        criterion: options.criterion,
        granularity: options.granularity,
        allocation: 'uniform',
        target: options.target,
        sparsity: {},
        locked: [],
        removed: [],
        seed: options.seed,
        dataHash: data.hash,
      };
      const pattern = parseNMPattern(plan.granularity);
      plan.sparsity = pattern
        ? Object.fromEntries(units.map((unit) => [unit.name, plan.target > 0 ? pattern.n / pattern.m : 0]))
        : allocate('uniform', { units, target: plan.target, locked: {} }).sparsity;
    }
    const needed = streamMemoryBytes(config, data, plan.criterion);
    if (limit !== undefined && limit < needed) {
      throw new UsageError(
        `--max-memory ${formatBytes(limit)} is below what one block of ${name} needs with its calibration activations (${formatBytes(needed)}); allow at least ${needed}`,
      );
    }
    log(`streaming ${config.layers} blocks; holds at most about ${formatBytes(needed)}${limit === undefined ? '' : ` (limit ${formatBytes(limit)})`}`);
    const weightsSha256 = recipe?.model.weightsSha256 === undefined ? undefined : await digestOf(await tensorDigests(source), source.shapes);
    if (recipe?.model.weightsSha256 !== undefined && weightsSha256 !== recipe.model.weightsSha256) {
      throw new RecipeWeightsError({
        file: options.recipePath ?? 'recipe.json',
        message: `was made for weights ${recipe.model.weightsSha256} (${recipe.model.name}), this model's weights hash to ${weightsSha256} (${name}); replay it on the weights it was made for`,
        expected: recipe.model.weightsSha256,
        actual: weightsSha256,
        mismatchInMessage: true,
      });
    }
    const target = resolve(options.outDir);
    await mkdir(target, { recursive: true });
    const layout = hfExportLayout(config, plan.removed);
    const file = safetensorsLayout(layout.tensors, { float16: options.float16 });
    const offsets = new Map(file.ranges.map((range) => [range.name, range.begin + file.header.length]));
    const output = await open(join(target, 'model.safetensors'), 'w');
    let peakRss = process.memoryUsage().rss;
    let result;
    try {
      await output.write(file.header, 0, file.header.length, 0);
      result = await streamPrune(
        source,
        {
          write: async (tensor, bytes) => {
            await output.write(bytes, 0, bytes.length, offsets.get(tensor));
            peakRss = Math.max(peakRss, process.memoryUsage().rss);
          },
        },
        {
          config,
          plan,
          data,
          float16: options.float16,
          onProgress: (label, done, total) => {
            collectGarbage();
            log(`${label} (${done}/${total})`);
          },
        },
      );
      await output.truncate(file.header.length + file.dataBytes);
    } finally {
      await output.close();
    }
    for (const warning of result.warnings) warn(warning);
    for (const { unit, reason } of result.skipped) log(`${unit} left as it is: ${reason}`);
    const digest = weightsSha256 ?? (await digestOf(result.digests, source.shapes));
    const written = recipeFromPlan(plan, { ...modelInfo, weightsSha256: digest }, { dense: result.dense, pruned: result.pruned });
    const exportLayout = hfExportLayout(config, plan.removed, written);
    await writeFile(join(target, 'config.json'), hfConfigBytes(name, config, exportLayout, { configJson, float16: options.float16 }));
    const tokenizerFile = hfTokenizerFile(tokenizer === undefined ? undefined : { config, tensors: new Map(), tokenizer });
    if (tokenizerFile !== undefined) await writeFile(join(target, tokenizerFile.path), tokenizerFile.bytes);
    const ecosystem: EcosystemExport = ecosystemExport({
      format: 'hf-transformer',
      modelName: name,
      units: unitsOf(config).map(({ name: unit, size }) => ({ name: unit, size, layer: unit })),
      plan,
      ...(plan.target > 0 && { sensitivityAt: plan.target }),
    });
    for (const extra of ecosystem.files) await writeFile(join(target, extra.path), extra.bytes);
    for (const note of ecosystem.notes) log(note);
    await writeFile(join(target, 'recipe.json'), recipeJson(written));
    peakRss = Math.max(peakRss, process.resourceUsage().maxRSS * 1024);
    out.print({
      sparsity: result.liveSparsity,
      params: transformerParamsLeft(
        plan.removed,
        parameterCount(config),
        [...source.shapes].map(([tensor, shape]) => [tensor, shape.reduce((a, b) => a * b, 1)] as const),
      ),
      removed: plan.removed,
      metrics: { dense: pickMetrics(result.dense), pruned: pickMetrics(result.pruned) },
      dataHash: data.hash,
      backend,
      out: options.outDir,
      stream: { blocks: config.layers, estimatedBytes: needed, ...(limit !== undefined && { limitBytes: limit }), baselineRss, peakRss },
      seconds: (performance.now() - started) / 1000,
    });
  } finally {
    await source.close();
  }
}

/** The prunable units (projections) in execution order with their kernel sizes. */
function unitsOf(config: TransformerConfig): { name: string; size: number }[] {
  return projectionSpecs(config).map((spec) => ({ name: spec.unit, size: spec.inputs * spec.outputs }));
}

/** Parameters of the model (a tied embedding counted once), as `TransformerModel.parameterCount` counts them. */
function parameterCount(config: TransformerConfig): number {
  return parameterSpecs(config).reduce((sum, spec) => sum + spec.shape.reduce((a, b) => a * b, 1), 0);
}
