import type { CriterionKey, Granularity } from '../../core/criteria/types';
import { yamlFloat } from './python-float';
import type { EcosystemInput, EcosystemPart, EcosystemUnit } from './types';

/**
 * `recipe.llm-compressor.yaml`: a transformer plan as an llm-compressor oneshot recipe, so that it
 * can be replayed on the full-size checkpoint. The layout is what `Recipe.from_dict` reads: a key
 * ending in `_stage`, inside it a key ending in `_modifiers`, inside that one key per modifier
 * class with its arguments.
 *
 * How llm-compressor applies `sparsity` (modifiers/pruning/sparsegpt/sgpt_base.py): `targets`
 * selects modules by name (`re:` = Python `re.match`, anchored at the start only) in
 * `model.named_modules()` order; a list must have one value per selected module, and every
 * Linear inside a selected module is pruned to that module's value unless `ignore` matches it.
 * Hence:
 * - one value for every pruned unit → `sparsity` is a float and `targets` the decoder layers;
 * - one value per decoder layer → a list over the decoder layers;
 * - otherwise → `targets` selects the projections themselves and the list has one value per
 *   projection, which reproduces every unit's sparsity exactly (no averaging).
 * Dense units (sparsity 0) are listed in `ignore`: SparseGPT at sparsity 0 still prunes the
 * smallest weight of every block of columns.
 */

export const LLM_COMPRESSOR_RECIPE = 'recipe.llm-compressor.yaml';

const MODIFIERS: Partial<Record<CriterionKey, string>> = { sparsegpt: 'SparseGPTModifier', wanda: 'WandaPruningModifier' };

const NO_MODIFIER: Partial<Record<CriterionKey, string>> = {
  magnitude:
    'llm-compressor has no one-shot magnitude modifier with this layout: its MagnitudePruningModifier prunes gradually while training (init_sparsity → final_sparsity over optimizer steps, one value for all targets, no N:M masks), so no recipe.llm-compressor.yaml is written for a magnitude plan. Choose Wanda or SparseGPT to get one.',
  random: 'llm-compressor has no random-pruning modifier, so no recipe.llm-compressor.yaml is written for a random plan. Choose Wanda or SparseGPT to get one.',
};

const MASK_STRUCTURES: Partial<Record<Granularity, string>> = { unstructured: '0:0', '2:4': '2:4', '4:8': '4:8' };

/** `model.layers.3`, `transformer.h.0`: the decoder layer a unit belongs to. */
export function decoderLayerOf(unit: string): string {
  return unit.split('.').slice(0, 3).join('.');
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function quoted(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

/** `key: [a, b]` when short, a block sequence otherwise. */
function yamlList(indent: string, key: string, items: readonly string[]): string[] {
  const flow = `${indent}${key}: [${items.join(', ')}]`;
  if (flow.length <= 100) return [flow];
  return [`${indent}${key}:`, ...items.map((item) => `${indent}  - ${item}`)];
}

interface Targets {
  targets: string;
  /** One entry per module `targets` selects, in model order; undefined when `sparsity` is one float. */
  modules?: { name: string; value: number }[];
  value?: number;
}

function chooseTargets(units: readonly EcosystemUnit[], value: (unit: string) => number): Targets {
  const layers = [...new Set(units.map((u) => decoderLayerOf(u.name)))];
  const layerPattern = `re:${escapeRegex(layers[0]).replace(/\d+$/, '')}\\d+$`;
  const active = units.filter((u) => value(u.name) > 0);
  const distinct = new Set(active.map((u) => value(u.name)));
  if (distinct.size === 1) return { targets: layerPattern, value: [...distinct][0] };
  const perLayer = layers.map((layer) => new Set(active.filter((u) => decoderLayerOf(u.name) === layer).map((u) => value(u.name))));
  if (perLayer.every((values) => values.size <= 1)) {
    return { targets: layerPattern, modules: layers.map((name, i) => ({ name, value: [...perLayer[i]][0] ?? 0 })) };
  }
  const suffixes = [...new Set(units.map((u) => u.name.slice(decoderLayerOf(u.name).length + 1)))];
  const projections = `${layerPattern.slice(0, -1)}\\.(?:${suffixes.map(escapeRegex).join('|')})$`;
  return { targets: projections, modules: units.map((u) => ({ name: u.name, value: value(u.name) })) };
}

function header(input: EcosystemInput, targets: Targets, modifier: string, dense: boolean): string[] {
  const { plan, modelName } = input;
  const lines = [
    `# llm-compressor recipe for ${modelName}, written by Lopper from a ${plan.criterion} ${plan.granularity} plan (seed ${plan.seed}).`,
    '# Apply it to the checkpoint Lopper opened, at full size (module names as before any block was dropped):',
    `#   from llmcompressor import oneshot`,
    `#   oneshot(model="<checkpoint>", dataset="<calibration set>", recipe="${LLM_COMPRESSOR_RECIPE}")`,
    `# ${modifier} calibrates on the data given to oneshot, not Lopper's, so masks may differ.`,
  ];
  if (targets.modules === undefined) lines.push('# Every pruned projection has the same sparsity; the decoder layers are the targets.');
  else if (targets.targets.endsWith('\\d+$')) lines.push('# One sparsity per decoder layer, in model order; every projection of a layer shares it.');
  else lines.push('# One sparsity per projection, in model order: targets selects the projections themselves.');
  if (dense) lines.push('# Dense projections are in ignore: SparseGPT at sparsity 0 would still prune the smallest weight of each block.');
  return lines;
}

/** The recipe for a transformer plan, or notes saying why there is none. */
export function llmCompressorRecipe(input: EcosystemInput): EcosystemPart {
  const { plan, units, format } = input;
  if (format !== 'hf-transformer') return { files: [], notes: [] };
  const modifier = MODIFIERS[plan.criterion];
  if (modifier === undefined) return { files: [], notes: [NO_MODIFIER[plan.criterion] ?? `llm-compressor has no modifier for ${plan.criterion}.`] };
  const maskStructure = MASK_STRUCTURES[plan.granularity];
  if (maskStructure === undefined) {
    return { files: [], notes: [`llm-compressor's ${modifier} prunes unstructured or N:M only; a ${plan.granularity} plan has no recipe.llm-compressor.yaml.`] };
  }
  const nm = plan.granularity === 'unstructured' ? undefined : plan.granularity.split(':').map(Number);
  const planned = (unit: string): number => plan.sparsity[unit] ?? 0;
  const value = (unit: string): number => (nm !== undefined && planned(unit) > 0 ? nm[0] / nm[1] : planned(unit));
  if (units.length === 0 || units.every((u) => value(u.name) <= 0)) {
    return { files: [], notes: ['The plan prunes no weights, so no recipe.llm-compressor.yaml is written.'] };
  }

  const notes: string[] = [];
  const targets = chooseTargets(units, value);
  const dense = units.filter((u) => value(u.name) <= 0).map((u) => quoted(`re:${escapeRegex(u.name)}\\.?$`));
  const indent = '      ';
  const body = ['sparsity_stage:', '  sparsity_modifiers:', `    ${modifier}:`];
  if (targets.modules === undefined) body.push(`${indent}sparsity: ${yamlFloat(targets.value ?? 0)}`);
  else body.push(`${indent}sparsity:`, ...targets.modules.map((m) => `${indent}  - ${yamlFloat(m.value)}  # ${m.name}`));
  body.push(`${indent}mask_structure: "${maskStructure}"`);
  if (modifier === 'SparseGPTModifier') body.push(`${indent}block_size: 128`, `${indent}dampening_frac: 0.01`);
  body.push(...yamlList(indent, 'targets', [quoted(targets.targets)]), ...yamlList(indent, 'ignore', [quoted('re:.*lm_head'), ...dense]));

  const extra: string[] = [];
  if (plan.removed.length > 0) {
    const removed = `This plan also removes ${plan.removed.join(', ')}; llm-compressor cannot remove sublayers, so the recipe leaves them in: zero their output projections (or drop blocks whose two sublayers are removed) separately.`;
    notes.push(removed);
    extra.push(`# ${removed}`);
  }
  if (units[0].name.startsWith('transformer.h.')) {
    const gpt2 =
      "GPT-2's projections are transformers' Conv1D modules, and llm-compressor hooks only modules whose class is Linear, Conv1d, Conv2d or Conv3d (PRUNABLE_LAYER_TYPES): as of 2026 this recipe loads but prunes nothing in a GPT-2 model.";
    notes.push(gpt2);
    extra.push(`# ${gpt2}`);
  }
  if (modifier === 'SparseGPTModifier' && units.some((u) => value(u.name) >= 1)) {
    const full = 'SparseGPTModifier cannot prune a whole module (sparsity 1 indexes past the sorted scores); lower those values or remove the sublayer instead.';
    notes.push(full);
    extra.push(`# ${full}`);
  }
  const text = [...header(input, targets, modifier, dense.length > 0), ...extra, ...body].join('\n') + '\n';
  return { files: [{ path: LLM_COMPRESSOR_RECIPE, text }], notes };
}
