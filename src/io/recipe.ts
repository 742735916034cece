import { CRITERIA, GRANULARITIES, type CriterionKey, type Granularity } from '../core/criteria/types';
import { ALLOCATIONS, type AllocationKey, type PruningPlan } from '../core/plan';
import type { Evaluation } from '../core/types';
import { LopperInputError } from './errors';
import { weightsDigest } from './hash';
import { LOPPER_VERSION } from './export/version';
import { isRecord } from './input-file';
import type { ModelFormatName, OpenedModel } from './types';

const MODEL_FORMATS: readonly ModelFormatName[] = ['layers-model', 'graph-model', 'hf-transformer'];
const METRIC_KEYS = ['accuracy', 'loss', 'perplexity', 'divergence', 'samples'] as const;

/** The metrics a recipe records for the dense and the pruned model (those that were measured). */
export type RecipeMetrics = Partial<Pick<Evaluation, (typeof METRIC_KEYS)[number]>>;

/** `recipe.json` (DESIGN §6): a pruning plan on disk, with what it was applied to and what it gave. */
export interface Recipe {
  lopper: string;
  model: {
    format: ModelFormatName;
    name: string;
    /** Of model.json or config.json. */
    sha256: string;
    /** Of the weights as opened (`weightsDigest`); absent in recipes written before it existed. */
    weightsSha256?: string;
    /** Per-sample shapes the model's dynamic inputs were given (GraphModels), by input name; absent for the defaults. */
    inputShapes?: Record<string, number[]>;
  };
  criterion: CriterionKey;
  granularity: Granularity;
  allocation: AllocationKey;
  target: number;
  sparsity: Record<string, number>;
  removed: string[];
  dare?: { base: string; p: number; q: number };
  seed: number;
  dataHash: string;
  metrics: { dense: RecipeMetrics; pruned: RecipeMetrics };
}

/** A recipe file that is not valid JSON or does not have the structure of DESIGN §6. */
export class RecipeError extends LopperInputError {
  override name = 'RecipeError';
}

/** A recipe replayed onto weights other than those it was made for. */
export class RecipeWeightsError extends LopperInputError {
  override name = 'RecipeWeightsError';
}

/**
 * Throws a RecipeWeightsError when `recipe` names weights (`model.weightsSha256`) and `model`'s
 * weights digest to something else; a recipe without the field (older files) passes. The model's
 * digest is computed when it does not carry one.
 */
export async function checkRecipeWeights(recipe: Recipe, model: Pick<OpenedModel, 'name' | 'weightsSha256' | 'artifacts' | 'transformer'>, file: string): Promise<void> {
  const expected = recipe.model.weightsSha256;
  if (expected === undefined) return;
  const actual = model.weightsSha256 ?? (await weightsDigest(model));
  if (actual === expected) return;
  throw new RecipeWeightsError({
    file,
    message: `was made for weights ${expected} (${recipe.model.name}), this model's weights hash to ${actual} (${model.name}); replay it on the weights it was made for`,
    expected,
    actual,
    mismatchInMessage: true,
  });
}

export function pickMetrics(evaluation: RecipeMetrics): RecipeMetrics {
  const metrics: RecipeMetrics = {};
  for (const key of METRIC_KEYS) {
    const value = evaluation[key];
    if (value !== undefined) metrics[key] = value;
  }
  return metrics;
}

/**
 * The recipe of a plan applied to a model; `model.weightsSha256` is kept when the model carries it
 * (every model `openModel` opened does). `locked` is a UI matter and is not kept.
 */
export function recipeFromPlan(
  plan: PruningPlan,
  model: Pick<OpenedModel, 'format' | 'name' | 'sha256' | 'weightsSha256'>,
  metrics: { dense: RecipeMetrics; pruned: RecipeMetrics },
  version: string = LOPPER_VERSION,
  inputShapes?: Readonly<Record<string, readonly number[]>>,
): Recipe {
  return {
    lopper: version,
    model: {
      format: model.format,
      name: model.name,
      sha256: model.sha256,
      ...(model.weightsSha256 === undefined ? {} : { weightsSha256: model.weightsSha256 }),
      ...(inputShapes !== undefined &&
        Object.keys(inputShapes).length > 0 && { inputShapes: Object.fromEntries(Object.entries(inputShapes).map(([name, shape]) => [name, [...shape]])) }),
    },
    criterion: plan.criterion,
    granularity: plan.granularity,
    allocation: plan.allocation,
    target: plan.target,
    sparsity: { ...plan.sparsity },
    removed: [...plan.removed],
    ...(plan.dare === undefined ? {} : { dare: { ...plan.dare } }),
    seed: plan.seed,
    dataHash: plan.dataHash,
    metrics: { dense: pickMetrics(metrics.dense), pruned: pickMetrics(metrics.pruned) },
  };
}

export function planFromRecipe(recipe: Recipe): PruningPlan {
  const plan: PruningPlan = {
    criterion: recipe.criterion,
    granularity: recipe.granularity,
    allocation: recipe.allocation,
    target: recipe.target,
    sparsity: { ...recipe.sparsity },
    locked: [],
    removed: [...recipe.removed],
    seed: recipe.seed,
    dataHash: recipe.dataHash,
  };
  if (recipe.dare !== undefined) plan.dare = { ...recipe.dare };
  return plan;
}

/** `recipe.json`'s text: indented, keys in DESIGN §6 order, a final newline. */
export function recipeJson(recipe: Recipe): string {
  return `${JSON.stringify(recipe, null, 2)}\n`;
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'an object';
  const text = JSON.stringify(value);
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}

class Reader {
  constructor(private readonly file: string) {}

  fail(field: string, expected: string, value: unknown): never {
    throw new RecipeError({ file: this.file, message: `${field} is not valid`, expected, actual: describe(value) });
  }

  record(value: unknown, field: string): Record<string, unknown> {
    return isRecord(value) ? value : this.fail(field, 'an object', value);
  }

  string(value: unknown, field: string): string {
    return typeof value === 'string' ? value : this.fail(field, 'a string', value);
  }

  sha256(value: unknown, field: string): string {
    return typeof value === 'string' && /^[0-9a-f]{64}$/i.test(value) ? value.toLowerCase() : this.fail(field, 'a hex SHA-256 (64 digits)', value);
  }

  number(value: unknown, field: string, min: number, max: number, { minOpen = false, maxOpen = false } = {}): number {
    const fits = typeof value === 'number' && Number.isFinite(value) && (minOpen ? value > min : value >= min) && (maxOpen ? value < max : value <= max);
    return fits ? value : this.fail(field, `a number in ${minOpen ? '(' : '['}${min}, ${max}${maxOpen ? ')' : ']'}`, value);
  }

  integer(value: unknown, field: string): number {
    return typeof value === 'number' && Number.isSafeInteger(value) ? value : this.fail(field, 'an integer', value);
  }

  oneOf<T extends string>(value: unknown, field: string, allowed: readonly T[]): T {
    return allowed.find((item) => item === value) ?? this.fail(field, `one of ${allowed.join(', ')}`, value);
  }

  integers(value: unknown, field: string): number[] {
    return Array.isArray(value) && value.length > 0 && value.every((d) => Number.isInteger(d) && (d as number) > 0)
      ? (value as number[])
      : this.fail(field, 'a list of positive integers', value);
  }

  strings(value: unknown, field: string): string[] {
    if (!Array.isArray(value)) return this.fail(field, 'a list of strings', value);
    return value.map((item: unknown, i) => this.string(item, `${field}[${i}]`));
  }

  metrics(value: unknown, field: string): RecipeMetrics {
    const record = this.record(value, field);
    const metrics: RecipeMetrics = {};
    for (const key of METRIC_KEYS) {
      const item = record[key];
      if (item === undefined) continue;
      metrics[key] = typeof item === 'number' && Number.isFinite(item) ? item : this.fail(`${field}.${key}`, 'a finite number', item);
    }
    return metrics;
  }
}

/** Validates a parsed `recipe.json`; errors name `file`, the field, and what was expected and found. */
export function parseRecipe(json: unknown, file: string): Recipe {
  const read = new Reader(file);
  if (!isRecord(json)) {
    throw new RecipeError({ file, message: 'is not a Lopper recipe', expected: 'a recipe.json object', actual: describe(json) });
  }
  if (!('lopper' in json) || !('sparsity' in json)) {
    throw new RecipeError({
      file,
      message: 'is not a Lopper recipe',
      expected: 'an object with lopper, model, criterion, sparsity, ...',
      actual: `keys: ${Object.keys(json).join(', ') || 'none'}`,
    });
  }
  const model = read.record(json['model'], 'model');
  const sparsityRecord = read.record(json['sparsity'], 'sparsity');
  const sparsity: Record<string, number> = {};
  for (const [unit, value] of Object.entries(sparsityRecord)) sparsity[unit] = read.number(value, `sparsity["${unit}"]`, 0, 1);
  const metrics = read.record(json['metrics'], 'metrics');
  const dare = json['dare'] === undefined ? undefined : read.record(json['dare'], 'dare');

  return {
    lopper: read.string(json['lopper'], 'lopper'),
    model: {
      format: read.oneOf(model['format'], 'model.format', MODEL_FORMATS),
      name: read.string(model['name'], 'model.name'),
      sha256: read.sha256(model['sha256'], 'model.sha256'),
      ...(model['weightsSha256'] === undefined ? {} : { weightsSha256: read.sha256(model['weightsSha256'], 'model.weightsSha256') }),
      ...(model['inputShapes'] === undefined
        ? {}
        : {
            inputShapes: Object.fromEntries(
              Object.entries(read.record(model['inputShapes'], 'model.inputShapes')).map(([name, shape]) => [name, read.integers(shape, `model.inputShapes["${name}"]`)]),
            ),
          }),
    },
    criterion: read.oneOf(json['criterion'], 'criterion', CRITERIA),
    granularity: read.oneOf(json['granularity'], 'granularity', GRANULARITIES),
    allocation: read.oneOf(json['allocation'], 'allocation', ALLOCATIONS),
    target: read.number(json['target'], 'target', 0, 1),
    sparsity,
    removed: read.strings(json['removed'], 'removed'),
    ...(dare === undefined
      ? {}
      : {
          dare: {
            base: read.sha256(dare['base'], 'dare.base'),
            p: read.number(dare['p'], 'dare.p', 0, 1, { maxOpen: true }),
            q: read.number(dare['q'], 'dare.q', 0, 1, { minOpen: true }),
          },
        }),
    seed: read.integer(json['seed'], 'seed'),
    dataHash: read.string(json['dataHash'], 'dataHash'),
    metrics: { dense: read.metrics(metrics['dense'], 'metrics.dense'), pruned: read.metrics(metrics['pruned'], 'metrics.pruned') },
  };
}
