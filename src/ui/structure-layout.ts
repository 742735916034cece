import type { StructureData, StructureNode } from '../charts/structure';
import type { LayerInfo } from '../core/types';
import { transformerParts } from './units';

export interface StructureInput {
  layers: readonly LayerInfo[];
  units: readonly string[];
  edges?: readonly { from: string; to: string }[];
  /** The overlay's value per unit (null: none known). */
  value: (unit: string) => number | null;
  /** A layer's value where it holds no unit (parameter share), else null. */
  layerValue?: (layer: LayerInfo) => number | null;
  describe: (unit: string, value: number | null) => string;
  selected: string | null;
  layerOf: (unit: string) => string;
  /** Units that pass the search (others are drawn dimmed). */
  shown: ReadonlySet<string>;
}

/** Columns of the flow layout when the model has no edges: layers in order, wrapped. */
const FLOW_COLUMNS = 8;

function unitNode(unit: string, column: number, row: number, input: StructureInput, label: string): StructureNode {
  const value = input.value(unit);
  return {
    id: unit,
    label,
    unit,
    target: input.layerOf(unit),
    column,
    row,
    value,
    description: input.describe(unit, value),
    selected: input.selected !== null && input.layerOf(unit) === input.selected,
    dimmed: !input.shown.has(unit),
  };
}

/** A transformer as a block × sublayer grid: one row per block, one column per projection role. */
export function transformerGrid(input: StructureInput): StructureData | null {
  const parts = input.units.map((unit) => ({ unit, parts: transformerParts(unit) }));
  const inBlocks = parts.filter((p) => p.parts !== null);
  if (inBlocks.length < input.units.length / 2) return null;
  const blocks = [...new Set(inBlocks.map((p) => p.parts?.block ?? ''))];
  const sublayers = [...new Set(inBlocks.map((p) => p.parts?.sublayer ?? ''))];
  const others = parts.filter((p) => p.parts === null).map((p) => p.unit);
  const rows = [...blocks, ...(others.length > 0 ? ['other'] : [])];
  const nodes = parts.map(({ unit, parts: p }, i): StructureNode => {
    if (p) return unitNode(unit, sublayers.indexOf(p.sublayer), blocks.indexOf(p.block), input, p.sublayer.split('.').slice(-1)[0] ?? p.sublayer);
    return unitNode(unit, others.indexOf(unit) % Math.max(1, sublayers.length), rows.length - 1, input, unit.split('.').slice(-1)[0] ?? String(i));
  });
  return { layout: 'grid', nodes, edges: [], columns: sublayers, rows };
}

/** Longest-path depth of each layer from the inputs; a layer in a cycle or unreachable keeps its order index. */
function depths(layers: readonly LayerInfo[], edges: readonly { from: string; to: string }[]): Map<string, number> {
  const names = new Set(layers.map((l) => l.name));
  const incoming = new Map<string, string[]>();
  for (const e of edges) if (names.has(e.from) && names.has(e.to)) incoming.set(e.to, [...(incoming.get(e.to) ?? []), e.from]);
  const depth = new Map<string, number>();
  const visiting = new Set<string>();
  const visit = (name: string): number => {
    const known = depth.get(name);
    if (known !== undefined) return known;
    if (visiting.has(name)) return 0;
    visiting.add(name);
    const d = Math.max(-1, ...(incoming.get(name) ?? []).map(visit)) + 1;
    visiting.delete(name);
    depth.set(name, d);
    return d;
  };
  layers.forEach((l) => visit(l.name));
  return depth;
}

/**
 * Any other model as its layer DAG: rows are depths from the inputs, layers side by side within a
 * depth, edges drawn (a residual or concat edge skips rows). Without edges, layers in order, wrapped.
 */
export function layerFlow(input: StructureInput): StructureData {
  const unitsOf = new Map<string, string[]>();
  for (const unit of input.units) {
    const layer = input.layerOf(unit);
    unitsOf.set(layer, [...(unitsOf.get(layer) ?? []), unit]);
  }
  const nodes: StructureNode[] = [];
  /** The first node drawn for each layer: where its edges start and end. */
  const anchor = new Map<string, string>();
  const place = (layer: LayerInfo, column: number, row: number): number => {
    const units = unitsOf.get(layer.name);
    anchor.set(layer.name, units?.[0] ?? layer.name);
    if (!units) {
      const value = input.layerValue?.(layer) ?? null;
      nodes.push({ id: layer.name, label: layer.name, column, row, value, description: `${layer.name} (${layer.type})`, selected: input.selected === layer.name, dimmed: false });
      return 1;
    }
    units.forEach((unit, i) => nodes.push(unitNode(unit, column + i, row, input, units.length > 1 ? unit : layer.name)));
    return units.length;
  };
  const edges = input.edges ?? [];
  if (edges.length > 0) {
    const depth = depths(input.layers, edges);
    const used = new Map<number, number>();
    for (const layer of input.layers) {
      const row = depth.get(layer.name) ?? 0;
      used.set(row, (used.get(row) ?? 0) + place(layer, used.get(row) ?? 0, row));
    }
    const drawn = edges.flatMap((e) => {
      const from = anchor.get(e.from);
      const to = anchor.get(e.to);
      return from && to ? [{ from, to, skip: (depth.get(e.to) ?? 0) - (depth.get(e.from) ?? 0) > 1 }] : [];
    });
    return { layout: 'flow', nodes, edges: drawn, columns: [], rows: [] };
  }
  let k = 0;
  for (const layer of input.layers) k += place(layer, k % FLOW_COLUMNS, Math.floor(k / FLOW_COLUMNS));
  return { layout: 'flow', nodes, edges: [], columns: [], rows: [] };
}

export function structureOf(input: StructureInput): StructureData {
  return transformerGrid(input) ?? layerFlow(input);
}
