import { LAYERS_MODEL_CAPABILITIES } from '../../core/pipeline/capabilities';
import { syntheticSamples, type PipelineData, type SampleData } from '../../core/pipeline/data';
import { readKernel } from '../../core/model/kernels';
import { inspectModel } from '../../core/model/inspect';
import { PrunableModel } from '../../core/model/runtime';
import { layerRemovalCandidates, layersModelTarget } from '../../core/removal';
import { topologyWithout } from '../../core/removal/topology';
import { groupsPreview } from '../../core/structure';
import { shrinkForPlan } from '../../core/structure/plan-shrink';
import { runSweep } from '../../core/sweep/engine';
import type { LayerInfo } from '../../core/types';
import { checkDatasetFitsModel, parseDataset } from '../../io/dataset';
import { weightsOf, writeLayersModel, type WeightValues } from '../../io/export';
import type { InputFile, OpenedModel } from '../../io/types';
import { calibrationSlice, classCount, concatFloat32 as concat, datasetOf, sampleDataOf } from '../data';
import type { KindChannels, KindDescription, KindModel, ModelKind } from '../kind';
import { layerEdges } from './edges';
import { LayersPrunable } from './prunable';

/** A TF.js LayersModel (model.json + shards) built with tfjs-layers. */
class LayersKindModel implements KindModel {
  readonly key = 'layers-model' as const;
  readonly capabilities = LAYERS_MODEL_CAPABILITIES;
  readonly syntheticDefault = 32;
  readonly prunable: LayersPrunable;
  readonly channels: KindChannels;
  private layers: LayerInfo[] = [];

  constructor(
    readonly opened: OpenedModel,
    readonly model: PrunableModel,
  ) {
    this.prunable = new LayersPrunable(model);
    this.channels = {
      groups: () => groupsPreview(model),
      shrink: async (plan, batches) => {
        const planned = await shrinkForPlan(model, this.prunable, plan, batches, opened.artifacts.modelTopology);
        const { shrunk } = planned;
        let nonzeros = 0;
        let total = 0;
        for (const unit of model.units()) {
          for (const value of shrunk.weights.get(unit.weight)?.values ?? []) if (value !== 0) nonzeros++;
          total += unit.size;
        }
        return {
          sparsity: total === 0 ? 0 : 1 - nonzeros / total,
          weights: shrunk.weights,
          params: shrunk.params,
          achieved: planned.achieved,
          overall: planned.overall,
          skipped: planned.skipped,
          write: (options) => writeLayersModel(opened, shrunk.weights, { float16: options.float16, recipe: options.recipe, topology: shrunk.topology }).files,
        };
      },
    };
  }

  async describe(): Promise<KindDescription> {
    const { layers, totals } = await inspectModel(this.model);
    this.layers = layers;
    const edges = layerEdges(
      this.opened.artifacts.modelTopology,
      layers.map((l) => l.name),
    );
    const removalKinds = Object.fromEntries(layerRemovalCandidates(this.model).map((c) => [c.name, c.kind]));
    return { inputShape: this.model.inputShape, outputShape: this.model.outputShape, ...totals, layers, edges, removalKinds };
  }

  async readData(file: InputFile): Promise<PipelineData> {
    const data = sampleDataOf(await parseDataset(file));
    this.checkData(data);
    return data;
  }

  checkData(data: PipelineData): void {
    if (data.kind !== 'samples') throw new Error(`${this.opened.name} is a LayersModel: it takes a dataset .json, not text`);
    checkDatasetFitsModel(datasetOf(data), this.model.inputShape, classCount(this.model.outputShape));
  }

  syntheticData(samples: number, seed: number): PipelineData {
    return syntheticSamples(this.model.inputShape, samples, seed);
  }

  sweep(data: PipelineData, options: Parameters<KindModel['sweep']>[1]) {
    return runSweep(this.model, this.samples(data), options);
  }

  removalTarget(data: PipelineData) {
    const kinds = new Map(layerRemovalCandidates(this.model).map((c) => [c.name, c.kind]));
    return { target: layersModelTarget(this.model, calibrationSlice(this.samples(data))), kinds };
  }

  async layerDetail(layer: string): Promise<{ units: string[]; values: Float32Array }> {
    const units = this.model
      .units()
      .filter((u) => u.layer === layer)
      .map((u) => u.name);
    if (units.length > 0) return { units, values: concat(await Promise.all(units.map((unit) => readKernel(this.model, unit)))) };
    // getWeights() returns the live variables: read them, never dispose them.
    const weights = this.model.layersModel.getLayer(layer).getWeights();
    return { units, values: concat(await Promise.all(weights.map(async (w) => (await w.data()) as Float32Array))) };
  }

  paramsLeft(removed: readonly string[], totalParams: number): number {
    if (removed.length === 0) return totalParams;
    const { dropped } = this.without(removed);
    return totalParams - this.layers.filter((l) => dropped.has(l.name)).reduce((n, l) => n + l.params, 0);
  }

  weightValues(): Promise<Map<string, WeightValues>> {
    return weightsOf(this.model);
  }

  async write(options: { removed: readonly string[]; float16: boolean; recipe?: Parameters<KindModel['write']>[0]['recipe'] }) {
    const weights = await weightsOf(this.model);
    let topology: Record<string, unknown> | undefined;
    if (options.removed.length > 0) {
      const rewritten = this.without(options.removed);
      topology = rewritten.topology;
      for (const name of [...weights.keys()]) if (rewritten.dropped.has(name.split('/')[0])) weights.delete(name);
    }
    return writeLayersModel(this.opened, weights, { float16: options.float16, recipe: options.recipe, ...(topology && { topology }) }).files;
  }

  dispose(): void {
    this.model.dispose();
  }

  private without(removed: readonly string[]) {
    const chosen = layerRemovalCandidates(this.model).filter((c) => removed.includes(c.name));
    return topologyWithout(this.opened.artifacts.modelTopology, chosen);
  }

  private samples(data: PipelineData): SampleData {
    if (data.kind !== 'samples') throw new Error(`${this.opened.name} is a LayersModel: it runs on samples, not token ids`);
    return data;
  }
}

export const LAYERS_MODEL_KIND: ModelKind = {
  key: 'layers-model',
  capabilities: LAYERS_MODEL_CAPABILITIES,
  open: async (opened) => new LayersKindModel(opened, await PrunableModel.fromArtifacts(opened.artifacts)),
};
