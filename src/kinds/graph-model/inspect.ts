import { inputNodeName } from '../../io/tfjs-graph';
import type * as tf from '@tensorflow/tfjs';
import type { LayerInfo } from '../../core/types';
import { intListAttr, stringListAttr } from './attrs';
import type { GraphIndex, GraphUnit } from './graph';
import { graphUnitLayout } from './layout';

/*
 * FLOPs per sample of one node, a multiply-add counting 2 (as core/model/flops.ts does for Keras):
 * - Conv2D / _FusedConv2D, depthwise, MatMul-like, Einsum: 2 · weight size · output elements / W's rows;
 *   Conv2DBackpropInput: 2 · weight size · input positions; a fused BiasAdd adds one per output element;
 * - BiasAdd and binary elementwise arithmetic: one per output element; AddN: (n − 1) per element;
 * - FusedBatchNorm: 2 per element; MaxPool / AvgPool: window size per output element; Mean: one per input element;
 * - everything else (activations, reshapes, padding, concatenation, control flow): 0.
 */

const LEFT_OUT = new Set(['Const', 'Placeholder', 'NoOp']);

/** The layer table's rows feeding each other: `from` → `to` by row name, for the page's structure view. */
export function graphLayerEdges(graph: GraphIndex, units: readonly GraphUnit[]): { from: string; to: string }[] {
  const unitByNode = new Map(units.map((unit) => [unit.node, unit.name]));
  const rowName = (node: string): string | undefined => (graph.nodes.has(node) && !LEFT_OUT.has(graph.node(node).op) ? (unitByNode.get(node) ?? node) : undefined);
  const edges: { from: string; to: string }[] = [];
  for (const name of graph.order) {
    const to = rowName(name);
    if (to === undefined) continue;
    for (const input of graph.dataInputs(name)) {
      const from = rowName(inputNodeName(input));
      if (from !== undefined && from !== to) edges.push({ from, to });
    }
  }
  return edges;
}
const ELEMENTWISE = new Set(['BiasAdd', 'Add', 'AddV2', 'Sub', 'Mul', 'RealDiv', 'Div', 'Maximum', 'Minimum', 'SquaredDifference']);

export interface GraphTotals {
  /** Every float weight of the model (int32/bool constants are not parameters). */
  totalParams: number;
  totalFlops: number;
  prunableParams: number;
  /** Zeros / weights over the units (0 without zero counts). */
  sparsity: number;
}

const product = (dims: readonly number[]): number => dims.reduce((a, b) => a * b, 1);

function floatSizes(weightSpecs: readonly tf.io.WeightsManifestEntry[]): Map<string, number> {
  return new Map(weightSpecs.filter((spec) => spec.dtype === 'float32').map((spec) => [spec.name, product(spec.shape)]));
}

function nodeFlops(graph: GraphIndex, name: string, unit: GraphUnit | undefined, shapeOf: (t: string) => number[] | undefined, batch: number): number {
  const node = graph.node(name);
  const out = shapeOf(name);
  const outElements = out === undefined ? NaN : product(out) / batch;
  if (unit !== undefined) {
    const fusedBias = stringListAttr(node, 'fused_ops').some((op) => op.toLowerCase() === 'biasadd') ? outElements : 0;
    if (unit.op === 'Conv2DBackpropInput') {
      const data = shapeOf(unit.dataInput);
      const channels = unit.shape[3] ?? 1;
      return data === undefined ? NaN : (2 * unit.size * product(data)) / batch / channels;
    }
    const layout = graphUnitLayout(graph, unit);
    const rows = typeof layout === 'string' ? (out?.[out.length - 1] ?? 1) : layout.rows;
    return (2 * unit.size * outElements) / rows + fusedBias;
  }
  if (ELEMENTWISE.has(node.op)) return outElements;
  if (node.op === 'AddN') return outElements * Math.max(0, graph.dataInputs(name).length - 1);
  if (node.op.startsWith('FusedBatchNorm')) return 2 * outElements;
  if (node.op === 'MaxPool' || node.op === 'AvgPool') return product(intListAttr(node, 'ksize') ?? [1]) * outElements;
  if (node.op === 'Mean') {
    const input = shapeOf(graph.dataInputs(name)[0] ?? '');
    return input === undefined ? NaN : product(input) / batch;
  }
  return 0;
}

/**
 * The layer table of a GraphModel: one row per node that computes (Consts, Placeholders and NoOps
 * left out), in execution order; a unit's op is named by its unit (the weight's name). `params`
 * counts the float constants the node reads (through Identity nodes), each constant at its first
 * reader; shapes and FLOPs come from the probe (`shapeOf` at `batch` samples), batch as `null`.
 */
export function graphLayerTable(
  graph: GraphIndex,
  units: readonly GraphUnit[],
  weightSpecs: readonly tf.io.WeightsManifestEntry[],
  shapeOf: (tensor: string) => number[] | undefined,
  batch: number,
  zeros?: ReadonlyMap<string, number>,
): LayerInfo[] {
  const sizes = floatSizes(weightSpecs);
  const unitByNode = new Map(units.map((unit) => [unit.node, unit]));
  const counted = new Set<string>();
  const rows: LayerInfo[] = [];
  for (const name of graph.order) {
    const node = graph.node(name);
    if (LEFT_OUT.has(node.op)) continue;
    let params = 0;
    for (const input of graph.dataInputs(name)) {
      const constant = graph.constantBehind(input);
      if (constant === undefined || counted.has(constant)) continue;
      counted.add(constant);
      params += sizes.get(constant) ?? 0;
    }
    const unit = unitByNode.get(name);
    const shape = shapeOf(name);
    const flops = nodeFlops(graph, name, unit, shapeOf, batch);
    rows.push({
      name: unit?.name ?? name,
      type: node.op,
      outputShape: shape === undefined ? [] : shape.map((d, i) => (i === 0 && d === batch ? null : d)),
      params,
      flops: Number.isFinite(flops) ? Math.round(flops) : 0,
      prunable: unit !== undefined,
      sparsity: unit === undefined || unit.size === 0 ? 0 : (zeros?.get(unit.name) ?? 0) / unit.size,
    });
  }
  return rows;
}

export function graphTotals(
  rows: readonly LayerInfo[],
  units: readonly GraphUnit[],
  weightSpecs: readonly tf.io.WeightsManifestEntry[],
  zeros?: ReadonlyMap<string, number>,
): GraphTotals {
  const prunableParams = units.reduce((sum, unit) => sum + unit.size, 0);
  const zeroCount = units.reduce((sum, unit) => sum + (zeros?.get(unit.name) ?? 0), 0);
  return {
    totalParams: [...floatSizes(weightSpecs).values()].reduce((a, b) => a + b, 0),
    totalFlops: rows.reduce((sum, row) => sum + row.flops, 0),
    prunableParams,
    sparsity: prunableParams === 0 ? 0 : zeroCount / prunableParams,
  };
}
