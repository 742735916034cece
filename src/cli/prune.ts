import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { allocate } from '../core/allocate/registry';
import type { AllocationUnit, SensitivityCurves } from '../core/allocate/types';
import { getCriterion } from '../core/criteria/registry';
import { CRITERIA, GRANULARITIES, type CriterionKey, type Granularity, type LayerKind } from '../core/criteria/types';
import { ArchitectureMismatchError, dare, unitSeed } from '../core/delta/dare';
import { searchRescale } from '../core/delta/darex';
import { parseNMPattern } from '../core/masks';
import { ALLOCATIONS, type AllocationKey, type PruningPlan } from '../core/plan';
import { SWEEP_METRICS } from '../core/sweep/metric';
import type { UnitInfo } from '../core/types';
import type { ExportFile } from '../io/export';
import { isRecord } from '../io/input-file';
import { filesFromPath } from '../io/node-files';
import { openModel, splitDrop } from '../io/open';
import { checkRecipeWeights, parseRecipe, planFromRecipe, recipeFromPlan, recipeJson, type Recipe } from '../io/recipe';
import type { InputFile, OpenedModel } from '../io/types';
import { choiceOption, numberOption, stringOption, UsageError, type ParsedArgs } from './args';
import { startBackend } from './backend';
import { modelPath, warn, type Output } from './load';
import { nonFiniteWeightWarnings } from '../io/warnings';
import { graphBaseKernels, graphSubject } from './prune-graph';
import { layersBaseKernels, layersSubject } from './prune-layers';
import type { KernelSource, PruneSubject } from './prune-subject';
import { transformerBaseKernels, transformerSubject } from './prune-transformer';

const LAYER_KINDS: readonly LayerKind[] = ['dense', 'conv', 'depthwise'];
/** Options that choose what to prune; a recipe chooses all of them. */
const PLAN_OPTIONS = ['sparsity', 'allocation', 'criterion', 'granularity', 'remove', 'dare', 'rescale', 'sweep'];

interface DareRequest {
  basePath: string;
  p: number;
  /** A fixed q, `auto` for the DAREx-q search, or 1 − p when absent. */
  rescale?: number | 'auto';
}

interface PruneArgs {
  outDir: string;
  recipePath?: string;
  basePath?: string;
  target: number;
  allocation: AllocationKey;
  criterion: CriterionKey;
  granularity: Granularity;
  removeSteps: number;
  dare?: DareRequest;
  sweepPath?: string;
  seed: number;
  float16: boolean;
}

function shareOption(args: ParsedArgs, key: string, range: string, fits: (n: number) => boolean): number | undefined {
  if (stringOption(args, key) === undefined) return undefined;
  const value = numberOption(args, key, NaN);
  if (!fits(value)) throw new UsageError(`--${key} expects a number in ${range}, got ${value}`);
  return value;
}

function integerOption(args: ParsedArgs, key: string, fallback: number): number {
  const value = numberOption(args, key, fallback);
  if (!Number.isInteger(value) || value < 0) throw new UsageError(`--${key} expects a non-negative integer, got ${value}`);
  return value;
}

function switchOption(args: ParsedArgs, key: string): boolean {
  const value = args.options.get(key);
  if (value === undefined || value === 'false') return false;
  if (value === true || value === 'true') return true;
  throw new UsageError(`--${key} takes no value (got "${value}"): put it after <model>`);
}

function dareRequest(args: ParsedArgs, basePath: string | undefined): DareRequest | undefined {
  const p = shareOption(args, 'dare', '[0, 1)', (n) => n >= 0 && n < 1);
  const rescaleText = stringOption(args, 'rescale');
  if (p === undefined) {
    if (basePath !== undefined) throw new UsageError('--base needs --dare P (the drop probability of the deltas)');
    if (rescaleText !== undefined) throw new UsageError('--rescale goes with --base B --dare P');
    return undefined;
  }
  if (basePath === undefined) throw new UsageError('--dare needs --base B (the model the deltas are taken against)');
  if (rescaleText === undefined || rescaleText === 'auto') return { basePath, p, ...(rescaleText === 'auto' && { rescale: 'auto' as const }) };
  const q = shareOption(args, 'rescale', '(0, 1] or "auto"', (n) => n > 0 && n <= 1) as number;
  return { basePath, p, rescale: q };
}

/** Reads and checks the options before anything is loaded. */
function pruneArgs(args: ParsedArgs): PruneArgs {
  const outDir = stringOption(args, 'out');
  if (outDir === undefined) throw new UsageError('lopper prune: --out <folder> is required (the pruned model and recipe.json go there)');
  const recipePath = stringOption(args, 'recipe');
  const basePath = stringOption(args, 'base');
  const seedValue = numberOption(args, 'seed', 0);
  if (!Number.isInteger(seedValue)) throw new UsageError(`--seed expects an integer, got ${seedValue}`);
  const common = { outDir, basePath, seed: seedValue, float16: switchOption(args, 'float16') };
  if (recipePath !== undefined) {
    const mixed = PLAN_OPTIONS.filter((key) => args.options.has(key));
    if (mixed.length > 0) throw new UsageError(`--recipe replays a recipe as it is; drop ${mixed.map((key) => `--${key}`).join(', ')}`);
    return { ...common, recipePath, target: 0, allocation: 'uniform', criterion: 'magnitude', granularity: 'unstructured', removeSteps: 0 };
  }
  const target = shareOption(args, 'sparsity', '[0, 1]', (n) => n >= 0 && n <= 1);
  if (target === undefined) throw new UsageError('lopper prune: give --sparsity S (with --allocation, --criterion, ...) or --recipe R');
  const criterion = choiceOption(args, 'criterion', CRITERIA) ?? 'magnitude';
  const granularity = choiceOption(args, 'granularity', GRANULARITIES) ?? 'unstructured';
  const allocation = choiceOption(args, 'allocation', ALLOCATIONS) ?? 'uniform';
  const refusals = LAYER_KINDS.map((kind) => getCriterion(criterion).supports(kind, granularity)).filter((r): r is string => r !== true);
  if (refusals.length === LAYER_KINDS.length) throw new UsageError(refusals[0]);
  const pattern = parseNMPattern(granularity);
  if (pattern && allocation !== 'uniform')
    throw new UsageError(`--granularity ${granularity} prunes every unit at ${pattern.n}/${pattern.m}; --allocation ${allocation} does not apply`);
  if (pattern && target !== 0 && Math.abs(target - pattern.n / pattern.m) > 1e-9) {
    throw new UsageError(`--granularity ${granularity} prunes exactly ${pattern.n} of every ${pattern.m} weights: pass --sparsity ${pattern.n / pattern.m}`);
  }
  const sweepPath = stringOption(args, 'sweep');
  if (sweepPath !== undefined && allocation !== 'sensitivity') throw new UsageError('--sweep F is read by --allocation sensitivity only');
  if (allocation === 'sensitivity' && sweepPath === undefined && stringOption(args, 'data') === undefined) {
    throw new UsageError('--allocation sensitivity needs labelled --data to run its sweep on, or a saved sweep with --sweep F');
  }
  const dareOptions = dareRequest(args, basePath);
  return { ...common, target, criterion, granularity, allocation, removeSteps: integerOption(args, 'remove', 0), sweepPath, ...(dareOptions && { dare: dareOptions }) };
}

async function readJsonFile(path: string): Promise<unknown> {
  const text = await readFile(path, 'utf8');
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new UsageError(`${path} is not valid JSON`);
  }
}

/** A saved sweep (`lopper sweep`'s JSON): the curves the sensitivity allocation reads; null cells are NaN. */
async function readSweep(path: string): Promise<SensitivityCurves> {
  const json = await readJsonFile(path);
  const fail = (what: string): never => {
    throw new UsageError(`${path} is not a sweep file: ${what}`);
  };
  if (!isRecord(json)) return fail('expected a JSON object');
  const { layers, sparsities, values, dense, metric } = json;
  if (!Array.isArray(layers) || !layers.every((l) => typeof l === 'string')) return fail('"layers" must be a list of unit names');
  if (!Array.isArray(sparsities) || !sparsities.every((s) => typeof s === 'number')) return fail('"sparsities" must be a list of numbers');
  if (!Array.isArray(values) || values.length !== layers.length || !values.every((row) => Array.isArray(row) && row.length === sparsities.length)) {
    return fail('"values" must hold one row per layer and one value per sparsity');
  }
  const curveMetric = SWEEP_METRICS.find((m) => m === metric);
  if (curveMetric === undefined || typeof dense !== 'number') return fail(`"metric" must be one of ${SWEEP_METRICS.join(', ')} and "dense" a number`);
  const rows = (values as unknown[][]).map((row) => row.map((v) => (typeof v === 'number' ? v : NaN)));
  return { layers: layers as string[], sparsities: sparsities as number[], values: rows, dense, metric: curveMetric };
}

/** The model's files as the command line reads them, and the model opened from them. */
async function openPath(path: string): Promise<{ files: InputFile[]; opened: OpenedModel }> {
  const files = (await splitDrop(await filesFromPath(path))).modelFiles;
  const opened = await openModel(files);
  for (const message of nonFiniteWeightWarnings(opened)) warn(message);
  return { files, opened };
}

async function openSubject(args: ParsedArgs): Promise<PruneSubject> {
  const { files, opened } = await openPath(modelPath(args));
  if (opened.transformer !== undefined) return transformerSubject(opened, files, args);
  return opened.format === 'graph-model' ? graphSubject(opened, args) : layersSubject(opened, args);
}

/** DARE on the kernels of every unit: W_base + δ' with each δ dropped with probability p, the kept ones × 1/q. */
async function dareKernels(fine: PruneSubject, base: KernelSource, p: number, q: number, seed: number): Promise<Map<string, Float32Array>> {
  const kernels = new Map<string, Float32Array>();
  for (const unit of fine.units()) {
    const kernel = base.getKernel(unit.name);
    const baseValues = (await kernel.data()) as Float32Array;
    kernel.dispose();
    kernels.set(unit.name, dare(baseValues, await fine.readKernel(unit.name), { p, q, seed: unitSeed(seed, unit.name) }));
  }
  return kernels;
}

function checkSameUnits(fine: readonly UnitInfo[], base: readonly UnitInfo[], baseName: string): void {
  const text = (shape: readonly number[]): string => `[${shape.join(', ')}]`;
  const shapes = new Map(base.map((unit) => [unit.name, text(unit.shape)]));
  const differing = fine
    .filter((unit) => shapes.get(unit.name) !== text(unit.shape))
    .map((unit) => `${unit.name} is ${text(unit.shape)} here, ${shapes.get(unit.name) ?? 'missing'} in the base`);
  const extra = base.filter((unit) => !fine.some((u) => u.name === unit.name)).map((unit) => `${unit.name} is only in the base`);
  const problems = [...differing, ...extra];
  if (problems.length > 0) {
    throw new ArchitectureMismatchError(
      `--base ${baseName} is not the same architecture: ${problems.slice(0, 3).join('; ')}${problems.length > 3 ? ` and ${problems.length - 3} more` : ''}`,
    );
  }
}

/** Opens the DARE base, checks it matches the model, and returns its SHA-256 with its kernels. */
async function openBase(subject: PruneSubject, path: string): Promise<{ sha256: string; base: KernelSource }> {
  const { opened } = await openPath(path);
  if (opened.format !== subject.opened.format) throw new ArchitectureMismatchError(`--base ${opened.name} is a ${opened.format}, the model a ${subject.opened.format}`);
  const base =
    opened.transformer !== undefined
      ? transformerBaseKernels(opened.transformer)
      : opened.format === 'graph-model'
        ? await graphBaseKernels(opened)
        : await layersBaseKernels(opened);
  try {
    checkSameUnits(subject.units(), base.units(), opened.name);
  } catch (error) {
    base.dispose();
    throw error;
  }
  return { sha256: opened.sha256, base };
}

const log = (message: string): void => {
  process.stderr.write(`lopper prune: ${message}\n`);
};

/** DARE (or DAREx-q) against the base, set on the model; the `dare` entry of the plan. */
async function applyDare(
  subject: PruneSubject,
  request: { basePath: string; p: number; rescale?: number | 'auto'; sha256?: string },
  seed: number,
): Promise<NonNullable<PruningPlan['dare']>> {
  const { sha256, base } = await openBase(subject, request.basePath);
  try {
    if (request.sha256 !== undefined && request.sha256 !== sha256) {
      throw new Error(`the recipe's DARE base has SHA-256 ${request.sha256.slice(0, 12)}…, --base ${request.basePath} has ${sha256.slice(0, 12)}…`);
    }
    const { p } = request;
    let q = typeof request.rescale === 'number' ? request.rescale : p === 0 ? 1 : 1 - p;
    if (request.rescale === 'auto') {
      const search = await searchRescale(p, async (candidate) => subject.deltaObjective(await dareKernels(subject, base, p, candidate, seed)), {
        onProgress: (point, done, total) => log(`DAREx-q ${done}/${total}: q ${point.q.toFixed(4)} → ${point.value.toPrecision(5)}`),
      });
      q = search.q;
    }
    for (const [unit, values] of await dareKernels(subject, base, p, q, seed)) subject.setKernel(unit, values);
    return { base: sha256, p, q };
  } finally {
    base.dispose();
  }
}

/** The per-unit sparsities of the plan: N:M on every live unit, else the allocation over the live units. */
async function allocateUnits(subject: PruneSubject, plan: PruningPlan, sweepPath: string | undefined): Promise<Record<string, number>> {
  const live = subject.liveUnits(plan.removed);
  const pattern = parseNMPattern(plan.granularity);
  if (pattern) return Object.fromEntries(live.map((unit) => [unit.name, plan.target > 0 ? pattern.n / pattern.m : 0]));
  if (plan.allocation === 'sensitivity' && sweepPath === undefined && !subject.labelled) {
    throw new UsageError('--allocation sensitivity needs labelled --data (or text) to run its sweep on, or a saved sweep with --sweep F');
  }
  const sweep = sweepPath === undefined ? undefined : await readSweep(sweepPath);
  const units: AllocationUnit[] = live.map((unit) => ({ name: unit.name, size: unit.size }));
  const extra = await subject.allocationInput(
    plan,
    units.map((u) => u.name),
    sweep,
  );
  const result = allocate(plan.allocation, { ...extra, units, target: plan.target, locked: {} });
  if (result.note !== undefined) log(result.note);
  return result.sparsity;
}

/** The plan a recipe replays, with the data and model it was made with checked against these. */
function replayPlan(recipe: Recipe, subject: PruneSubject, path: string): PruningPlan {
  const plan = planFromRecipe(recipe);
  if (recipe.model.sha256 !== subject.opened.sha256)
    log(`${path} was made for ${recipe.model.name} (SHA-256 ${recipe.model.sha256.slice(0, 12)}…); replaying it on ${subject.opened.name}`);
  if (recipe.dataHash !== subject.dataHash) {
    if (getCriterion(plan.criterion).needs !== 'none') {
      throw new Error(
        `${path} was calibrated on data ${recipe.dataHash}, this run has ${subject.dataHash}: pass the same --data (or --samples/--seed) to replay ${plan.criterion} exactly`,
      );
    }
    log(`${path} was evaluated on data ${recipe.dataHash}; the metrics here are on ${subject.dataHash}`);
  }
  const candidates = new Set(subject.removalCandidates());
  const unknown = plan.removed.filter((name) => !candidates.has(name));
  if (unknown.length > 0) throw new Error(`${path} removes ${unknown.join(', ')}, which ${subject.opened.name} does not have as removal candidates`);
  return plan;
}

/** A data-free replay uses the recipe's seed and sample count unless they are given. */
function argsForRecipe(args: ParsedArgs, recipe: Recipe): ParsedArgs {
  const synthetic = /^synthetic:(-?\d+):(\d+)$/.exec(recipe.dataHash);
  if (synthetic === null || args.options.has('data')) return args;
  const options = new Map(args.options);
  if (!options.has('seed')) options.set('seed', synthetic[1]);
  if (!options.has('samples')) options.set('samples', synthetic[2]);
  return { ...args, options };
}

/**
 * Removes the model files an earlier export left in `dir` that this one does not overwrite: stale
 * shards or another format's model beside the new one would break opening the folder.
 */
async function clearStaleExport(dir: string, files: readonly ExportFile[]): Promise<void> {
  const written = new Set(files.map((f) => f.path));
  const stale = /^group\d+-shard\d+of\d+\.bin$|\.safetensors$|^model\.safetensors\.index\.json$|^(model|config|tokenizer|char-tokenizer)\.json$/;
  for (const name of await readdir(dir)) if (stale.test(name) && !written.has(name)) await rm(join(dir, name));
}

async function writeExport(dir: string, files: readonly ExportFile[], recipe: Recipe): Promise<void> {
  const target = resolve(dir);
  await mkdir(target, { recursive: true });
  await clearStaleExport(target, files);
  for (const file of files) await writeFile(join(target, file.path), file.bytes);
  await writeFile(join(target, 'recipe.json'), recipeJson(recipe));
}

/**
 * `lopper prune <model> [--data D] (--recipe R | --sparsity S [--allocation A] [--criterion C]
 * [--granularity G] [--remove N] [--base B --dare P [--rescale Q|auto]]) [--sweep F] [--seed S]
 * [--float16] --out DIR` (DESIGN §6): DARE against the base, FinerCut removal, allocation, the
 * criterion on every unit, then the model written in its input format with `recipe.json` into DIR.
 * The pruned metrics are those of the written files opened again. Progress goes to stderr.
 */
export async function prune(args: ParsedArgs, out: Output): Promise<void> {
  const options = pruneArgs(args);
  const started = performance.now();
  const backend = await startBackend(stringOption(args, 'backend'));
  const recipe = options.recipePath === undefined ? undefined : parseRecipe(await readJsonFile(options.recipePath), options.recipePath);
  if (recipe?.dare !== undefined && options.basePath === undefined) throw new UsageError(`${options.recipePath} prunes DARE deltas: pass their base model with --base B`);
  if (recipe !== undefined && recipe.dare === undefined && options.basePath !== undefined) throw new UsageError(`${options.recipePath} holds no DARE step: drop --base`);
  const subject = await openSubject(recipe === undefined ? args : argsForRecipe(args, recipe));
  try {
    if (recipe !== undefined) await checkRecipeWeights(recipe, subject.opened, options.recipePath ?? 'recipe.json');
    const dense = await subject.evaluate();
    let plan: PruningPlan;
    if (recipe !== undefined) {
      plan = replayPlan(recipe, subject, options.recipePath ?? 'recipe.json');
      if (recipe.dare !== undefined)
        plan.dare = await applyDare(subject, { ...recipe.dare, basePath: options.basePath ?? '', rescale: recipe.dare.q, sha256: recipe.dare.base }, plan.seed);
    } else {
      const { criterion, granularity, allocation, target, seed } = options;
      plan = { criterion, granularity, allocation, target, sparsity: {}, locked: [], removed: [], seed, dataHash: subject.dataHash };
      if (options.dare !== undefined) plan.dare = await applyDare(subject, options.dare, seed);
      if (options.removeSteps > 0) {
        plan.removed = await subject.greedyRemoval(options.removeSteps, (name, value, i) => log(`removed ${i + 1}/${options.removeSteps} ${name} (js ${value.toPrecision(4)})`));
      }
      plan.sparsity = await allocateUnits(subject, plan, options.sweepPath);
    }
    const applied = await subject.apply(plan);
    for (const { unit, reason } of applied.skipped) log(`${unit} left as it is: ${reason}`);
    for (const [unit, values] of applied.kernels) subject.setKernel(unit, values);
    const sparsity = await subject.achievedSparsity(plan.removed);
    const checked = await subject.evaluateWritten(await subject.write(plan.removed, { float16: options.float16 }));
    const written = recipeFromPlan(plan, subject.opened, { dense, pruned: checked.metrics });
    await writeExport(options.outDir, await subject.write(plan.removed, { float16: options.float16, recipe: written }), written);
    const seconds = (performance.now() - started) / 1000;
    out.print({
      sparsity,
      params: checked.params,
      removed: plan.removed,
      metrics: { dense, pruned: checked.metrics },
      ...(plan.dare !== undefined && { dare: plan.dare }),
      dataHash: subject.dataHash,
      backend,
      out: options.outDir,
      seconds,
    });
  } finally {
    subject.dispose();
  }
}
