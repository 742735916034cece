import type { Recipe } from '../io/recipe';
import { readFile } from 'node:fs/promises';
import type { CriterionKey, Granularity } from '../core/criteria/types';
import type { AllocationKey } from '../core/plan';
import { UsageError, type ParsedArgs } from './args';

/** `--base B --dare P [--rescale Q|auto]` as read. */
export interface DareRequest {
  basePath: string;
  p: number;
  /** A fixed q, `auto` for the DAREx-q search, or 1 − p when absent. */
  rescale?: number | 'auto';
}

/** The options of `lopper prune`, read and checked before anything is loaded (by the in-memory and the streamed prune). */
export interface PruneArgs {
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

/** A replay uses the recipe's input shapes, and a data-free one its seed and sample count, unless they are given. */
export function argsForRecipe(args: ParsedArgs, recipe: Recipe): ParsedArgs {
  const options = new Map(args.options);
  const shapes = recipe.model.inputShapes;
  if (shapes !== undefined && !options.has('input-shape')) {
    options.set(
      'input-shape',
      Object.entries(shapes)
        .map(([name, shape]) => `${name}=${shape.join('x')}`)
        .join(','),
    );
  }
  const synthetic = /^synthetic:(-?\d+):(\d+)$/.exec(recipe.dataHash);
  if (synthetic !== null && !options.has('data')) {
    if (!options.has('seed')) options.set('seed', synthetic[1]);
    if (!options.has('samples')) options.set('samples', synthetic[2]);
  }
  return { ...args, options };
}

/** A JSON file given on the command line (a recipe, a saved sweep), or a usage error naming it. */
export async function readJsonFile(path: string): Promise<unknown> {
  const text = await readFile(path, 'utf8');
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new UsageError(`${path} is not valid JSON`);
  }
}
