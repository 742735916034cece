import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import type { PruningPlan } from '../core/plan';
import { LopperInputError } from './errors';
import { LOPPER_VERSION } from './export/version';
import { weightsDigest } from './hash';
import { openModel } from './open';
import { checkRecipeWeights, parseRecipe, planFromRecipe, recipeFromPlan, recipeJson, RecipeError, RecipeWeightsError, type Recipe } from './recipe';
import { encodeSafetensors, readSafetensors } from './safetensors';
import { denseModelJson, fixtureFiles, fixturePath, float32Bytes, memoryFiles } from './test-support';
import type { OpenedModel } from './types';

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
    expect(Object.keys(recipe)).toEqual(['lopper', 'model', 'criterion', 'granularity', 'allocation', 'target', 'sparsity', 'removed', 'dare', 'seed', 'dataHash', 'metrics']);
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
    ['a short weightsSha256', { model: { ...model, weightsSha256: 'abc' } }, /model\.weightsSha256 is not valid \(expected a hex SHA-256 \(64 digits\), got "abc"\)/],
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

/** The tiny Dense model (kernel [2, 1], bias [1]) with these weights, opened from memory files. */
function denseModel(weights: number[]): Promise<OpenedModel> {
  return openModel(memoryFiles({ 'tiny/model.json': denseModelJson(), 'tiny/group1-shard1of1.bin': float32Bytes(weights) }));
}

/** hf-gpt2-tiny with its safetensors re-encoded (float32), `change` applied to the decoded tensors first. */
async function gpt2Copy(change: (tensors: Map<string, { shape: number[]; values: Float32Array }>) => void): Promise<OpenedModel> {
  const bytes = new Uint8Array(await readFile(fixturePath('hf-gpt2-tiny/model.safetensors')));
  const { tensors } = readSafetensors(bytes, 'model.safetensors');
  change(tensors);
  return openModel(
    memoryFiles({
      'gpt2/config.json': new Uint8Array(await readFile(fixturePath('hf-gpt2-tiny/config.json'))),
      'gpt2/model.safetensors': encodeSafetensors(tensors),
    }),
  );
}

async function weightsErrorFor(recipe: Recipe, opened: OpenedModel): Promise<RecipeWeightsError> {
  try {
    await checkRecipeWeights(recipe, opened, 'recipe.json');
  } catch (error) {
    if (error instanceof RecipeWeightsError) return error;
    throw error;
  }
  throw new Error('checkRecipeWeights accepted it');
}

describe('model.weightsSha256', () => {
  it('is the same for the same LayersModel opened twice and differs for other weights behind the same model.json', async () => {
    const [a, again, b] = await Promise.all([denseModel([1, 2, 3]), denseModel([1, 2, 3]), denseModel([1, 2, 3.0001])]);
    expect(a.weightsSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(again.weightsSha256).toBe(a.weightsSha256);
    expect(b.sha256).toBe(a.sha256);
    expect(b.weightsSha256).not.toBe(a.weightsSha256);
    expect(await weightsDigest(a)).toBe(a.weightsSha256);
  });

  it('hashes manifest order, names and shapes as documented', async () => {
    const opened = await denseModel([1, 2, 3]);
    const hex = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
    const entries = [
      ['dense/kernel', 'float32', [2, 1], hex(float32Bytes([1, 2]))],
      ['dense/bias', 'float32', [1], hex(float32Bytes([3]))],
    ];
    expect(opened.weightsSha256).toBe(hex(new TextEncoder().encode(JSON.stringify(entries))));
  });

  it('names a transformer by its parameters sorted by name, whatever the file stores them as', async () => {
    const fixture = await openModel(await fixtureFiles('hf-gpt2-tiny'));
    const twice = await openModel(await fixtureFiles('hf-gpt2-tiny'));
    const reencoded = await gpt2Copy(() => {});
    const changed = await gpt2Copy((tensors) => {
      const [first] = tensors.values();
      if (first !== undefined) first.values[0] = (first.values[0] ?? 0) + 0.5;
    });
    expect(twice.weightsSha256).toBe(fixture.weightsSha256);
    expect(reencoded.weightsSha256).toBe(fixture.weightsSha256);
    expect(changed.sha256).toBe(fixture.sha256);
    expect(changed.weightsSha256).not.toBe(fixture.weightsSha256);
  });

  it('goes into the recipe, round-trips, and the replay check refuses other weights, naming both hashes', async () => {
    const [a, b] = await Promise.all([denseModel([1, 2, 3]), denseModel([1, 2, 4])]);
    const recipe = recipeFromPlan(plan(), a, metrics);
    expect(recipe.model).toEqual({ format: 'layers-model', name: 'tiny', sha256: a.sha256, weightsSha256: a.weightsSha256 });
    expect(Object.keys(recipe.model)).toEqual(['format', 'name', 'sha256', 'weightsSha256']);
    const parsed = parseRecipe(JSON.parse(recipeJson(recipe)), 'recipe.json');
    expect(parsed).toEqual(recipe);
    await expect(checkRecipeWeights(parsed, a, 'recipe.json')).resolves.toBeUndefined();
    const error = await weightsErrorFor(parsed, b);
    expect(error).toBeInstanceOf(LopperInputError);
    expect(error.message).toBe(
      `recipe.json: was made for weights ${a.weightsSha256} (tiny), this model's weights hash to ${b.weightsSha256} (tiny); replay it on the weights it was made for`,
    );
    expect([error.expected, error.actual]).toEqual([a.weightsSha256, b.weightsSha256]);
  });

  it('is optional: a recipe written before it existed still replays onto any weights', async () => {
    const b = await denseModel([1, 2, 4]);
    const old = parseRecipe(JSON.parse(recipeJson(recipeFromPlan(plan(), model, metrics))), 'recipe.json');
    expect('weightsSha256' in old.model).toBe(false);
    await expect(checkRecipeWeights(old, b, 'recipe.json')).resolves.toBeUndefined();
  });

  it('is computed for a model that does not carry it', async () => {
    const a = await denseModel([1, 2, 3]);
    const recipe = recipeFromPlan(plan(), a, metrics);
    const bare = await denseModel([5, 6, 7]);
    delete bare.weightsSha256;
    expect((await weightsErrorFor(recipe, bare)).actual).toBe(await weightsDigest(bare));
  });
});
