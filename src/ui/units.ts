import type { LayerInfo } from '../core/types';
import type { Grouping, UnitFilters } from '../store/view';

/** A transformer parameter path: `<prefix>.<layers|h|blocks>.<i>.<sublayer>`. */
const TRANSFORMER_BLOCK = /^(.*?\.(?:layers|h|blocks|block|layer)\.\d+)\.(.+)$/;
/** A Keras stage or block prefix followed by more name: `block_3_expand`, `stage2_unit1_conv1`, `conv4_block3_1_conv`. */
const NAMED_STAGE = /^(.*?(?:block|stage|mixed|layer|res|conv|cell|unit)[_-]?\d+)[_/-].+$/i;

/** The layer name a unit belongs to: a GraphModel's weight path or a SeparableConv2D's `<layer>/depthwise` lose their last segment. */
function baseName(unit: string): string {
  const slash = unit.lastIndexOf('/');
  return slash > 0 ? unit.slice(0, slash) : unit;
}

/** The block or stage a unit sits in: a transformer block, a Keras stage prefix, else its name without trailing digits. */
export function blockOf(unit: string): string {
  const transformer = TRANSFORMER_BLOCK.exec(unit);
  if (transformer) return transformer[1];
  const base = baseName(unit);
  const segments = base.split('/');
  if (segments.length >= 2) return segments.slice(0, -1).join('/');
  const stage = NAMED_STAGE.exec(base);
  if (stage) return stage[1];
  const stem = base.replace(/[_-]?\d+$/, '');
  return stem === '' ? base : stem;
}

/** What a unit does within its block: `mlp.down_proj`, `self_attn.q_proj`; outside a transformer, its layer class. */
export function roleOf(unit: string, type: string): string {
  const transformer = TRANSFORMER_BLOCK.exec(unit);
  if (transformer) return transformer[2];
  const slash = unit.lastIndexOf('/');
  const suffix = slash > 0 ? unit.slice(slash + 1) : '';
  return suffix === 'depthwise' || suffix === 'pointwise' ? `${type}/${suffix}` : type;
}

/** The sublayer part of a transformer unit, or null when the unit is not in a numbered block. */
export function transformerParts(unit: string): { block: string; index: number; sublayer: string } | null {
  const m = TRANSFORMER_BLOCK.exec(unit);
  if (!m) return null;
  const index = Number(/(\d+)$/.exec(m[1])?.[1] ?? NaN);
  return { block: m[1], index, sublayer: m[2] };
}

export interface UnitGroup {
  key: string;
  units: string[];
}

/** Groups units in order of first appearance. */
export function groupUnits(units: readonly string[], grouping: Grouping, typeOf: (unit: string) => string): UnitGroup[] {
  const groups = new Map<string, string[]>();
  for (const unit of units) {
    const key = grouping === 'block' ? blockOf(unit) : roleOf(unit, typeOf(unit));
    const members = groups.get(key);
    if (members) members.push(unit);
    else groups.set(key, [unit]);
  }
  return [...groups].map(([key, members]) => ({ key, units: members }));
}

/** Every whitespace-separated term of `query` occurs in `name`, ignoring case. */
export function matchesSearch(name: string, query: string): boolean {
  const terms = query.toLowerCase().split(/\s+/).filter(Boolean);
  const lower = name.toLowerCase();
  return terms.every((term) => lower.includes(term));
}

/** Maps every unit and every layer name to its layer row. */
export function layerIndex(layers: readonly LayerInfo[], units: readonly string[]): Map<string, LayerInfo> {
  const index = new Map<string, LayerInfo>();
  for (const layer of layers) index.set(layer.name, layer);
  for (const unit of units) {
    if (index.has(unit)) continue;
    const layer = index.get(baseName(unit));
    if (layer) index.set(unit, layer);
  }
  return index;
}

export interface FilterContext {
  search: string;
  filters: UnitFilters;
  locked: ReadonlySet<string>;
  planned: Readonly<Record<string, number>>;
}

/** Whether a row named `name` (of class `type`, prunable or not) passes the search and the filters. */
export function passes(name: string, type: string, prunable: boolean, context: FilterContext, units: readonly string[] = [name]): boolean {
  const { filters } = context;
  if (!matchesSearch(name, context.search)) return false;
  if (filters.type !== '' && type !== filters.type) return false;
  if (filters.prunable === 'yes' && !prunable) return false;
  if (filters.prunable === 'no' && prunable) return false;
  if (filters.locked && !units.some((u) => context.locked.has(u))) return false;
  if (filters.changed && !units.some((u) => (context.planned[u] ?? 0) > 0)) return false;
  return true;
}

/** Whether any search or filter is active. */
export const filtering = (search: string, filters: UnitFilters): boolean =>
  search.trim() !== '' || filters.type !== '' || filters.prunable !== 'any' || filters.locked || filters.changed;

/**
 * Groups a model's layers: by block, runs of consecutive layers in the same block or stage (so the
 * table keeps the model's order); by role, as `groupUnits` groups units (each layer's class).
 */
export function groupLayers(layers: readonly LayerInfo[], grouping: Grouping): UnitGroup[] {
  const types = new Map(layers.map((l) => [l.name, l.type]));
  if (grouping !== 'block')
    return groupUnits(
      layers.map((l) => l.name),
      grouping,
      (name) => types.get(name) ?? '',
    );
  const groups: UnitGroup[] = [];
  for (const layer of layers) {
    const key = blockOf(layer.name);
    const last = groups[groups.length - 1];
    if (last && last.key === key) last.units.push(layer.name);
    else groups.push({ key, units: [layer.name] });
  }
  return groups;
}
