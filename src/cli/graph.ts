import type { LayerInfo } from '../core/types';
import { graphInputSpecs, type GraphInputSpec } from '../kinds/graph-model';
import { findUnits, GraphIndex } from '../kinds/graph-model/graph';
import { modelSignature } from '../kinds/graph-model/inputs';
import { graphLayerTable, graphTotals } from '../kinds/graph-model/inspect';
import type { GraphTopology } from '../io/tfjs-graph';
import type { OpenedModel } from '../io/types';
import type { Output } from './load';

const firstLine = (error: unknown): string => (error instanceof Error ? error.message : String(error)).split('\n')[0];

const layerRow = (l: LayerInfo) => ({ name: l.name, type: l.type, outputShape: l.outputShape, params: l.params, flops: l.flops, prunable: l.prunable });

/**
 * What `inspect` reports without running the graph: the layer table with unknown shapes and FLOPs,
 * and no removal candidates (finding them needs the probe's shapes).
 */
function staticInspect(opened: OpenedModel): Record<string, unknown> {
  const artifacts = opened.artifacts;
  const graph = new GraphIndex(artifacts.modelTopology as unknown as GraphTopology);
  const specs = artifacts.weightSpecs ?? [];
  const units = findUnits(graph, new Map(specs.map((spec) => [spec.name, { shape: [...spec.shape], dtype: spec.dtype }])));
  const layers = graphLayerTable(graph, units, specs, () => undefined, 1);
  const totals = graphTotals(layers, units, specs);
  let inputs: GraphInputSpec[] = [];
  try {
    inputs = graphInputSpecs(graph, modelSignature(artifacts));
  } catch {
    // An input Lopper cannot synthesise (strings): the inputs stay unlisted.
  }
  return { totalParams: totals.totalParams, totalFlops: totals.totalFlops, layers: layers.map(layerRow), units: units.map((u) => u.name), removalCandidates: [], inputs };
}

/**
 * `lopper inspect` of a GraphModel that does not run on synthetic inputs: still listed from its
 * topology alone, with a warning saying why its shapes, FLOPs and removal candidates are unknown.
 */
export function inspectUnrunnableGraph(opened: OpenedModel, path: string, error: unknown, out: Output): void {
  const warning = `${path}: the graph did not run on synthetic inputs (${firstLine(error)}); output shapes, FLOPs and removal candidates are unknown`;
  let table: Record<string, unknown>;
  try {
    table = staticInspect(opened);
  } catch (inner) {
    throw new Error(`${path}: cannot read the GraphModel's graph: ${firstLine(inner)}`);
  }
  process.stderr.write(`lopper inspect: ${warning}\n`);
  out.print({ format: opened.format, name: opened.name, ...table, warnings: [warning] });
}
