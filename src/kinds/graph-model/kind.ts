import type * as tf from '@tensorflow/tfjs';
import type { PruningPlan } from '../../core/plan';
import { readKernel } from '../../core/model/kernels';
import { syntheticSamples, type PipelineData, type SampleData } from '../../core/pipeline/data';
import { prunableRemovalTarget } from '../../core/pipeline/removal';
import { checkDatasetFitsModel, parseDataset } from '../../io/dataset';
import type { WeightValues } from '../../io/export';
import type { InputFile, OpenedModel } from '../../io/types';
import { concatFloat32, datasetOf, sampleDataOf } from '../data';
import type { KindChannels, KindDescription, KindModel, KindOpenOptions, ModelKind } from '../kind';
import { shrinkGraphForPlan, type GraphShrink } from './channel-shrink';
import { graphChannelGroups, graphGroupPreview, type GraphChannelGroup } from './channels';
import { InputShapeError } from './inputs';
import { GRAPH_MODEL_CAPABILITIES, GraphModelPrunable } from './prunable';
import { sweepGraph } from './sweep';

const firstLine = (error: unknown): string => (error instanceof Error ? error.message : String(error)).split('\n')[0];

/** A TF.js GraphModel (a converted SavedModel, TF Hub module or frozen graph). */
export class GraphKindModel implements KindModel {
  readonly key = 'graph-model' as const;
  readonly capabilities = GRAPH_MODEL_CAPABILITIES;
  readonly syntheticDefault = 32;
  readonly channels: Omit<KindChannels, 'shrink'> & { shrink(plan: PruningPlan, batches: readonly tf.Tensor[]): Promise<GraphShrink> };
  private traced: GraphChannelGroup[] | undefined;

  constructor(
    readonly opened: OpenedModel,
    readonly prunable: GraphModelPrunable,
  ) {
    this.channels = {
      groups: () => this.channelGroups().map(graphGroupPreview),
      shrink: (plan, batches) => shrinkGraphForPlan(this.prunable, this.channelGroups(), plan, batches),
    };
  }

  /** The graph's channel dependency groups, traced once. */
  channelGroups(): GraphChannelGroup[] {
    this.traced ??= graphChannelGroups(
      this.prunable.graph,
      this.prunable.units().map((u) => this.prunable.unitDetails(u.name)),
      {
        shape: (tensor) => this.prunable.probedShape(tensor),
        intValues: (name) => {
          const tensor = this.prunable.constants().get(name);
          return tensor === undefined || tensor.dtype !== 'int32' || tensor.size > 64 ? undefined : Array.from(tensor.dataSync());
        },
        constantShape: (name) => this.prunable.constants().get(name)?.shape,
        outputs: this.prunable.outputNames(),
        conditional: this.prunable.graph.conditionalNodes(),
      },
    );
    return this.traced;
  }

  async describe(): Promise<KindDescription> {
    const zeros = new Map<string, number>();
    for (const unit of this.prunable.units()) {
      let count = 0;
      for (const v of await readKernel(this.prunable, unit.name)) if (v === 0) count += 1;
      zeros.set(unit.name, count);
    }
    const totals = this.prunable.totals(zeros);
    return {
      inputShape: this.inputShape(),
      outputShape: this.outputShape(),
      totalParams: totals.totalParams,
      totalFlops: totals.totalFlops,
      prunableParams: totals.prunableParams,
      sparsity: totals.sparsity,
      layers: this.prunable.layers(zeros),
      inputs: this.prunable.inputSpecs(),
      edges: this.prunable.layerEdges(),
      removalKinds: Object.fromEntries(this.prunable.removalCandidates().map((name) => [name, 'branch' as const])),
    };
  }

  /** A dataset for the model; one whose samples fill the dynamic input dimensions differently is returned unchecked (`inputShapesFor` says how the model is rebuilt for it). */
  async readData(file: InputFile): Promise<PipelineData> {
    const data = sampleDataOf(await parseDataset(file));
    if (this.inputShapesFor(data) === undefined) this.checkData(data);
    return data;
  }

  inputShapesFor(data: PipelineData): Record<string, number[]> | undefined {
    const spec = this.prunable.inputSpecs()[0];
    if (spec === undefined || data.kind !== 'samples') return undefined;
    const wanted = data.shape.slice(1);
    const current = spec.shape.slice(1);
    if (wanted.length !== current.length || wanted.every((d, i) => d === current[i])) return undefined;
    const declared = spec.declared?.slice(1);
    if (declared !== undefined && wanted.some((d, i) => d !== current[i] && (declared[i] ?? -1) >= 0)) return undefined;
    return { [spec.name]: wanted };
  }

  checkData(data: PipelineData): void {
    checkDatasetFitsModel(datasetOf(this.samples(data)), this.inputShape(), this.outputClasses());
  }

  /** Seeded uniform/normal floats for a float input; the kind's own synthetic values for int and bool inputs (held as floats, cast back by the kind). */
  syntheticData(samples: number, seed: number): PipelineData {
    const spec = this.prunable.inputSpecs()[0];
    if (spec === undefined) throw new Error(`${this.prunable.name} has no inputs to feed samples to`);
    if (spec.dtype === 'float32') return syntheticSamples(this.inputShape(), samples, seed);
    const batch = this.prunable.syntheticBatch(samples, seed);
    try {
      const inputs = Float32Array.from(batch.dataSync());
      return { kind: 'samples', source: 'synthetic', hash: `synthetic:${seed}:${samples}`, inputs, shape: [...batch.shape], synthetic: true };
    } finally {
      batch.dispose();
    }
  }

  sweep(data: PipelineData, options: Parameters<KindModel['sweep']>[1]) {
    return sweepGraph(this.prunable, this.samples(data), options);
  }

  removalTarget(data: PipelineData) {
    const target = prunableRemovalTarget(this.prunable, this.samples(data), { async: this.prunable.requiresAsync });
    return { target, kinds: new Map(target.candidates().map((name) => [name, 'branch' as const])) };
  }

  async layerDetail(layer: string): Promise<{ units: string[]; values: Float32Array }> {
    if (this.prunable.units().some((u) => u.name === layer)) return { units: [layer], values: await readKernel(this.prunable, layer) };
    const graph = this.prunable.graph;
    if (!graph.nodes.has(layer)) throw new Error(`no layer named ${layer} in ${this.prunable.name}`);
    const constants = this.prunable.constants();
    const values: Float32Array[] = [];
    for (const input of graph.dataInputs(layer)) {
      const name = graph.constantBehind(input);
      const tensor = name === undefined ? undefined : constants.get(name);
      if (tensor !== undefined && tensor.dtype === 'float32') values.push((await tensor.data()) as Float32Array);
    }
    return { units: [], values: concatFloat32(values) };
  }

  /** The kernels of the units only the removed branches computed are gone. */
  paramsLeft(removed: readonly string[], totalParams: number): number {
    if (removed.length === 0) return totalParams;
    const live = new Set(this.prunable.liveUnits(removed).map((unit) => unit.name));
    return totalParams - this.prunable.units().reduce((sum, unit) => sum + (live.has(unit.name) ? 0 : unit.size), 0);
  }

  weightValues(): Promise<Map<string, WeightValues>> {
    return this.prunable.weightValues();
  }

  write(options: Parameters<KindModel['write']>[0]) {
    return this.prunable.exportFiles({ removed: options.removed, float16: options.float16, ...(options.recipe && { recipe: options.recipe }) });
  }

  dispose(): void {
    this.prunable.dispose();
  }

  /** The first input's shape with the batch as `null`: what `forward` takes a batch for. */
  private inputShape(): (number | null)[] {
    const spec = this.prunable.inputSpecs()[0];
    return spec === undefined ? [] : [null, ...spec.shape.slice(1)];
  }

  /** The concatenated output per sample as the pipeline sees it: one output's probed shape, or `[null, Σ features]`. */
  private outputShape(): (number | null)[] {
    const shapes = this.prunable.outputNames().map((name) => this.prunable.probedShape(name));
    if (shapes.length === 1 && shapes[0] !== undefined) return shapes[0].map((d, i) => (i === 0 ? null : d));
    if (shapes.some((shape) => shape === undefined)) return [null, null];
    return [null, shapes.reduce((sum, shape) => sum + (shape as number[]).slice(1).reduce((a, b) => a * b, 1), 0)];
  }

  /** Values per sample of the model's only output (classes), when it has one output of known shape. */
  private outputClasses(): number | undefined {
    const outputs = this.prunable.outputNames();
    if (outputs.length !== 1) return undefined;
    const shape = this.prunable.probedShape(outputs[0]);
    return shape === undefined || shape.length < 2 ? undefined : shape.slice(1).reduce((a, b) => a * b, 1);
  }

  private samples(data: PipelineData): SampleData {
    if (data.kind !== 'samples') throw new Error(`${this.prunable.name} is a GraphModel: it runs on a dataset .json, not on text`);
    return data;
  }
}

export const GRAPH_MODEL_KIND: ModelKind = {
  key: 'graph-model',
  capabilities: GRAPH_MODEL_CAPABILITIES,
  open: async (opened, options: KindOpenOptions = {}) => {
    let prunable: GraphModelPrunable;
    try {
      prunable = await GraphModelPrunable.create(opened, options.inputShapes ? { shapes: options.inputShapes } : {});
    } catch (error) {
      if (error instanceof InputShapeError) throw new InputShapeError(`${opened.files[0] ?? opened.name}: ${error.message}`);
      throw new Error(`${opened.files[0] ?? opened.name}: the GraphModel did not run on synthetic inputs: ${firstLine(error)}`);
    }
    return new GraphKindModel(opened, prunable);
  },
};
