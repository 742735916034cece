import { syntheticSamples, type SampleData } from '../core/pipeline/data';
import { evaluateSamples, predictSamples } from '../core/pipeline/evaluate';
import { prunableRemovalTarget } from '../core/pipeline/removal';
import { sweepPrunable } from '../core/pipeline/sweep';
import type { LayerInfo } from '../core/types';
import type { Granularity } from '../core/criteria/types';
import type { RemovalTarget } from '../core/removal/types';
import type { SweepCell, SweepMetric, SweepResult } from '../core/sweep/engine';
import { GRAPH_MODEL_CAPABILITIES, GraphModelPrunable, graphInputSpecs, type GraphInputSpec } from '../kinds/graph-model';
import { findUnits, GraphIndex } from '../kinds/graph-model/graph';
import { modelSignature } from '../kinds/graph-model/inputs';
import { graphLayerTable, graphTotals } from '../kinds/graph-model/inspect';
import { checkDatasetFitsModel, parseDataset } from '../io/dataset';
import { filesFromPath } from '../io/node-files';
import type { GraphTopology } from '../io/tfjs-graph';
import type { OpenedModel } from '../io/types';
import { numberOption, stringOption, UsageError, type ParsedArgs } from './args';
import type { CliBackend } from './backend';
import { warn, type Output } from './load';
import { nonFiniteInputWarnings } from '../io/warnings';

/*
 * The TF.js GraphModel kind on the command line: `lopper inspect|eval|sweep|remove` build it here
 * (`lopper prune` in prune-graph.ts), over `GraphModelPrunable` and the shared pipeline.
 */

const firstLine = (error: unknown): string => (error instanceof Error ? error.message : String(error)).split('\n')[0];

/** Opens the kind (one probe run on synthetic inputs); a failure names the model and the problem. */
export async function openGraphKind(opened: OpenedModel): Promise<GraphModelPrunable> {
  try {
    return await GraphModelPrunable.create(opened);
  } catch (error) {
    throw new Error(`${opened.files[0] ?? opened.name}: the GraphModel did not run on synthetic inputs: ${firstLine(error)}`);
  }
}

/** The input `forward` takes a batch for: the first one; its shape with the batch as `null`. */
function firstInput(kind: GraphModelPrunable): { spec: GraphInputSpec; shape: (number | null)[] } {
  const spec = kind.inputSpecs()[0];
  if (spec === undefined) throw new Error(`${kind.name} has no inputs to feed samples to`);
  return { spec, shape: [null, ...spec.shape.slice(1)] };
}

/** Values per sample of the model's only output (classes), when it has one output of known shape. */
function outputClasses(kind: GraphModelPrunable): number | undefined {
  const outputs = kind.outputNames();
  if (outputs.length !== 1) return undefined;
  const shape = kind.probedShape(outputs[0]);
  return shape === undefined || shape.length < 2 ? undefined : shape.slice(1).reduce((a, b) => a * b, 1);
}

/**
 * `--data` (a dataset .json checked against the first input), or `--samples` (32) seeded synthetic
 * inputs: `syntheticSamples` for a float input, the kind's own `syntheticBatch` for int and bool
 * ones (their values kept as floats here, cast back by the kind); hash `synthetic:<seed>:<samples>`.
 */
export async function graphData(args: ParsedArgs, kind: GraphModelPrunable): Promise<SampleData> {
  const { spec, shape } = firstInput(kind);
  const dataPath = stringOption(args, 'data');
  if (dataPath === undefined) {
    const samples = numberOption(args, 'samples', 32);
    if (!Number.isInteger(samples) || samples < 1) throw new UsageError(`--samples expects an integer ≥ 1, got ${samples}`);
    const seed = numberOption(args, 'seed', 0);
    if (spec.dtype === 'float32') return syntheticSamples(shape, samples, seed);
    const batch = kind.syntheticBatch(samples, seed);
    try {
      const inputs = Float32Array.from(await batch.data());
      return { kind: 'samples', source: 'synthetic', hash: `synthetic:${seed}:${samples}`, inputs, shape: [...batch.shape], synthetic: true };
    } finally {
      batch.dispose();
    }
  }
  if (!dataPath.toLowerCase().endsWith('.json')) throw new UsageError(`--data for a GraphModel is a dataset .json file, got ${dataPath}`);
  const [file] = await filesFromPath(dataPath);
  const dataset = await parseDataset(file);
  for (const message of nonFiniteInputWarnings(file.path, dataset.inputs)) warn(message);
  checkDatasetFitsModel(dataset, shape, outputClasses(kind));
  return { kind: 'samples', ...dataset, synthetic: false };
}

/** The capabilities refusal for a granularity the kind does not offer (channels), or nothing. */
export function checkGraphGranularity(granularity: Granularity): void {
  if (!GRAPH_MODEL_CAPABILITIES.granularities.includes(granularity)) {
    throw new UsageError(`--granularity ${granularity}: ${GRAPH_MODEL_CAPABILITIES.unavailable[granularity] ?? 'not available for a GraphModel'}`);
  }
}

/** The refusal of FinerCut removal for a graph that only runs through `executeAsync`. */
export function checkSyncForward(kind: GraphModelPrunable): void {
  if (kind.requiresAsync) {
    throw new Error(
      `${kind.name} has control flow or dynamic shapes (it runs only through executeAsync): FinerCut removal needs a synchronous forward pass and is not available for it`,
    );
  }
}

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
 * `lopper inspect` of a GraphModel: `{format, name, totalParams, totalFlops, layers, units,
 * removalCandidates, inputs}`. Shapes, FLOPs and removal candidates come from one probe run at
 * batch 1; a graph that does not run on synthetic inputs is still listed from its topology alone,
 * with a warning saying why its shapes are unknown.
 */
export async function inspectGraph(opened: OpenedModel, path: string, out: Output): Promise<void> {
  const head = { format: opened.format, name: opened.name };
  let kind: GraphModelPrunable;
  try {
    kind = await GraphModelPrunable.create(opened);
  } catch (error) {
    const warning = `${path}: the graph did not run on synthetic inputs (${firstLine(error)}); output shapes, FLOPs and removal candidates are unknown`;
    let table: Record<string, unknown>;
    try {
      table = staticInspect(opened);
    } catch (inner) {
      throw new Error(`${path}: cannot read the GraphModel's graph: ${firstLine(inner)}`);
    }
    process.stderr.write(`lopper inspect: ${warning}\n`);
    out.print({ ...head, ...table, warnings: [warning] });
    return;
  }
  try {
    const totals = kind.totals();
    out.print({
      ...head,
      totalParams: totals.totalParams,
      totalFlops: totals.totalFlops,
      layers: kind.layers().map(layerRow),
      units: kind.units().map((u) => u.name),
      removalCandidates: kind.removalCandidates(),
      inputs: kind.inputSpecs(),
    });
  } finally {
    kind.dispose();
  }
}

/** `lopper eval` of a GraphModel: accuracy and loss with labels, else divergence from its own dense outputs (0). */
export async function evalGraph(args: ParsedArgs, opened: OpenedModel, backend: CliBackend, out: Output): Promise<void> {
  const kind = await openGraphKind(opened);
  try {
    const data = await graphData(args, kind);
    const reference = data.labels ? undefined : (await predictSamples(kind, data)).outputs;
    const result = await evaluateSamples(kind, data, { reference });
    out.print({
      ...(result.accuracy !== undefined && { accuracy: result.accuracy }),
      ...(result.loss !== undefined && { loss: result.loss }),
      ...(result.divergence !== undefined && { divergence: result.divergence }),
      samples: result.samples,
      backend,
      dataHash: data.hash,
      ...(result.latencyMs !== undefined && { latencyMs: result.latencyMs, batchSize: result.batchSize }),
    });
  } finally {
    kind.dispose();
  }
}

/** A GraphModel ready for `lopper sweep`: `sweepPrunable` over its units on the data. */
export async function graphSweep(
  args: ParsedArgs,
  opened: OpenedModel,
  options: { criterion: SweepResult['criterion']; granularity: Granularity; sparsities: readonly number[]; metric?: SweepMetric; seed: number },
): Promise<{ unitNames: string[]; metric: SweepMetric; dataHash: string; run(onCell: (cell: SweepCell) => void, select?: SweepSelection): Promise<SweepResult>; dispose(): void }> {
  checkGraphGranularity(options.granularity);
  const kind = await openGraphKind(opened);
  try {
    const data = await graphData(args, kind);
    const metric = options.metric ?? (data.labels ? 'accuracy' : 'js');
    const { criterion, granularity, sparsities, seed } = options;
    return {
      unitNames: kind.units().map((u) => u.name),
      metric,
      dataHash: data.hash,
      run: (onCell, select) => sweepPrunable(kind, data, { criterion, granularity, sparsities: select?.sparsities ?? sparsities, units: select?.units, metric, seed, onCell }),
      dispose: () => kind.dispose(),
    };
  } catch (error) {
    kind.dispose();
    throw error;
  }
}

/** A restriction of a sweep to some units and sparsities (one shard's share, `lopper sweep --shard`). */
export interface SweepSelection {
  units: readonly string[];
  sparsities: readonly number[];
}

/** A GraphModel as `lopper remove`'s FinerCut target: its residual adds, on the first min(128, N) samples. */
export async function graphRemovalTarget(args: ParsedArgs, opened: OpenedModel): Promise<{ target: RemovalTarget; dataHash: string; dispose(): void }> {
  const kind = await openGraphKind(opened);
  try {
    checkSyncForward(kind);
    const data = await graphData(args, kind);
    return { target: prunableRemovalTarget(kind, data), dataHash: data.hash, dispose: () => kind.dispose() };
  } catch (error) {
    kind.dispose();
    throw error;
  }
}
