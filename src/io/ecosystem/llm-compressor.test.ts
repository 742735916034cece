import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { LLM_COMPRESSOR_RECIPE, llmCompressorRecipe } from './llm-compressor';
import { loadTransformerFixture, modulesOfTensors, namedModules, simulateSparsityModifier, TRANSFORMER_FIXTURES, type TransformerFixture } from './test-support';
import type { EcosystemInput, EcosystemPlan } from './types';

/** The fields llm-compressor's modifiers accept (pydantic `extra="forbid"`, modifier.py, sgpt_base.py, sparsegpt/base.py). */
const BASE_FIELDS = ['index', 'group', 'start', 'end', 'update', 'sparsity', 'sparsity_profile', 'mask_structure', 'owl_m', 'owl_lmbda', 'sequential_update', 'targets', 'ignore'];
const FIELDS: Record<string, string[]> = {
  SparseGPTModifier: [...BASE_FIELDS, 'block_size', 'dampening_frac', 'preserve_sparsity_mask', 'offload_hessians'],
  WandaPruningModifier: BASE_FIELDS,
};

const fixtures = TRANSFORMER_FIXTURES.map(loadTransformerFixture);
const llama = fixtures.find((f) => f.dir.endsWith('hf-llama-tiny')) as TransformerFixture;
const gpt2 = fixtures.find((f) => f.dir.endsWith('hf-gpt2-tiny')) as TransformerFixture;

function plan(overrides: Partial<EcosystemPlan>): EcosystemPlan {
  return { criterion: 'sparsegpt', granularity: 'unstructured', sparsity: {}, removed: [], seed: 0, ...overrides };
}

function input(fixture: TransformerFixture, p: EcosystemPlan): EcosystemInput {
  return { format: 'hf-transformer', modelName: fixture.dir.split('/').pop() as string, units: fixture.units, plan: p };
}

type Args = Record<string, unknown> & { sparsity: unknown; targets: unknown; ignore: unknown };

/** The recipe's text, parsed and walked the way `Recipe.from_dict` walks it (recipe/recipe.py). */
function modifiersOf(text: string): { type: string; args: Args }[] {
  const recipe = parse(text) as Record<string, unknown>;
  const found: { type: string; args: Args }[] = [];
  for (const [stageKey, stage] of Object.entries(recipe)) {
    expect(stageKey.endsWith('_stage')).toBe(true);
    expect(typeof stage === 'object' && stage !== null && !Array.isArray(stage)).toBe(true);
    for (const [groupKey, group] of Object.entries(stage as Record<string, unknown>)) {
      expect(groupKey.endsWith('_modifiers')).toBe(true);
      for (const [type, args] of Object.entries(group as Record<string, unknown>)) found.push({ type, args: args as Args });
    }
  }
  return found;
}

function recipeText(fixture: TransformerFixture, p: EcosystemPlan): string {
  const part = llmCompressorRecipe(input(fixture, p));
  expect(part.files.map((f) => f.path)).toEqual([LLM_COMPRESSOR_RECIPE]);
  return part.files[0].text;
}

/** Per-unit sparsities with a different value for every projection (0.3 … 0.7), the second one dense. */
function perUnit(fixture: TransformerFixture): Record<string, number> {
  return Object.fromEntries(fixture.units.map((u, i) => [u.name, i === 1 ? 0 : 0.3 + (0.4 * i) / fixture.units.length]));
}

function pruned(sparsity: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(sparsity).filter(([, v]) => v > 0));
}

describe('llm-compressor recipe', () => {
  it("models each fixture's module names as transformers registers them", () => {
    for (const fixture of fixtures) {
      const modules = new Set(namedModules(fixture.config).map((m) => m.name));
      for (const name of modulesOfTensors(fixture.tensors)) expect(modules.has(name), `${fixture.dir}: ${name}`).toBe(true);
      for (const unit of fixture.units) expect(modules.has(unit.name), unit.name).toBe(true);
    }
  });

  it('writes the stage / modifiers / modifier layout with only fields llm-compressor accepts', () => {
    for (const criterion of ['sparsegpt', 'wanda'] as const) {
      const [modifier, ...rest] = modifiersOf(recipeText(llama, plan({ criterion, sparsity: perUnit(llama) })));
      expect(rest).toEqual([]);
      expect(modifier.type).toBe(criterion === 'sparsegpt' ? 'SparseGPTModifier' : 'WandaPruningModifier');
      for (const key of Object.keys(modifier.args)) expect(FIELDS[modifier.type]).toContain(key);
      expect(modifier.args.mask_structure).toBe('0:0');
      expect(modifier.args.ignore).toContain('re:.*lm_head');
      if (criterion === 'sparsegpt') expect([modifier.args.block_size, modifier.args.dampening_frac]).toEqual([128, 0.01]);
    }
  });

  it('writes one float and decoder-layer targets for a uniform plan', () => {
    for (const fixture of fixtures) {
      const sparsity = Object.fromEntries(fixture.units.map((u) => [u.name, 0.5]));
      const [{ args }] = modifiersOf(recipeText(fixture, plan({ sparsity })));
      expect(args.sparsity).toBe(0.5);
      expect(args.targets).toEqual([fixture.config.family === 'gpt2' ? 're:transformer\\.h\\.\\d+$' : 're:model\\.layers\\.\\d+$']);
    }
  });

  it('gives every matched module its value, in model order, for per-layer and per-unit plans', () => {
    for (const fixture of fixtures) {
      const modules = namedModules(fixture.config);
      const layerPlan = Object.fromEntries(fixture.units.map((u) => [u.name, 0.2 + 0.1 * Number(u.name.split('.')[2])]));
      for (const sparsity of [layerPlan, perUnit(fixture)]) {
        const [{ args }] = modifiersOf(recipeText(fixture, plan({ sparsity })));
        const targeted = modules.filter((m) => (args.targets as string[]).some((t) => new RegExp(`^(?:${t.slice(3)})`).test(m.name)));
        expect(Array.isArray(args.sparsity) ? args.sparsity.length : 1).toBe(targeted.length);
        const projectionClasses = fixture.config.family === 'gpt2' ? ['Conv1D'] : ['Linear'];
        expect(Object.fromEntries(simulateSparsityModifier(modules, args, projectionClasses))).toEqual(pruned(sparsity));
      }
    }
  });

  it('uses decoder-layer lists when each layer has one value, projection targets otherwise', () => {
    const layerPlan = Object.fromEntries(llama.units.map((u) => [u.name, u.name.startsWith('model.layers.0.') ? 0.4 : 0.6]));
    const [{ args: layers }] = modifiersOf(recipeText(llama, plan({ sparsity: layerPlan })));
    expect(layers.sparsity).toEqual([0.4, 0.6]);
    const [{ args: units }] = modifiersOf(recipeText(llama, plan({ sparsity: perUnit(llama) })));
    expect((units.sparsity as number[]).length).toBe(llama.units.length);
    expect(units.targets).toEqual([
      're:model\\.layers\\.\\d+\\.(?:self_attn\\.q_proj|self_attn\\.k_proj|self_attn\\.v_proj|self_attn\\.o_proj|mlp\\.gate_proj|mlp\\.up_proj|mlp\\.down_proj)$',
    ]);
  });

  it('ignores dense units so that SparseGPT leaves them untouched', () => {
    const sparsity = Object.fromEntries(llama.units.map((u) => [u.name, u.name.endsWith('k_proj') ? 0 : 0.5]));
    const [{ args }] = modifiersOf(recipeText(llama, plan({ sparsity })));
    expect(args.sparsity).toBe(0.5);
    expect(Object.fromEntries(simulateSparsityModifier(namedModules(llama.config), args))).toEqual(pruned(sparsity));
  });

  it('writes N:M masks with N/M as the sparsity', () => {
    const sparsity = Object.fromEntries(llama.units.map((u) => [u.name, 0.5]));
    const [{ args }] = modifiersOf(recipeText(llama, plan({ criterion: 'wanda', granularity: '2:4', sparsity })));
    expect([args.mask_structure, args.sparsity]).toEqual(['2:4', 0.5]);
    const [{ args: eight }] = modifiersOf(recipeText(llama, plan({ granularity: '4:8', sparsity })));
    expect(eight.mask_structure).toBe('4:8');
  });

  it('writes no recipe for magnitude, random, channels or an empty plan, and says why', () => {
    const sparsity = Object.fromEntries(llama.units.map((u) => [u.name, 0.5]));
    for (const p of [plan({ criterion: 'magnitude', sparsity }), plan({ criterion: 'random', sparsity }), plan({ granularity: 'channels', sparsity }), plan({})]) {
      const part = llmCompressorRecipe(input(llama, p));
      expect(part.files).toEqual([]);
      expect(part.notes.length).toBe(1);
    }
    expect(llmCompressorRecipe(input(llama, plan({ criterion: 'magnitude', sparsity }))).notes[0]).toMatch(/MagnitudePruningModifier/);
    expect(llmCompressorRecipe({ ...input(llama, plan({ sparsity })), format: 'layers-model' })).toEqual({ files: [], notes: [] });
  });

  it('names what it cannot express: removals, GPT-2 Conv1D projections', () => {
    const sparsity = Object.fromEntries(llama.units.map((u) => [u.name, 0.5]));
    const removed = llmCompressorRecipe(input(llama, plan({ sparsity, removed: ['model.layers.1.mlp'] })));
    expect(removed.notes.join(' ')).toMatch(/model\.layers\.1\.mlp/);
    expect(removed.files[0].text).toMatch(/^# .*model\.layers\.1\.mlp/m);
    const gpt2Sparsity = Object.fromEntries(gpt2.units.map((u) => [u.name, 0.5]));
    const part = llmCompressorRecipe(input(gpt2, plan({ sparsity: gpt2Sparsity })));
    expect(part.notes.join(' ')).toMatch(/Conv1D/);
    const [{ args }] = modifiersOf(part.files[0].text);
    expect(simulateSparsityModifier(namedModules(gpt2.config), args).size).toBe(0);
  });

  it('is read the same by PyYAML (the loader llm-compressor uses)', () => {
    let python = true;
    try {
      execFileSync('python3', ['-c', 'import yaml'], { stdio: 'ignore' });
    } catch {
      python = false;
    }
    if (!python) return;
    const text = recipeText(llama, plan({ sparsity: perUnit(llama) }));
    const json = execFileSync('python3', ['-c', 'import sys, json, yaml; print(json.dumps(yaml.safe_load(sys.stdin.read())))'], { input: text, encoding: 'utf8' });
    expect(JSON.parse(json)).toEqual(parse(text));
  });
});
