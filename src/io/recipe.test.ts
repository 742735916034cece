import { describe, expect, it } from 'vitest';
import type { PruningPlan } from '../core/plan';
import { LopperInputError } from './errors';
import { LOPPER_VERSION } from './export/version';
import { parseRecipe, planFromRecipe, recipeFromPlan, recipeJson, RecipeError, type Recipe } from './recipe';

const SHA = 'ab'.repeat(32);
const BASE_SHA = 'cd'.repeat(32);

function plan(overrides: Partial<PruningPlan> = {}): PruningPlan {
  return {
    criterion: 'wanda',
    granularity: '2:4',
    allocation: 'owl',
    target: 0.5,
    sparsity: { conv1: 0.25, dense1: 0.625 },
    locked: ['conv1'],
    removed: ['pool2'],
    seed: 7,
    dataHash: 'synthetic:0:32',
    ...overrides,
  };
}

const model = { format: 'layers-model' as const, name: 'digits-cnn', sha256: SHA };
const metrics = { dense: { accuracy: 0.982, loss: 0.057, samples: 2000, latencyMs: 3 }, pruned: { accuracy: 0.97, loss: 0.09, samples: 2000 } };

function validRecipe(): Recipe {
  return recipeFromPlan(plan({ dare: { base: BASE_SHA, p: 0.9, q: 0.3 } }), model, metrics);
}

/** The error `parseRecipe` gives for `json`. */
function errorFor(json: unknown): RecipeError {
  try {
    parseRecipe(json, 'recipe.json');
  } catch (error) {
    if (error instanceof RecipeError) return error;
    throw error;
  }
  throw new Error('parseRecipe accepted it');
}

describe('recipeFromPlan', () => {
  it('writes the plan, the model and the metrics in DESIGN §6 order', () => {
    const recipe = validRecipe();
    expect(Object.keys(recipe)).toEqual([
      'lopper', 'model', 'criterion', 'granularity', 'allocation', 'target', 'sparsity', 'removed', 'dare', 'seed', 'dataHash', 'metrics',
    ]);
    expect(recipe.lopper).toBe(LOPPER_VERSION);
    expect(recipe.model).toEqual(model);
    expect(recipe.metrics.dense).toEqual({ accuracy: 0.982, loss: 0.057, samples: 2000 });
    expect(recipe.dare).toEqual({ base: BASE_SHA, p: 0.9, q: 0.3 });
    expect('dare' in recipeFromPlan(plan(), model, metrics, '9.9.9')).toBe(false);
    expect(recipeFromPlan(plan(), model, metrics, '9.9.9').lopper).toBe('9.9.9');
  });

  it('shares nothing with the plan', () => {
    const source = plan();
    const recipe = recipeFromPlan(source, model, metrics);
    source.sparsity['conv1'] = 0.9;
    source.removed.push('dense1');
    expect(recipe.sparsity['conv1']).toBe(0.25);
    expect(recipe.removed).toEqual(['pool2']);
  });
});

describe('parseRecipe and planFromRecipe', () => {
  it('round-trips through recipe.json text', () => {
    const recipe = validRecipe();
    const text = recipeJson(recipe);
    expect(text.endsWith('}\n')).toBe(true);
    expect(parseRecipe(JSON.parse(text), 'recipe.json')).toEqual(recipe);
  });

  it('gives back the plan, with nothing locked', () => {
    const source = plan({ dare: { base: BASE_SHA, p: 0.5, q: 0.6 } });
    const back = planFromRecipe(parseRecipe(JSON.parse(recipeJson(recipeFromPlan(source, model, metrics))), 'r.json'));
    expect(back).toEqual({ ...source, locked: [] });
  });

  it('names the file, the field, and expected vs actual', () => {
    const error = errorFor({ ...validRecipe(), criterion: 'taylor' });
    expect(error).toBeInstanceOf(LopperInputError);
    expect(error.file).toBe('recipe.json');
    expect(error.message).toBe('recipe.json: criterion is not valid (expected one of magnitude, wanda, sparsegpt, random, got "taylor")');
    expect(error.expected).toBe('one of magnitude, wanda, sparsegpt, random');
    expect(error.actual).toBe('"taylor"');
  });

  it.each([
    ['a list', [], /is not a Lopper recipe \(expected a recipe.json object, got a list\)/],
    ['another JSON file', { inputs: [], shape: [0] }, /is not a Lopper recipe .*got keys: inputs, shape/],
    ['a sparsity above 1', { sparsity: { conv1: 1.5 } }, /sparsity\["conv1"\] is not valid \(expected a number in \[0, 1\], got 1.5\)/],
    ['a target as text', { target: '0.5' }, /target is not valid \(expected a number in \[0, 1\], got "0.5"\)/],
    ['a bad granularity', { granularity: '3:4' }, /granularity is not valid \(expected one of unstructured, 2:4, 4:8, channels/],
    ['an unknown allocation', { allocation: 'magic' }, /allocation is not valid/],
    ['an unknown model format', { model: { ...model, format: 'onnx' } }, /model\.format is not valid \(expected one of layers-model, graph-model, hf-transformer, got "onnx"\)/],
    ['a short sha256', { model: { ...model, sha256: 'abc' } }, /model\.sha256 is not valid \(expected a hex SHA-256 \(64 digits\), got "abc"\)/],
    ['removed not a list', { removed: 'pool2' }, /removed is not valid \(expected a list of strings, got "pool2"\)/],
    ['a non-string removal', { removed: ['pool2', 3] }, /removed\[1\] is not valid/],
    ['a fractional seed', { seed: 1.5 }, /seed is not valid \(expected an integer, got 1.5\)/],
    ['no dataHash', { dataHash: undefined }, /dataHash is not valid \(expected a string, got nothing\)/],
    ['p = 1', { dare: { base: BASE_SHA, p: 1, q: 0.5 } }, /dare\.p is not valid \(expected a number in \[0, 1\), got 1\)/],
    ['q = 0', { dare: { base: BASE_SHA, p: 0.5, q: 0 } }, /dare\.q is not valid \(expected a number in \(0, 1\], got 0\)/],
    ['a metric as text', { metrics: { dense: { accuracy: 'high' }, pruned: {} } }, /metrics\.dense\.accuracy is not valid \(expected a finite number, got "high"\)/],
    ['no metrics', { metrics: undefined }, /metrics is not valid \(expected an object, got nothing\)/],
  ])('refuses %s', (_, change, message) => {
    const json = Array.isArray(change) ? change : 'inputs' in change ? change : { ...validRecipe(), ...change };
    expect(errorFor(json).message).toMatch(message);
  });

  it('accepts an upper-case hash and stores it lower-case', () => {
    const recipe = parseRecipe({ ...validRecipe(), model: { ...model, sha256: SHA.toUpperCase() } }, 'recipe.json');
    expect(recipe.model.sha256).toBe(SHA);
  });
});
