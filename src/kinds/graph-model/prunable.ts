import * as tf from '@tensorflow/tfjs';
import type { KindCapabilities, Prunable, PrunableForward } from '../../core/pipeline/prunable';
import type { LayerInfo, UnitInfo } from '../../core/types';
import { inputNodeName, type GraphTopology } from '../../io/tfjs-graph';
import type { OpenedModel } from '../../io/types';
import { findUnits, GraphIndex, type GraphUnit } from './graph';
import { graphInputSpecs, idRange, modelSignature, outputNames, syntheticInput, withValueRange, type GraphInputOptions, type GraphInputSpec } from './inputs';
import { graphLayerEdges, graphLayerTable, graphTotals, type GraphTotals } from './inspect';
import { graphUnitLayout, type GraphUnitLayout } from './layout';
import { unitInputRows } from './patches';
import { bypassTopology, residualCandidates, type ResidualCandidate } from './residual';
import { splitWeights, type WeightSubset } from './weights';
import { writeGraphModel, type WriteGraphOptions } from './writer';
import type { ExportFile, WeightValues } from '../../io/export/tfjs-layers-writer';

/** What the page offers for a GraphModel (DESIGN §1). */
export const GRAPH_MODEL_CAPABILITIES: KindCapabilities = {
  criteria: ['magnitude', 'wanda', 'sparsegpt', 'random'],
  granularities: ['unstructured', '2:4', '4:8', 'channels'],
  allocations: ['uniform', 'global', 'sensitivity', 'owl', 'ecoflap'],
  removal: true,
  delta: true,
  unavailable: {},
};

/** Ops tfjs-converter runs only in `executeAsync` (control flow, dynamic shapes, hash tables). */
const ASYNC_OPS = new Set([
  'Switch',
  'Merge',
  'Enter',
  'Exit',
  'NextIteration',
  'StatelessIf',
  'StatelessWhile',
  'If',
  'While',
  'if',
  'NonMaxSuppressionV2',
  'NonMaxSuppressionV3',
  'NonMaxSuppressionV5',
  'Where',
  'HashTable',
  'HashTableV2',
  'LookupTableImport',
  'LookupTableImportV2',
  'LookupTableFind',
  'LookupTableFindV2',
  'LookupTableSize',
  'LookupTableSizeV2',
]);

/** Ops whose outputs are not plain tensors of the graph's frame, never asked for as extra outputs. */
const UNPROBED_OPS = new Set(['Const', 'NoOp', 'Switch', 'Merge', 'Enter', 'Exit', 'NextIteration', 'LoopCond']);

export interface GraphModelOptions extends GraphInputOptions {
  /** Bypass variants of the graph kept loaded at once (4). */
  variantCache?: number;
}

type NamedTensors = Record<string, tf.Tensor>;
/** The executor of one variant of the graph (loaded synchronously from artifacts). */
type Executor = ReturnType<typeof tf.loadGraphModelSync>;

/**
 * A TF.js GraphModel on the seam (`Prunable`). The kind owns every constant of the main graph as a
 * tensor and feeds them to tfjs-converter's executor with each run, so a substitute kernel, a stored
 * (pruned) kernel and the original are all just entries of that feed; the executor itself is loaded
 * from the topology alone. A bypassed residual add runs in a variant of the graph whose add consumers
 * read the skip input (one variant per set of bypasses, a few kept loaded). Graphs with control flow
 * or dynamic shapes run only through `forwardAsync` (`requiresAsync`); `forward` then throws.
 */
export class GraphModelPrunable implements Prunable {
  readonly kind = 'graph-model' as const;
  readonly graph: GraphIndex;
  /** True when the graph needs `executeAsync` (control flow, NonMaxSuppression, Where, hash tables). */
  readonly requiresAsync: boolean;
  private readonly weights = new Map<string, tf.Tensor>();
  private readonly functionWeights: WeightSubset;
  private readonly unitList: GraphUnit[];
  private readonly unitByName: Map<string, GraphUnit>;
  private readonly specs: GraphInputSpec[];
  private readonly outputs: string[];
  private readonly variants = new Map<string, Executor>();
  private readonly shapes = new Map<string, number[]>();
  /** Nodes that may not run in a pass (loops, conditional branches): never asked for as outputs. */
  private readonly conditional: Set<string>;
  private candidates: ResidualCandidate[] = [];
  private probeBatch = 1;
  private disposed = false;

  /** Opens the kind and probes the graph once (batch 1, synthetic inputs) for shapes, candidates and FLOPs. */
  static async create(opened: OpenedModel, options: GraphModelOptions = {}): Promise<GraphModelPrunable> {
    if (opened.format !== 'graph-model') throw new Error(`${opened.name} is a ${opened.format}, not a TF.js GraphModel`);
    const model = new GraphModelPrunable(opened, options);
    try {
      await model.probe();
    } catch (error) {
      model.dispose();
      throw error;
    }
    return model;
  }

  private constructor(
    readonly source: OpenedModel,
    private readonly options: GraphModelOptions,
  ) {
    const artifacts = source.artifacts;
    this.graph = new GraphIndex(artifacts.modelTopology as unknown as GraphTopology);
    const signature = modelSignature(artifacts);
    // Input shapes are checked before any weight becomes a tensor.
    this.specs = graphInputSpecs(this.graph, signature, options);
    const specs = artifacts.weightSpecs ?? [];
    const split = splitWeights(specs, artifacts.weightData ?? new ArrayBuffer(0), (name) => this.graph.nodes.get(name)?.op === 'Const');
    this.functionWeights = artifacts.modelInitializer !== undefined ? split.all : split.rest;
    const decoded = tf.io.decodeWeights(split.main.data, split.main.specs);
    for (const [name, tensor] of Object.entries(decoded)) this.weights.set(name, tensor);
    const intValues = (name: string): number[] | undefined => {
      const tensor = this.weights.get(name);
      return tensor === undefined || tensor.dtype !== 'int32' || tensor.size > 64 ? undefined : Array.from(tensor.dataSync());
    };
    this.specs = this.specs.map((spec) =>
      withValueRange(
        spec,
        idRange(this.graph, spec.name, (name) => this.weights.get(name)?.shape, intValues),
      ),
    );
    this.unitList = findUnits(this.graph, new Map(specs.map((spec) => [spec.name, { shape: [...spec.shape], dtype: spec.dtype }])));
    this.unitByName = new Map(this.unitList.map((unit) => [unit.name, unit]));
    this.outputs = outputNames(this.graph, signature);
    const needed = new Set<string>();
    for (const output of this.outputs) {
      needed.add(inputNodeName(output));
      for (const name of this.graph.ancestors(inputNodeName(output))) needed.add(name);
    }
    this.requiresAsync = [...needed].some((name) => ASYNC_OPS.has(this.graph.node(name).op));
    this.conditional = this.graph.conditionalNodes();
  }

  get name(): string {
    return this.source.name;
  }

  /** The model's inputs with their resolved shapes; `forward` takes a batch for the first, the others get synthetic values. */
  inputSpecs(): GraphInputSpec[] {
    return this.specs.map((spec) => ({ ...spec, shape: [...spec.shape] }));
  }

  /** The outputs `forward` concatenates, in order (`node` or `node:i`). */
  outputNames(): string[] {
    return [...this.outputs];
  }

  /** Synthetic values for the first input (`syntheticInput`), `batch` samples. */
  syntheticBatch(batch: number, seed = 0): tf.Tensor {
    const spec = this.specs[0];
    if (spec === undefined) throw new Error(`${this.name} has no inputs`);
    return syntheticInput(spec, batch, seed);
  }

  units(): UnitInfo[] {
    return this.unitList.map((unit) => ({ name: unit.name, layer: unit.name, weight: unit.name, shape: [...unit.shape], size: unit.size }));
  }

  /** The op behind a unit: its node, op, which input is the weight, and its data input. */
  unitDetails(unit: string): GraphUnit {
    const found = this.unit(unit);
    return { ...found, shape: [...found.shape] };
  }

  layout(unit: string): GraphUnitLayout | string {
    return graphUnitLayout(this.graph, this.unit(unit));
  }

  inputRows(unit: string, input: tf.Tensor): tf.Tensor2D {
    const layout = this.layout(unit);
    if (typeof layout === 'string') throw new Error(`${unit}: ${layout}`);
    return unitInputRows(this.graph, this.unit(unit), layout, input);
  }

  getKernel(unit: string): tf.Tensor {
    return tf.clone(this.weight(this.unit(unit).name));
  }

  setKernel(unit: string, values: Float32Array): void {
    const info = this.unit(unit);
    if (values.length !== info.size) throw new Error(`kernel ${unit}: expected ${info.size} values, received ${values.length}`);
    const old = this.weight(unit);
    this.weights.set(unit, tf.tensor(values.slice(), info.shape, 'float32'));
    old.dispose();
  }

  /** Current values of every constant of the main graph, by node name (for the writer); the caller disposes nothing. */
  constants(): ReadonlyMap<string, tf.Tensor> {
    return this.weights;
  }

  /** Every weight's current values by name (main-graph constants as stored now, function constants as opened), copies. */
  async weightValues(): Promise<Map<string, WeightValues>> {
    const values = new Map<string, WeightValues>();
    for (const [name, tensor] of this.weights) values.set(name, await storedValues(name, tensor));
    const decoded = tf.io.decodeWeights(this.functionWeights.data, this.functionWeights.specs);
    try {
      for (const [name, tensor] of Object.entries(decoded)) if (!values.has(name)) values.set(name, await storedValues(name, tensor));
    } finally {
      tf.dispose(Object.values(decoded));
    }
    return values;
  }

  /** The model as it stands (stored kernels), `removed` candidates bypassed in the topology: model.json + shards (writer.ts). */
  async exportFiles(options: Omit<WriteGraphOptions, 'bypass'> & { removed?: readonly string[] } = {}): Promise<ExportFile[]> {
    const { removed = [], ...rest } = options;
    const known = new Set(this.removalCandidates());
    for (const name of removed) if (!known.has(name)) throw new Error(`cannot remove ${name}: it is not a residual add of ${this.name}`);
    return writeGraphModel(this.source, await this.weightValues(), { ...rest, bypass: this.skipMap(new Set(removed)) }).files;
  }

  forward(input: tf.Tensor, options: PrunableForward = {}): tf.Tensor {
    if (this.requiresAsync) throw new Error(`${this.name} has control flow or dynamic shapes: use forwardAsync`);
    return this.run(input, options, (model, feed, names) => model.execute(feed, names));
  }

  /** `forward` through `executeAsync`: works for every graph, and is the only way for those that `requiresAsync`. */
  async forwardAsync(input: tf.Tensor, options: PrunableForward = {}): Promise<tf.Tensor> {
    const chunks = this.chunks(input);
    const bypass = this.bypassOf(options);
    const model = this.variant(bypass);
    const names = this.requested(bypass, options);
    const results: tf.Tensor[][] = [];
    try {
      for (const chunk of chunks) {
        const { feed, release } = this.prepare(chunk, options.kernels);
        try {
          const out = this.requiresAsync ? await model.executeAsync(feed, names.list) : model.execute(feed, names.list);
          results.push(this.own(Array.isArray(out) ? out : [out], feed));
        } finally {
          release();
        }
      }
      return this.finish(results, names, options);
    } finally {
      for (const list of results) tf.dispose(list);
      if (chunks[0] !== input) tf.dispose(chunks);
    }
  }

  /**
   * The tensors a pass needs to run from `unit`'s op onwards: every computed tensor that the op or
   * anything downstream of it reads from upstream, and the outputs that do not depend on it.
   * `undefined` where a pass cannot resume there (control flow, a fixed batch, control inputs from
   * upstream, several outputs of one node).
   */
  resumeFrom(unit: string): string[] | undefined {
    if (this.requiresAsync || (this.specs[0]?.fixedBatch ?? null) !== null) return undefined;
    const start = this.unit(unit).node;
    const recomputed = new Set([start]);
    const stack = [start];
    while (stack.length > 0) {
      for (const consumer of this.graph.consumers.get(stack.pop() as string) ?? []) {
        if (recomputed.has(consumer)) continue;
        recomputed.add(consumer);
        stack.push(consumer);
      }
    }
    const frontier = new Set<string>();
    for (const name of recomputed) {
      if (this.conditional.has(name)) return undefined;
      for (const input of this.graph.node(name).input ?? []) {
        const source = inputNodeName(input);
        if (recomputed.has(source) || this.graph.constantBehind(input) !== undefined) continue;
        if (input.startsWith('^')) return undefined;
        frontier.add(tensorKey(input));
      }
    }
    for (const output of this.outputs) if (!recomputed.has(inputNodeName(output))) frontier.add(tensorKey(output));
    const nodes = [...frontier].map(inputNodeName);
    if (new Set(nodes).size !== nodes.length) return undefined;
    if (nodes.some((name) => this.conditional.has(name) || UNPROBED_OPS.has(this.graph.node(name).op))) return undefined;
    return [...frontier];
  }

  /** The named tensors of a dense pass on `input` (`resumeFrom`'s names); the caller disposes them. */
  capture(input: tf.Tensor, names: readonly string[]): tf.Tensor[] {
    if (this.requiresAsync) throw new Error(`${this.name} has control flow or dynamic shapes: its tensors cannot be captured synchronously`);
    const model = this.variant(new Set());
    const { feed, release } = this.prepare(input, undefined);
    try {
      const out = model.execute(feed, [...names]);
      return this.own(Array.isArray(out) ? out : [out], feed);
    } finally {
      release();
    }
  }

  /** `forward` resumed from captured tensors (`resumeFrom`'s names → values), `kernels` substituted: the same outputs, flat. */
  forwardFrom(captured: ReadonlyMap<string, tf.Tensor>, kernels?: ReadonlyMap<string, tf.Tensor>): tf.Tensor {
    this.bypassOf({ ...(kernels && { kernels }) });
    const feed: NamedTensors = {};
    for (const [name, tensor] of this.weights) feed[name] = kernels?.get(name) ?? tensor;
    for (const [name, tensor] of captured) feed[name] = tensor;
    const out = this.variant(new Set()).execute(feed, this.outputs);
    const results = this.own(Array.isArray(out) ? out : [out], feed);
    try {
      return this.finish([results], { outputs: this.outputs.map((_, i) => i), units: [] }, {});
    } finally {
      tf.dispose(results);
    }
  }

  removalCandidates(): string[] {
    return this.candidates.map((candidate) => candidate.name);
  }

  /** Each candidate with its skip and branch inputs and the units only its branch computes. */
  removalCandidateDetails(): ResidualCandidate[] {
    return this.candidates.map((candidate) => ({ ...candidate, units: [...candidate.units] }));
  }

  liveUnits(removed: readonly string[]): UnitInfo[] {
    if (removed.length === 0) return this.units();
    const { deadNodes } = bypassTopology(this.graph, this.skipMap(new Set(removed)), this.outputs, false);
    return this.units().filter((unit) => !deadNodes.has(this.unit(unit.name).node));
  }

  /** True when every output comes out of a Softmax. */
  outputsAreProbabilities(): boolean {
    return this.outputs.every((output) => {
      let name = inputNodeName(output);
      for (let hops = 0; hops < 16; hops++) {
        const node = this.graph.node(name);
        if (node.op === 'Softmax') return true;
        if (node.op !== 'Identity') return false;
        name = inputNodeName(this.graph.dataInputs(name)[0] ?? '');
      }
      return false;
    });
  }

  capabilities(): KindCapabilities {
    return GRAPH_MODEL_CAPABILITIES;
  }

  /** Shape of a tensor (`node`, `node:i`) at the probe's batch, when the probe saw it. */
  probedShape(tensor: string): number[] | undefined {
    return this.shapes.get(tensorKey(tensor));
  }

  /** The layer table: one row per computing node (Consts and Placeholders left out), units named by their weight. */
  layers(zeros?: ReadonlyMap<string, number>): LayerInfo[] {
    return graphLayerTable(this.graph, this.unitList, this.source.artifacts.weightSpecs ?? [], (t) => this.probedShape(t), this.probeBatch, zeros);
  }

  /** Which rows of the layer table feed which (the graph's data edges between computing nodes). */
  layerEdges(): { from: string; to: string }[] {
    return graphLayerEdges(this.graph, this.unitList);
  }

  totals(zeros?: ReadonlyMap<string, number>): GraphTotals {
    return graphTotals(this.layers(zeros), this.unitList, this.source.artifacts.weightSpecs ?? [], zeros);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const model of this.variants.values()) model.dispose();
    this.variants.clear();
    tf.dispose([...this.weights.values()]);
    this.weights.clear();
  }

  private unit(name: string): GraphUnit {
    const unit = this.unitByName.get(name);
    if (unit === undefined) throw new Error(`no prunable unit named ${name} in ${this.name}`);
    return unit;
  }

  private weight(name: string): tf.Tensor {
    const tensor = this.weights.get(name);
    if (tensor === undefined) throw new Error(`no constant named ${name} in ${this.name}`);
    return tensor;
  }

  private bypassOf(options: PrunableForward): ReadonlySet<string> {
    const bypass = options.bypass ?? new Set<string>();
    const known = new Set(this.removalCandidates());
    for (const name of bypass)
      if (!known.has(name)) throw new Error(`cannot bypass ${name}: it is not a residual add of ${this.name} (candidates: ${[...known].join(', ') || 'none'})`);
    for (const unit of options.kernels?.keys() ?? []) {
      const info = this.unit(unit);
      const kernel = options.kernels?.get(unit) as tf.Tensor;
      if (kernel.dtype !== 'float32' || kernel.shape.length !== info.shape.length || kernel.shape.some((d, i) => d !== info.shape[i])) {
        throw new Error(`kernel ${unit}: expected float32 [${info.shape.join(', ')}], received ${kernel.dtype} [${kernel.shape.join(', ')}]`);
      }
    }
    return bypass;
  }

  /** Whether a pass can hand the unit its input: its op runs unconditionally (not in a loop or a Switch branch). */
  private observable(unit: GraphUnit): boolean {
    return !this.conditional.has(unit.node) && !this.conditional.has(inputNodeName(unit.dataInput));
  }

  /** Units whose input `onUnitInput` sees; the others (in loops or conditional branches) get no calibration statistics. */
  observedUnits(): string[] {
    return this.unitList.filter((unit) => this.observable(unit)).map((unit) => unit.name);
  }

  private skipMap(bypass: ReadonlySet<string>): Map<string, string> {
    return new Map(this.candidates.filter((c) => bypass.has(c.name)).map((c) => [c.name, c.skip]));
  }

  /** The executor for a set of bypasses: the graph, or a variant whose bypassed adds pass their skip input. */
  private variant(bypass: ReadonlySet<string>): Executor {
    const key = [...bypass].sort().join('\n');
    const cached = this.variants.get(key);
    if (cached !== undefined) {
      this.variants.delete(key);
      this.variants.set(key, cached);
      return cached;
    }
    const topology = bypass.size === 0 ? this.graph.topology : bypassTopology(this.graph, this.skipMap(bypass), this.outputs, false).topology;
    const artifacts = this.source.artifacts;
    const variant: tf.io.ModelArtifacts = {
      ...artifacts,
      modelTopology: topology as unknown as tf.io.ModelArtifacts['modelTopology'],
      weightSpecs: this.functionWeights.specs,
      weightData: this.functionWeights.data,
    };
    const model = tf.loadGraphModelSync(variant);
    this.variants.set(key, model);
    const limit = Math.max(2, this.options.variantCache ?? 4);
    while (this.variants.size > limit) {
      const [oldest, evicted] = this.variants.entries().next().value as [string, Executor];
      if (oldest === '') {
        // keep the plain graph loaded: move it to the back
        this.variants.delete(oldest);
        this.variants.set(oldest, evicted);
        continue;
      }
      this.variants.delete(oldest);
      evicted.dispose();
    }
    return model;
  }

  /** What one run asks the executor for: the outputs, then (with `onUnitInput`) each live unit's data input. */
  private requested(bypass: ReadonlySet<string>, options: PrunableForward): { list: string[]; outputs: number[]; units: [string, number][] } {
    const list: string[] = [];
    const index = (name: string): number => {
      const at = list.indexOf(name);
      if (at >= 0) return at;
      list.push(name);
      return list.length - 1;
    };
    const outputs = this.outputs.map(index);
    const units: [string, number][] = [];
    if (options.onUnitInput !== undefined) {
      const live = bypass.size === 0 ? this.unitList : this.liveUnits([...bypass]).map((u) => this.unit(u.name));
      for (const unit of live) {
        if (this.observable(unit) && (options.observe === undefined || options.observe.has(unit.name))) units.push([unit.name, index(unit.dataInput)]);
      }
    }
    return { list, outputs, units };
  }

  /** Every constant of the main graph (kernels substituted), and the inputs: the batch for the first, synthetic values for the rest. */
  private feed(input: tf.Tensor, kernels: ReadonlyMap<string, tf.Tensor> | undefined): NamedTensors {
    const feed: NamedTensors = {};
    for (const [name, tensor] of this.weights) feed[name] = kernels?.get(name) ?? tensor;
    const batch = input.shape[0] ?? 1;
    this.specs.forEach((spec, i) => {
      if (i === 0) {
        feed[spec.name] = input.dtype === spec.dtype ? input : tf.cast(input, spec.dtype);
      } else {
        feed[spec.name] = syntheticInput(spec, batch, i);
      }
    });
    return feed;
  }

  /** The batch split into runs of the model's fixed batch size (when it has one and the batch differs). */
  private chunks(input: tf.Tensor): tf.Tensor[] {
    const fixed = this.specs[0]?.fixedBatch ?? null;
    const batch = input.shape[0] ?? 1;
    if (fixed === null || fixed === batch) return [input];
    if (batch % fixed !== 0) throw new Error(`${this.name} takes batches of ${fixed}, received ${batch} samples`);
    return tf.split(input, batch / fixed, 0);
  }

  /** One chunk's feed, and what frees the tensors made for it (a cast of the batch, synthetic inputs). */
  private prepare(chunk: tf.Tensor, kernels: ReadonlyMap<string, tf.Tensor> | undefined): { feed: NamedTensors; release(): void } {
    const feed = this.feed(chunk, kernels);
    const made = this.specs.map((spec) => feed[spec.name]).filter((tensor): tensor is tf.Tensor => tensor !== undefined && tensor !== chunk);
    return { feed, release: () => tf.dispose(made) };
  }

  /** The run's results, with anything that was fed (an input asked for as an output) replaced by a copy the run owns. */
  private own(results: tf.Tensor[], feed: NamedTensors): tf.Tensor[] {
    const fed = new Set(Object.values(feed));
    return results.map((tensor) => (fed.has(tensor) ? tensor.clone() : tensor));
  }

  private run(input: tf.Tensor, options: PrunableForward, execute: (model: Executor, feed: NamedTensors, names: string[]) => tf.Tensor | tf.Tensor[]): tf.Tensor {
    const chunks = this.chunks(input);
    const bypass = this.bypassOf(options);
    const model = this.variant(bypass);
    const names = this.requested(bypass, options);
    const results: tf.Tensor[][] = [];
    try {
      for (const chunk of chunks) {
        const { feed, release } = this.prepare(chunk, options.kernels);
        try {
          const out = execute(model, feed, names.list);
          results.push(this.own(Array.isArray(out) ? out : [out], feed));
        } finally {
          release();
        }
      }
      return this.finish(results, names, options);
    } finally {
      for (const list of results) tf.dispose(list);
      if (chunks[0] !== input) tf.dispose(chunks);
    }
  }

  /** Hands each unit its input (chunks joined), then flattens the outputs per sample and concatenates them. */
  private finish(results: tf.Tensor[][], names: { outputs: number[]; units: [string, number][] }, options: PrunableForward): tf.Tensor {
    const joined = (index: number): tf.Tensor =>
      results.length === 1
        ? (results[0][index] as tf.Tensor)
        : tf.concat(
            results.map((list) => list[index] as tf.Tensor),
            0,
          );
    for (const [unit, index] of names.units) {
      const tensor = joined(index);
      try {
        options.onUnitInput?.(unit, tensor);
      } finally {
        if (results.length > 1) tensor.dispose();
      }
    }
    return tf.tidy(() => {
      const samples = results.reduce((sum, list) => sum + (list[names.outputs[0]]?.shape[0] ?? 1), 0);
      const flat = names.outputs.map((index) => {
        const parts = results.map((list) => {
          const tensor = list[index] as tf.Tensor;
          const rows = tensor.rank === 0 ? 1 : tensor.shape[0];
          const float = tensor.dtype === 'float32' ? tensor : tf.cast(tensor, 'float32');
          return float.reshape([rows, -1]);
        });
        const all = parts.length === 1 ? parts[0] : tf.concat(parts, 0);
        if (all.shape[0] !== samples) throw new Error(`output ${this.outputs[names.outputs.indexOf(index)]} has ${all.shape[0]} rows for ${samples} samples`);
        return all;
      });
      return flat.length === 1 ? flat[0].clone() : tf.concat(flat, 1);
    });
  }

  /** One run at the probe batch (the fixed batch, else 1) asking for every tensor outside loops: shapes for candidates, FLOPs and the table. */
  private async probe(): Promise<void> {
    const spec = this.specs[0];
    this.probeBatch = spec?.fixedBatch ?? 1;
    const wanted = new Set<string>();
    for (const name of this.graph.order) {
      const node = this.graph.node(name);
      if (!UNPROBED_OPS.has(node.op) && !this.conditional.has(name)) wanted.add(name);
    }
    for (const unit of this.unitList) if (this.observable(unit)) wanted.add(unit.dataInput);
    const list = [...wanted];
    const input = spec === undefined ? tf.zeros([this.probeBatch]) : syntheticInput(spec, this.probeBatch, 0);
    const model = this.variant(new Set());
    const { feed, release } = this.prepare(input, undefined);
    try {
      const execute = (names: string[]): Promise<tf.Tensor | tf.Tensor[]> | tf.Tensor | tf.Tensor[] =>
        this.requiresAsync ? model.executeAsync(feed, names) : model.execute(feed, names);
      let asked = list;
      let out: tf.Tensor | tf.Tensor[];
      try {
        out = await execute(asked);
      } catch {
        // Some tensors cannot be asked for (e.g. behind dynamic ops): probe the units, the adds and their inputs only.
        const isAdd = (name: string): boolean => ['Add', 'AddV2', 'AddN'].includes(this.graph.nodes.get(inputNodeName(name))?.op ?? '');
        const small = list.filter((name) => isAdd(name) || this.unitList.some((u) => this.observable(u) && (u.dataInput === name || u.node === name)));
        asked = [...new Set([...small, ...small.filter(isAdd).flatMap((name) => this.graph.dataInputs(name)), ...this.outputs])];
        out = await execute(asked);
      }
      const tensors = this.own(Array.isArray(out) ? out : [out], feed);
      asked.forEach((name, i) => {
        const tensor = tensors[i];
        if (tensor !== undefined) this.shapes.set(tensorKey(name), [...tensor.shape]);
      });
      tf.dispose(tensors);
    } finally {
      release();
      input.dispose();
    }
    this.candidates = residualCandidates(this.graph, this.unitList, (t) => this.probedShape(t), this.conditional);
  }
}

/**
 * A constant's values as an export writes them: float32, int32 and bool as typed arrays; string
 * and complex64 ones as their stored bytes (each string's 4-byte little-endian length and bytes;
 * real and imaginary float32 parts interleaved).
 */
async function storedValues(name: string, tensor: tf.Tensor): Promise<WeightValues> {
  const shape = [...tensor.shape];
  if (tensor.dtype === 'string') {
    const strings = (await tensor.bytes()) as Uint8Array[];
    const out = new Uint8Array(strings.reduce((sum, bytes) => sum + 4 + bytes.byteLength, 0));
    const view = new DataView(out.buffer);
    let at = 0;
    for (const bytes of strings) {
      view.setUint32(at, bytes.byteLength, true);
      out.set(bytes, at + 4);
      at += 4 + bytes.byteLength;
    }
    return { shape, values: out, opaque: 'string' };
  }
  const data = await tensor.data();
  if (tensor.dtype === 'complex64' && data instanceof Float32Array) return { shape, values: new Uint8Array(data.slice().buffer), opaque: 'complex64' };
  if (!(data instanceof Float32Array || data instanceof Int32Array || data instanceof Uint8Array))
    throw new Error(`constant ${name} has dtype ${tensor.dtype}, which an export cannot hold`);
  return { shape, values: data.slice() };
}

/** `node:0` → `node`; other outputs keep their index. */
function tensorKey(name: string): string {
  return name.endsWith(':0') ? name.slice(0, -2) : name;
}
