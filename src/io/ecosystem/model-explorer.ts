import type { ModelFormatName } from '../types';
import type { EcosystemInput, EcosystemPart, EcosystemSweep, EcosystemUnit, GraphDefNode } from './types';

/**
 * Node data for Google's Model Explorer (model_explorer/node_data_builder.py): a JSON object of
 * graph id → `{name, results: {<node id or output tensor name>: {value}}, gradient}`, one file
 * per overlay. The keys follow how Model Explorer's adapters name things:
 * - TF.js GraphModel (its JSON adapter, ui/src/common/tfjs.ts): one graph, id `default`; every
 *   GraphDef node keeps its name as node id. A unit is a weight (Const) node, which Model
 *   Explorer hides by default (setting "Hide op nodes with labels": Const, …), so with
 *   `graphNodes` the key is the prunable op that consumes the weight; without, the weight node.
 * - TF.js LayersModel: that adapter reads only GraphDef topologies (`modelTopology.node`), so a
 *   LayersModel must be converted first; the keys are the Keras layer (unit) names under graph
 *   `default`, which match a converted graph only where its nodes keep those names.
 * - HF transformer (its PyTorch ExportedProgram adapter): one graph, id `graph`, node id = FX node
 *   name; a parameter's placeholder is named by torch.export as `p_` + its path with `.` → `_`
 *   (`p_model_layers_0_self_attn_q_proj_weight`), and that node is the key.
 * `nodeIds` in the input replaces the key of any unit.
 */

export const PLANNED_SPARSITY_NODE_DATA = 'node-data.json';
export const SENSITIVITY_NODE_DATA = 'node-data.sensitivity.json';

export interface GradientStop {
  stop: number;
  bgColor: string;
}

export interface GraphNodeData {
  name: string;
  results: Record<string, { value: number }>;
  gradient: GradientStop[];
}

export type ModelNodeData = Record<string, GraphNodeData>;

const SPARSITY_GRADIENT: GradientStop[] = [
  { stop: 0, bgColor: '#f7fbff' },
  { stop: 0.5, bgColor: '#6baed6' },
  { stop: 1, bgColor: '#08306b' },
];
const SENSITIVITY_GRADIENT: GradientStop[] = [
  { stop: 0, bgColor: '#fff5eb' },
  { stop: 0.5, bgColor: '#fd8d3c' },
  { stop: 1, bgColor: '#7f2704' },
];

export function graphIdOf(format: ModelFormatName): string {
  return format === 'hf-transformer' ? 'graph' : 'default';
}

/** The key a unit's value is stored under for Model Explorer when nothing more is known. */
export function nodeKeyOf(format: ModelFormatName, unit: string): string {
  return format === 'hf-transformer' ? `p_${unit.replace(/\./g, '_')}_weight` : unit;
}

/** The ops whose constant weight input is a unit (DESIGN §6 Units). */
const PRUNABLE_OPS = new Set([
  'Conv2D',
  '_FusedConv2D',
  'DepthwiseConv2dNative',
  'FusedDepthwiseConv2dNative',
  'MatMul',
  '_FusedMatMul',
  'BatchMatMulV2',
  'Conv2DBackpropInput',
  'Einsum',
]);

/** Weight node name → the first prunable op that reads it. */
export function weightConsumers(nodes: readonly GraphDefNode[]): Map<string, string> {
  const consumers = new Map<string, string>();
  for (const node of nodes) {
    if (!PRUNABLE_OPS.has(node.op)) continue;
    for (const input of node.input ?? []) {
      const source = input.replace(/^\^/, '').replace(/:\d+$/, '');
      if (!consumers.has(source)) consumers.set(source, node.name);
    }
  }
  return consumers;
}

/** How this input's units are keyed: `nodeIds`, else a GraphModel's consuming op, else `nodeKeyOf`. */
export function nodeKeys(input: EcosystemInput): (unit: string) => string {
  const consumers = input.format === 'graph-model' && input.graphNodes !== undefined ? weightConsumers(input.graphNodes) : new Map<string, string>();
  return (unit) => input.nodeIds?.[unit] ?? consumers.get(unit) ?? nodeKeyOf(input.format, unit);
}

const OUTPUT_PROJECTIONS = ['o_proj', 'down_proj', 'c_proj'];

/**
 * Whether removing these candidates zeroes this unit as a whole: a transformer sublayer's output
 * projection (DESIGN §6), or a layer-model unit named by (or held in) a removed layer.
 */
function zeroedByRemoval(format: ModelFormatName, unit: EcosystemUnit, removed: readonly string[]): boolean {
  if (format === 'hf-transformer') {
    const sublayer = unit.name.slice(0, unit.name.lastIndexOf('.'));
    return removed.includes(sublayer) && OUTPUT_PROJECTIONS.includes(unit.name.slice(sublayer.length + 1));
  }
  return removed.some((r) => r === unit.name || r === unit.layer || unit.name.startsWith(`${r}/`));
}

function file(path: string, graphId: string, data: GraphNodeData): EcosystemPart['files'][number] {
  const model: ModelNodeData = { [graphId]: data };
  return { path, text: `${JSON.stringify(model, null, 2)}\n` };
}

function plannedSparsity(input: EcosystemInput): GraphNodeData {
  const { format, units, plan } = input;
  const key = nodeKeys(input);
  const results: GraphNodeData['results'] = {};
  for (const unit of units) {
    const value = zeroedByRemoval(format, unit, plan.removed) ? 1 : (plan.sparsity[unit.name] ?? 0);
    results[key(unit.name)] = { value };
  }
  const removal = plan.removed.length > 0 ? `, ${plan.removed.length} removed` : '';
  return { name: `Planned sparsity (${plan.criterion}, ${plan.granularity}${removal})`, results, gradient: SPARSITY_GRADIENT };
}

/** The sweep column nearest to `at`, leaving out 0 when another column exists. */
export function sweepColumn(sweep: EcosystemSweep, at = 0.5): number {
  const candidates = sweep.sparsities.map((s, i) => ({ s, i })).filter(({ s }) => s > 0 || sweep.sparsities.length === 1);
  let best = candidates[0]?.i ?? 0;
  for (const { s, i } of candidates) if (Math.abs(s - at) < Math.abs(sweep.sparsities[best] - at)) best = i;
  return best;
}

/** How much worse than dense: accuracy is higher-is-better, the other metrics lower-is-better. */
function degradation(sweep: EcosystemSweep, value: number): number {
  return sweep.metric === 'accuracy' ? sweep.dense - value : value - sweep.dense;
}

function sensitivity(input: EcosystemInput, sweep: EcosystemSweep): GraphNodeData | undefined {
  const column = sweepColumn(sweep, input.sensitivityAt);
  const key = nodeKeys(input);
  const results: GraphNodeData['results'] = {};
  sweep.layers.forEach((unit, row) => {
    const value = sweep.values[row]?.[column];
    if (value !== null && value !== undefined && Number.isFinite(value)) results[key(unit)] = { value: degradation(sweep, value) };
  });
  if (Object.keys(results).length === 0) return undefined;
  const change = sweep.metric === 'accuracy' ? 'accuracy drop' : `${sweep.metric} rise`;
  const level = `${sweep.delta ? 'DARE drop rate' : 'sparsity'} ${sweep.sparsities[column]}`;
  return { name: `Sensitivity: ${change} vs dense at ${level} (${sweep.criterion}, ${sweep.granularity})`, results, gradient: SENSITIVITY_GRADIENT };
}

/** `node-data.json` (planned sparsity) and, with a sweep, `node-data.sensitivity.json`. */
export function modelExplorerNodeData(input: EcosystemInput): EcosystemPart {
  const graphId = graphIdOf(input.format);
  const files = [file(PLANNED_SPARSITY_NODE_DATA, graphId, plannedSparsity(input))];
  const notes: string[] = [];
  if (input.format === 'layers-model') {
    notes.push(
      'Model Explorer opens TF.js GraphModels but not LayersModels: convert the model (tensorflowjs_converter --output_format=tfjs_graph_model) to view the node data, whose keys are the Keras layer names.',
    );
  }
  if (input.sweep !== undefined) {
    const data = sensitivity(input, input.sweep);
    if (data === undefined) notes.push('The sweep has no values at the chosen column, so no sensitivity node data is written.');
    else files.push(file(SENSITIVITY_NODE_DATA, graphId, data));
  }
  return { files, notes };
}
