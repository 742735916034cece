import type * as tf from '@tensorflow/tfjs';
import { magnitudeScores } from '../../core/criteria/magnitude';
import { randomScores } from '../../core/criteria/random';
import type { CalibrationStats } from '../../core/criteria/types';
import { wandaScores } from '../../core/criteria/wanda';
import { pruneCount, pruneLowest, rowSquaredNorms } from '../../core/masks';
import { captureStats } from '../../core/pipeline/stats';
import type { PruningPlan } from '../../core/plan';
import { CHANNEL_CRITERIA } from '../../core/structure/plan-shrink';
import { removeIndices } from '../../core/structure/slice';
import type { ExportFile, WeightValues } from '../../io/export/tfjs-layers-writer';
import type { GraphTopology } from '../../io/tfjs-graph';
import type { OpenedModel } from '../../io/types';
import type { GraphChannelGroup } from './channels';
import { GraphIndex } from './graph';
import { graphKernelToMatrix, graphUnitLayout } from './layout';
import type { GraphModelPrunable } from './prunable';
import { writeGraphModel } from './writer';

/** A channels plan applied to a GraphModel: the shrunk weights and topology, and what was removed. */
export interface GraphShrink {
  weights: Map<string, WeightValues>;
  topology: GraphTopology;
  /** Float parameters of the shrunk model. */
  params: number;
  /** Share of each producer unit's channels removed (0 for every other unit). */
  achieved: Record<string, number>;
  overall: number;
  /** Share of the units' weights gone or zero in the shrunk model. */
  sparsity: number;
  skipped: { unit: string; reason: string }[];
  /** Group id → the keep mask applied (1 = kept), for the groups that shrank. */
  keep: Map<string, Uint8Array>;
  write(options: { float16: boolean; recipe?: unknown }): ExportFile[];
}

/** ‖row j‖₂ of a producer's score matrix (magnitude, Wanda's |W|·‖X‖, or seeded random), one per output channel. */
async function producerRowScores(model: GraphModelPrunable, unit: string, plan: PruningPlan, stats: ReadonlyMap<string, CalibrationStats> | undefined): Promise<Float64Array> {
  const layout = graphUnitLayout(model.graph, model.unitDetails(unit));
  if (typeof layout === 'string') throw new Error(`${unit}: ${layout}`);
  const kernel = model.constants().get(unit);
  if (kernel === undefined) throw new Error(`no constant named ${unit} in ${model.name}`);
  const values = graphKernelToMatrix(layout, (await kernel.data()) as Float32Array);
  const matrix = { rows: layout.rows, cols: layout.cols, values };
  let scores: Float32Array | Float64Array;
  if (plan.criterion === 'random') scores = randomScores(values.length, plan.seed);
  else if (plan.criterion === 'wanda') {
    const unitStats = stats?.get(unit);
    if (unitStats === undefined) throw new Error(`wanda needs calibration statistics for ${unit}`);
    scores = wandaScores(layout.kind, matrix, unitStats);
  } else scores = magnitudeScores(matrix);
  return rowSquaredNorms(scores, matrix.rows, matrix.cols).map(Math.sqrt);
}

/**
 * Which channels each group keeps: the group's sparsity is the largest of its producers' planned
 * sparsities; it loses the ⌊s·channels⌋ lowest-scored channels (at most channels − 1), a channel's
 * score being the sum over the producers of their row norms; equal scores lose the lower channel first.
 */
export async function graphKeepMasks(
  model: GraphModelPrunable,
  plan: PruningPlan,
  groups: readonly GraphChannelGroup[],
  stats?: ReadonlyMap<string, CalibrationStats>,
): Promise<Map<string, Uint8Array>> {
  const masks = new Map<string, Uint8Array>();
  for (const group of groups) {
    if (!group.shrinkable) continue;
    const planned = group.producers.map((p) => plan.sparsity[p.unit] ?? 0);
    for (const s of planned) if (!(s >= 0 && s <= 1)) throw new RangeError(`planned sparsity must be in [0, 1], got ${s}`);
    const count = Math.min(group.channels - 1, pruneCount(Math.max(...planned), group.channels));
    if (count <= 0) continue;
    const scores = new Float64Array(group.channels);
    for (const producer of group.producers) {
      const rows = await producerRowScores(model, producer.unit, plan, stats);
      if (rows.length !== group.channels) throw new Error(`${producer.unit}: ${rows.length} output rows, expected the group's ${group.channels} channels`);
      for (let j = 0; j < group.channels; j++) scores[j] += rows[j];
    }
    const mask = new Uint8Array(group.channels).fill(1);
    pruneLowest(scores, 0, group.channels, count, mask);
    masks.set(group.id, mask);
  }
  return masks;
}

/** The weights with every slice of the removed channels cut out (`shrink`) or set to zero in place (`zero`, the masked model). */
export function cutChannels(
  weights: ReadonlyMap<string, WeightValues>,
  groups: readonly GraphChannelGroup[],
  keep: ReadonlyMap<string, Uint8Array>,
  mode: 'shrink' | 'zero',
): Map<string, WeightValues> {
  const removals = new Map<string, Map<number, Set<number>>>();
  for (const group of groups) {
    const mask = keep.get(group.id);
    if (mask === undefined) continue;
    for (const slice of group.slices) {
      const axes = removals.get(slice.weight) ?? new Map<number, Set<number>>();
      const indices = axes.get(slice.axis) ?? new Set<number>();
      mask.forEach((kept, j) => {
        if (kept === 0) for (const index of slice.indices[j]) indices.add(index);
      });
      axes.set(slice.axis, indices);
      removals.set(slice.weight, axes);
    }
  }
  const out = new Map<string, WeightValues>();
  // Flatten shape constants lose `perChannel` features per channel gone (only when shrinking).
  const shrinkBy = new Map<string, Map<number, number>>();
  if (mode === 'shrink') {
    for (const group of groups) {
      const mask = keep.get(group.id);
      if (mask === undefined) continue;
      const gone = mask.reduce((n, k) => n + (k === 0 ? 1 : 0), 0);
      for (const reshape of group.reshapes) {
        const entries = shrinkBy.get(reshape.weight) ?? new Map<number, number>();
        entries.set(reshape.index, (entries.get(reshape.index) ?? 0) + gone * reshape.perChannel);
        shrinkBy.set(reshape.weight, entries);
      }
    }
  }
  for (const [name, weight] of weights) {
    const resized = shrinkBy.get(name);
    if (resized !== undefined && weight.values instanceof Int32Array) {
      const values = weight.values.slice();
      for (const [index, by] of resized) values[index] -= by;
      out.set(name, { shape: [...weight.shape], values });
      continue;
    }
    const cut = removals.get(name);
    if (cut === undefined) {
      out.set(name, weight);
      continue;
    }
    if (mode === 'shrink') {
      const result = removeIndices(weight.values, weight.shape, cut);
      out.set(name, { shape: result.shape, values: result.values });
    } else {
      out.set(name, { shape: [...weight.shape], values: zeroIndices(weight.values, weight.shape, cut) });
    }
  }
  return out;
}

function zeroIndices(values: WeightValues['values'], shape: readonly number[], cut: ReadonlyMap<number, ReadonlySet<number>>): WeightValues['values'] {
  const out = values.slice();
  const strides = shape.map((_, axis) => shape.slice(axis + 1).reduce((a, b) => a * b, 1));
  for (let flat = 0; flat < out.length; flat++) {
    for (const [axis, indices] of cut) {
      if (indices.has(Math.floor(flat / strides[axis]) % shape[axis])) {
        out[flat] = 0;
        break;
      }
    }
  }
  return out;
}

/** The GraphDef with each shrunk constant's declared shape updated. */
export function shrunkTopology(topology: GraphTopology, weights: ReadonlyMap<string, WeightValues>): GraphTopology {
  const copy = structuredClone(topology);
  const changed: string[] = [];
  for (const node of copy.node) {
    if (node.op !== 'Const') continue;
    const weight = weights.get(node.name);
    const value = node.attr?.['value'] as { tensor?: { tensorShape?: { dim?: { size: string }[] } } } | undefined;
    const shape = value?.tensor?.tensorShape;
    if (weight === undefined || shape?.dim === undefined || shape.dim.length !== weight.shape.length) continue;
    if (shape.dim.some((d, i) => Number(d.size) !== weight.shape[i])) changed.push(node.name);
    shape.dim = weight.shape.map((d) => ({ size: String(d) }));
    if (node.attr?.['_output_shapes'] !== undefined) node.attr['_output_shapes'] = { list: { shape: [{ dim: weight.shape.map((d) => ({ size: String(d) })) }] } };
  }
  // `_output_shapes` (an optional hint some exporters keep) of everything computed from a cut constant is stale: it goes.
  const graph = new GraphIndex(copy);
  const stale = new Set<string>();
  const stack = [...changed];
  while (stack.length > 0) {
    for (const consumer of graph.consumers.get(stack.pop() as string) ?? []) {
      if (stale.has(consumer)) continue;
      stale.add(consumer);
      stack.push(consumer);
    }
  }
  for (const node of copy.node) if (stale.has(node.name) && node.attr?.['_output_shapes'] !== undefined) delete node.attr['_output_shapes'];
  return copy;
}

/** The source with the shrunk topology and weight shapes: what `writeGraphModel` writes the shrunk weights against. */
export function shrunkSource(source: OpenedModel, topology: GraphTopology, weights: ReadonlyMap<string, WeightValues>): OpenedModel {
  const specs = (source.artifacts.weightSpecs ?? []).map((spec) => ({ ...spec, shape: [...(weights.get(spec.name)?.shape ?? spec.shape)] }));
  return { ...source, artifacts: { ...source.artifacts, modelTopology: topology as unknown as Record<string, unknown>, weightSpecs: specs } };
}

/**
 * A channels plan on a GraphModel (magnitude, Wanda with input norms from the calibration batches,
 * or random): every group loses its lowest-scored channels in every constant that holds them, and
 * the GraphDef's constant shapes follow.
 */
export async function shrinkGraphForPlan(model: GraphModelPrunable, groups: readonly GraphChannelGroup[], plan: PruningPlan, batches: readonly tf.Tensor[]): Promise<GraphShrink> {
  if (!(CHANNEL_CRITERIA as readonly string[]).includes(plan.criterion)) throw new Error(`channels are scored by ${CHANNEL_CRITERIA.join(', ')}, not ${plan.criterion}`);
  if (plan.removed.length > 0) throw new Error('Channel shrinking together with removed layers is not supported for GraphModels');
  const planned = (group: GraphChannelGroup): boolean => group.producers.some((p) => (plan.sparsity[p.unit] ?? 0) > 0);
  const skipped = groups.filter((g) => planned(g) && !g.shrinkable).map((g) => ({ unit: g.id, reason: g.reason ?? 'the group cannot shrink' }));
  const producers = new Set(groups.filter((g) => g.shrinkable && planned(g)).flatMap((g) => g.producers.map((p) => p.unit)));
  const stats = plan.criterion === 'wanda' && producers.size > 0 ? await captureStats(model, batches, producers, 'norms') : undefined;
  const keep = await graphKeepMasks(model, plan, groups, stats);
  const weights = cutChannels(await model.weightValues(), groups, keep, 'shrink');
  const topology = shrunkTopology(model.graph.topology, weights);
  const source = shrunkSource(model.source, topology, weights);

  const achieved: Record<string, number> = Object.fromEntries(model.units().map((u) => [u.name, 0]));
  for (const group of groups) {
    const mask = keep.get(group.id);
    if (mask === undefined) continue;
    const removed = mask.reduce((n, k) => n + (k === 0 ? 1 : 0), 0);
    for (const producer of group.producers) achieved[producer.unit] = removed / group.channels;
  }
  const units = model.units();
  const size = units.reduce((n, u) => n + u.size, 0);
  const overall = size === 0 ? 0 : units.reduce((n, u) => n + (achieved[u.name] ?? 0) * u.size, 0) / size;
  let nonzeros = 0;
  for (const unit of units) for (const v of weights.get(unit.name)?.values ?? []) if (v !== 0) nonzeros++;
  let params = 0;
  for (const weight of weights.values()) if (weight.values instanceof Float32Array) params += weight.values.length;
  return {
    weights,
    topology,
    params,
    achieved,
    overall,
    sparsity: size === 0 ? 0 : 1 - nonzeros / size,
    skipped,
    keep,
    write: (options) => writeGraphModel(source, weights, { float16: options.float16, ...(options.recipe !== undefined && { recipe: options.recipe }) }).files,
  };
}
