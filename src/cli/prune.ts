import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { SensitivityCurves } from '../core/allocate/types';
import { getCriterion } from '../core/criteria/registry';
import { CRITERIA, GRANULARITIES, type Granularity, type LayerKind } from '../core/criteria/types';
import { ArchitectureMismatchError } from '../core/delta/dare';
import { parseNMPattern } from '../core/masks';
import { checkExport } from '../core/pipeline/verify';
import { ALLOCATIONS, type PruningPlan } from '../core/plan';
import { DEFAULT_SPARSITIES } from '../core/sweep/engine';
import { SWEEP_METRICS } from '../core/sweep/metric';
import type { ExportFile } from '../io/export';
import { isRecord } from '../io/input-file';
import { checkRecipeWeights, parseRecipe, pickMetrics, planFromRecipe, recipeJson, type Recipe } from '../io/recipe';
import { ModelSession, sweepCurves, type JobContext, type PreparedExport } from '../session/session';
import type { SweepReport } from '../worker/protocol';
import { choiceOption, numberOption, stringOption, UsageError, type ParsedArgs } from './args';
import { startBackend } from './backend';
import { modelPath, openPath, warn, type Output } from './load';
import { pruneStreamed } from './prune-stream';
import { argsForRecipe, readJsonFile, type DareRequest, type PruneArgs } from './recipe-args';
import { openSession } from './session';

const LAYER_KINDS: readonly LayerKind[] = ['dense', 'conv', 'depthwise'];
/** Options that choose what to prune; a recipe chooses all of them. */
const PLAN_OPTIONS = ['sparsity', 'allocation', 'criterion', 'granularity', 'remove', 'dare', 'rescale', 'sweep'];

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

const log = (message: string): void => {
  process.stderr.write(`lopper prune: ${message}\n`);
};

/** A job that reports the long steps on stderr. */
const LOG_JOB: JobContext = { progress: () => undefined, cancelled: () => false };

/** Opens the DARE base and loads it into the session (same kind and architecture, checked there); its SHA-256. */
async function loadBase(session: ModelSession, path: string): Promise<string> {
  const opened = await openPath(path);
  try {
    return (await session.loadBase(opened)).sha256;
  } catch (error) {
    if (error instanceof ArchitectureMismatchError)
      throw new ArchitectureMismatchError(`--base ${error.message.startsWith(opened.name) ? '' : `${opened.name}: `}${error.message}`);
    throw error;
  }
}

/** DARE (or DAREx-q) against the base: the `dare` entry of the plan. */
async function dareStep(
  session: ModelSession,
  request: { basePath: string; p: number; rescale?: number | 'auto'; sha256?: string },
  seed: number,
): Promise<NonNullable<PruningPlan['dare']>> {
  const sha256 = await loadBase(session, request.basePath);
  if (request.sha256 !== undefined && request.sha256 !== sha256) {
    throw new Error(`the recipe's DARE base has SHA-256 ${request.sha256.slice(0, 12)}…, --base ${request.basePath} has ${sha256.slice(0, 12)}…`);
  }
  const { p } = request;
  let q = typeof request.rescale === 'number' ? request.rescale : p === 0 ? 1 : 1 - p;
  if (request.rescale === 'auto') {
    const job: JobContext = { progress: (_label, done, total) => log(`DAREx-q ${done}/${total}`), cancelled: () => false };
    q = (await session.searchRescale(p, seed, job)).q;
  }
  return { base: sha256, p, q };
}

/** The per-unit sparsities of the plan: N:M on every live unit, else the allocation over the live units (running the sensitivity sweep when it needs one). */
async function allocateUnits(session: ModelSession, plan: PruningPlan, sweepPath: string | undefined): Promise<{ sparsity: Record<string, number>; sweep?: SweepReport }> {
  let curves: SensitivityCurves | undefined;
  let report: SweepReport | undefined;
  if (plan.allocation === 'sensitivity' && !parseNMPattern(plan.granularity)) {
    if (sweepPath !== undefined) {
      curves = await readSweep(sweepPath);
      const json = (await readJsonFile(sweepPath)) as Partial<SweepReport>;
      if (typeof json.criterion === 'string' && typeof json.granularity === 'string') report = { ...(json as SweepReport), cancelled: false, skipped: json.skipped ?? [] };
    } else {
      if (!session.dataSummary().labelled) throw new UsageError('--allocation sensitivity needs labelled --data (or text) to run its sweep on, or a saved sweep with --sweep F');
      const units = session.kind.prunable.liveUnits(plan.removed).map((unit) => unit.name);
      log(`sensitivity sweep of ${units.length} units × ${DEFAULT_SPARSITIES.length} sparsities`);
      const sweep = await session.sweep(
        { criterion: plan.criterion, granularity: plan.granularity, sparsities: [...DEFAULT_SPARSITIES], metric: 'accuracy', seed: plan.seed },
        LOG_JOB,
        units,
      );
      curves = sweepCurves(sweep);
    }
  }
  const result = await session.allocate({ plan, allocate: true }, LOG_JOB, curves);
  if (result.note !== undefined) log(result.note);
  return { sparsity: result.sparsity, ...(report && { sweep: report }) };
}

/** The plan a recipe replays, with the data and model it was made with checked against these. */
function replayPlan(recipe: Recipe, session: ModelSession, path: string): PruningPlan {
  const plan = planFromRecipe(recipe);
  const dataHash = session.data.hash;
  if (recipe.model.sha256 !== session.opened.sha256)
    log(`${path} was made for ${recipe.model.name} (SHA-256 ${recipe.model.sha256.slice(0, 12)}…); replaying it on ${session.opened.name}`);
  if (recipe.dataHash !== dataHash) {
    if (getCriterion(plan.criterion).needs !== 'none') {
      throw new Error(
        `${path} was calibrated on data ${recipe.dataHash}, this run has ${dataHash}: pass the same --data (or --samples/--seed) to replay ${plan.criterion} exactly`,
      );
    }
    log(`${path} was evaluated on data ${recipe.dataHash}; the metrics here are on ${dataHash}`);
  }
  const candidates = new Set(session.summary.removalCandidates);
  const unknown = plan.removed.filter((name) => !candidates.has(name));
  if (unknown.length > 0) throw new Error(`${path} removes ${unknown.join(', ')}, which ${session.opened.name} does not have as removal candidates`);
  return plan;
}

/**
 * Removes the model files an earlier export left in `dir` that this one does not overwrite: stale
 * shards or another format's model beside the new one would break opening the folder.
 */
async function clearStaleExport(dir: string, files: readonly ExportFile[]): Promise<void> {
  const written = new Set(files.map((f) => f.path));
  const stale =
    /^group\d+-shard\d+of\d+\.bin$|\.safetensors$|^model\.safetensors\.index\.json$|^(model|config|tokenizer|char-tokenizer|node-data|node-data\.sensitivity)\.json$|^recipe\.llm-compressor\.yaml$|^sensitivity\.csv$/;
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
  if (switchOption(args, 'stream')) return pruneStreamed(args, options, out);
  if (args.options.has('max-memory')) throw new UsageError('--max-memory BYTES bounds a streamed prune: add --stream');
  const started = performance.now();
  const backend = await startBackend(stringOption(args, 'backend'));
  const recipe = options.recipePath === undefined ? undefined : parseRecipe(await readJsonFile(options.recipePath), options.recipePath);
  if (recipe?.dare !== undefined && options.basePath === undefined) throw new UsageError(`${options.recipePath} prunes DARE deltas: pass their base model with --base B`);
  if (recipe !== undefined && recipe.dare === undefined && options.basePath !== undefined) throw new UsageError(`${options.recipePath} holds no DARE step: drop --base`);
  const session = await openSession(recipe === undefined ? args : argsForRecipe(args, recipe), modelPath(args));
  try {
    if (recipe !== undefined) await checkRecipeWeights(recipe, session.opened, options.recipePath ?? 'recipe.json');
    const dense = await session.denseEvaluation();
    let plan: PruningPlan;
    let sweep: SweepReport | undefined;
    if (recipe !== undefined) {
      plan = replayPlan(recipe, session, options.recipePath ?? 'recipe.json');
      checkGranularity(session, plan.granularity);
      if (recipe.dare !== undefined)
        plan.dare = await dareStep(session, { ...recipe.dare, basePath: options.basePath ?? '', rescale: recipe.dare.q, sha256: recipe.dare.base }, plan.seed);
    } else {
      const { criterion, granularity, allocation, target, seed } = options;
      checkGranularity(session, granularity);
      plan = { criterion, granularity, allocation, target, sparsity: {}, locked: [], removed: [], seed, dataHash: session.data.hash };
      if (options.dare !== undefined) plan.dare = await dareStep(session, options.dare, seed);
      if (options.removeSteps > 0) plan.removed = await removeSteps(session, options.removeSteps);
      const allocated = await allocateUnits(session, plan, options.sweepPath);
      plan.sparsity = allocated.sparsity;
      sweep = allocated.sweep;
    }
    const prepared = await prepareAndWrite(session, { plan, float16: options.float16, ...(sweep && { sweep }) }, options.outDir);
    // The written files are measured on their own: the session's model is freed before they are built.
    await session.releaseModel();
    const reloaded = await session.evaluateOpened(await openPath(options.outDir));
    const check = checkExport(prepared.reference, reloaded);
    if (!check.ok) warn(`the written model measures ${check.metric} ${check.reloaded} where the plan gave ${check.inApp}`);
    out.print({
      sparsity: prepared.sparsity,
      params: prepared.params,
      removed: plan.removed,
      metrics: { dense: pickMetrics(dense), pruned: pickMetrics(reloaded) },
      ...(plan.dare !== undefined && { dare: plan.dare }),
      dataHash: session.data.hash,
      backend,
      out: options.outDir,
      seconds: (performance.now() - started) / 1000,
    });
  } finally {
    session.dispose();
  }
}

/** The export prepared and written into `dir`; what is returned no longer holds the files' bytes. */
async function prepareAndWrite(session: ModelSession, request: Parameters<ModelSession['prepareExport']>[0], dir: string): Promise<Omit<PreparedExport, 'files' | 'extras'>> {
  const { files, extras, ...prepared } = await session.prepareExport(request, LOG_JOB);
  for (const { unit, reason } of prepared.skipped) log(`${unit} left as it is: ${reason}`);
  for (const note of prepared.notes) log(note);
  await writeExport(dir, [...files, ...extras], prepared.recipe);
  return prepared;
}

/** FinerCut's greedy removal for `steps` steps over every candidate; the removed candidates in order. */
async function removeSteps(session: ModelSession, steps: number): Promise<string[]> {
  const candidates = session.summary.removalCandidates.length;
  const count = Math.min(steps, candidates);
  const report = await session.removal({ metric: 'js', steps: count, candidates: 'all' }, LOG_JOB);
  report.steps.forEach((step, i) => log(`removed ${i + 1}/${count} ${step.removed} (js ${step.scores[step.removed].toPrecision(4)})`));
  if (report.steps.length < steps) log(`${session.opened.name} has ${candidates} removal candidates; removed ${report.steps.length}`);
  return report.steps.map((step) => step.removed);
}

/** The capabilities refusal for a granularity the model's kind does not offer. */
function checkGranularity(session: ModelSession, granularity: Granularity): void {
  const capabilities = session.kind.capabilities;
  if (!capabilities.granularities.includes(granularity)) {
    throw new Error(`--granularity ${granularity}: ${capabilities.unavailable[granularity] ?? `not available for a ${session.opened.format}`}`);
  }
}
