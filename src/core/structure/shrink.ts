import type { PrunableModel } from '../model/runtime';
import { dependencyGroups } from './groups';
import { removeIndices, type WeightArray } from './slice';
import { ShrinkError, updateLayerConfigs } from './topology';
import type { ChannelGroup } from './types';

export { channelKeepMasks, type ChannelPlan, type KeepOptions } from './keep';
export { groupsPreview } from './groups';

export interface ShrinkOptions {
  /** Groups already computed for this model (`dependencyGroups`). */
  groups?: readonly ChannelGroup[];
  /** Kernel values to shrink instead of the stored ones, by unit (e.g. `applyPlan`'s kernels). */
  kernels?: ReadonlyMap<string, Float32Array>;
  /** The Keras topology to update (e.g. the source's `modelTopology`); by default the model's own `toJSON`. */
  topology?: unknown;
}

/** One weight after shrinking; the shape `writeLayersModel` takes. */
export interface ShrunkWeight {
  shape: number[];
  values: WeightArray;
}

export interface ShrinkResult {
  /** The Keras model topology with every shrunk layer's `units`/`filters` updated. */
  topology: Record<string, unknown>;
  /** Every weight of the model by its manifest name, in `model.weights` order, sliced where a group shrank. */
  weights: Map<string, ShrunkWeight>;
  /** Parameters of the shrunk model (every weight, trainable or not). */
  params: number;
  /** Group id → channels removed, for the groups that lost any. */
  removed: Record<string, number>;
  /** Layer → its new output count, for the layers that shrank. */
  sizes: Record<string, number>;
}

type Removals = Map<string, Map<number, Set<number>>>;

/** A layer's new output count and the Keras config key that holds it. */
interface LayerSize {
  key: 'units' | 'filters';
  value: number;
}

/**
 * The model's own Keras topology. `SeparableConv2D.getConfig` in tfjs 4.22 leaves out
 * `depth_multiplier`, so it is put back from the depthwise kernel's shape.
 */
function ownTopology(model: PrunableModel): Record<string, unknown> {
  const multipliers = new Map<string, Record<string, number>>();
  for (const layer of model.layers()) {
    if (layer.getClassName() !== 'SeparableConv2D') continue;
    const depthwise = layer.weights.find((w) => w.originalName.endsWith('/depthwise_kernel'));
    const multiplier = depthwise?.shape[3];
    if (typeof multiplier === 'number' && multiplier !== 1) multipliers.set(layer.name, { depth_multiplier: multiplier });
  }
  return updateLayerConfigs(model.layersModel.toJSON(null, false), multipliers);
}

/** Adds the group's slices of the removed channels to `removals`; returns how many channels go. */
function planGroup(group: ChannelGroup, mask: Uint8Array, removals: Removals, sizes: Map<string, LayerSize>): number {
  if (mask.length !== group.channels) {
    throw new ShrinkError(`group ${group.id}: the keep mask has ${mask.length} entries, expected one per channel (${group.channels})`);
  }
  const gone: number[] = [];
  mask.forEach((keep, j) => {
    if (keep === 0) gone.push(j);
  });
  if (gone.length === 0) return 0;
  if (!group.shrinkable) throw new ShrinkError(`group ${group.id} cannot shrink: ${group.reason ?? 'unknown reason'}`);
  if (gone.length === group.channels) throw new ShrinkError(`group ${group.id}: every channel would be removed; keep at least one`);
  for (const slice of group.slices) {
    const axes = removals.get(slice.weight) ?? new Map<number, Set<number>>();
    const indices = axes.get(slice.axis) ?? new Set<number>();
    for (const j of gone) for (const index of slice.indices[j]) indices.add(index);
    axes.set(slice.axis, indices);
    removals.set(slice.weight, axes);
  }
  for (const producer of group.producers) {
    if (producer.configKey !== undefined) sizes.set(producer.layer, { key: producer.configKey, value: group.channels - gone.length });
  }
  return gone.length;
}

/** Values of every weight by manifest name, with unit kernels replaced by `kernels`. */
async function readWeights(model: PrunableModel, kernels: ReadonlyMap<string, Float32Array> | undefined): Promise<Map<string, ShrunkWeight>> {
  const override = new Map<string, Float32Array>();
  for (const unit of model.units()) {
    const values = kernels?.get(unit.name);
    if (values === undefined) continue;
    if (values.length !== unit.size) throw new ShrinkError(`kernel ${unit.name}: expected ${unit.size} values, got ${values.length}`);
    override.set(unit.weight, values);
  }
  const weights = new Map<string, ShrunkWeight>();
  for (const variable of model.layersModel.weights) {
    const name = variable.originalName;
    if (weights.has(name)) throw new ShrinkError(`two weights of ${model.layersModel.name} are named "${name}"`);
    const shape = variable.shape.map((d) => d ?? 0);
    const stored = override.get(name) ?? (await variable.read().data());
    if (!(stored instanceof Float32Array || stored instanceof Int32Array || stored instanceof Uint8Array)) {
      throw new ShrinkError(`weight "${name}" has dtype ${variable.dtype}, which a LayersModel cannot hold`);
    }
    weights.set(name, { shape, values: stored.slice() });
  }
  return weights;
}

/**
 * The model with the channels that `keep` marks 0 removed (Map group id → one entry per channel,
 * 1 = keep): a Keras topology with smaller `units`/`filters` and every weight sliced to match, ready
 * for `writeLayersModel(source, weights, {topology})`. Groups not in `keep` stay whole. When the
 * removed channels carry zeros all the way (zero kernel rows and biases, and activations that map 0
 * to 0), the shrunk model computes what the original does. Nothing in `model` changes.
 */
export async function shrinkModel(model: PrunableModel, keep: ReadonlyMap<string, Uint8Array>, options: ShrinkOptions = {}): Promise<ShrinkResult> {
  const groups = options.groups ?? dependencyGroups(model);
  const byId = new Map(groups.map((group) => [group.id, group]));
  const removals: Removals = new Map();
  const sizes = new Map<string, LayerSize>();
  const removed: Record<string, number> = {};
  for (const [id, mask] of keep) {
    const group = byId.get(id);
    if (group === undefined) throw new ShrinkError(`no channel group ${id} in ${model.layersModel.name}; groups are ${groups.map((g) => g.id).join(', ')}`);
    const count = planGroup(group, mask, removals, sizes);
    if (count > 0) removed[id] = count;
  }

  const weights = await readWeights(model, options.kernels);
  for (const [name, axes] of removals) {
    const weight = weights.get(name);
    if (weight === undefined) throw new ShrinkError(`weight ${name} of a channel group is not a weight of ${model.layersModel.name}`);
    weights.set(name, removeIndices(weight.values, weight.shape, axes));
  }
  const resized = new Map([...sizes].map(([layer, size]) => [layer, { [size.key]: size.value }]));
  const topology = updateLayerConfigs(options.topology ?? ownTopology(model), resized);
  let params = 0;
  for (const weight of weights.values()) params += weight.values.length;
  return { topology, weights, params, removed, sizes: Object.fromEntries([...sizes].map(([layer, size]) => [layer, size.value])) };
}
