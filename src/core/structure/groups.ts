import type { PrunableModel } from '../model/runtime';
import { channelRule, lastDim, opaque, type LayerCall } from './rules';
import { ChannelTracer, slotWidth, type SourceClass, type Slots } from './trace';
import type { ChannelGroup, ChannelSlice, GroupPreview, SliceRole } from './types';

/** Follows every value's channels through the model's execution graph and couples what must shrink together. */
function traceChannels(model: PrunableModel): ChannelTracer {
  const tracer = new ChannelTracer();
  const { graph, layersModel } = model;
  graph.inputKeys.forEach((key, i) => {
    const width = lastDim(layersModel.inputs[i].shape) ?? 0;
    tracer.setValue(key, tracer.fixedSlots(width, `the model input '${layersModel.inputNames[i]}'`, -1));
  });
  const firstInputs = new Map<string, Slots[]>();
  graph.steps.forEach((step, order) => {
    const inputs = step.inputs.map((key) => {
      const slots = tracer.value(key);
      if (slots === undefined) throw new Error(`value ${key} for ${step.layer.name} was not traced`);
      return slots;
    });
    const firstCall = firstInputs.get(step.layer.name);
    if (firstCall === undefined) firstInputs.set(step.layer.name, inputs);
    const call: LayerCall = { tracer, step, order, inputs, firstInputs: firstCall };
    let outputs = channelRule(step.layer.getClassName())(call);
    const fits = outputs.length === step.outputs.length && outputs.every((slots, k) => slotWidth(slots) === (lastDim(step.outputShapes[k]) ?? slotWidth(slots)));
    if (!fits) outputs = opaque(call, 'changes its channel layout in a way that cannot be followed');
    step.outputs.forEach((key, k) => tracer.setValue(key, outputs[k]));
  });
  for (const key of graph.outputKeys) {
    const slots = tracer.value(key);
    const producer = graph.steps[graph.producedAt.get(key) ?? -1]?.layer.name ?? key;
    if (slots !== undefined) tracer.blockAll(slots, `feeds the model output (from ${producer})`);
  }
  return tracer;
}

const ROLE_ORDER: Record<SliceRole, number> = { output: 0, channel: 1, input: 2 };

/** The recorded slices of a class, one per weight and axis, indices per group channel ascending. */
function mergeSlices(sourceClass: SourceClass): ChannelSlice[] {
  const channels = sourceClass.channels;
  const byKey = new Map<string, ChannelSlice>();
  for (const recorded of sourceClass.slices) {
    const key = `${recorded.weight.name}\u0000${recorded.axis}`;
    let slice = byKey.get(key);
    if (slice === undefined) {
      slice = {
        weight: recorded.weight.name,
        shape: [...recorded.weight.shape],
        layer: recorded.layer,
        axis: recorded.axis,
        role: recorded.role,
        indices: Array.from({ length: channels }, () => []),
      };
      byKey.set(key, slice);
    }
    for (let k = 0; k < recorded.pairs.length; k += 2) {
      const channel = recorded.pairs[k];
      if (channel < channels) slice.indices[channel].push(recorded.pairs[k + 1]);
    }
  }
  const slices = [...byKey.values()];
  for (const slice of slices) slice.indices = slice.indices.map((list) => [...new Set(list)].sort((a, b) => a - b));
  return slices
    .map((slice, i) => ({ slice, i }))
    .sort((a, b) => ROLE_ORDER[a.slice.role] - ROLE_ORDER[b.slice.role] || a.i - b.i)
    .map(({ slice }) => slice);
}

function toGroup(sourceClass: SourceClass): ChannelGroup {
  const producers = sourceClass.producers.map((p) => p.producer);
  const slices = mergeSlices(sourceClass);
  const consumers = [...new Set(slices.filter((s) => s.role !== 'output').map((s) => s.layer))];
  const reasons = [...sourceClass.reasons];
  for (const producer of producers) {
    if (producer.configKey === undefined && reasons.length === 0) reasons.push(`${producer.className} '${producer.layer}' cannot change its output count`);
  }
  if (sourceClass.channels < 2 && reasons.length === 0) reasons.push('it has a single channel');
  const names = producers.map((p) => p.unit).join(', ');
  const coupled = sourceClass.couplings.length > 0 ? ` coupled through ${sourceClass.couplings.join(', ')}` : '';
  const cuts = consumers.length > 0 ? `; removing one also cuts ${consumers.join(', ')}` : '';
  const group: ChannelGroup = {
    id: producers[0].unit,
    channels: sourceClass.channels,
    producers,
    slices,
    couplings: [...sourceClass.couplings],
    consumers,
    shrinkable: reasons.length === 0,
    description: `${sourceClass.channels} channels of ${names}${coupled}${cuts}`,
  };
  if (reasons.length > 0) {
    group.reason = reasons.join('; ');
    group.description += ` — cannot shrink: ${group.reason}`;
  }
  return group;
}

/**
 * The dependency groups of a model for channel pruning (Torch-Pruning's): each group is a set of
 * units whose output channels go together, with every weight slice that goes with them — biases,
 * BatchNorm vectors and depthwise kernels on the way, the next layers' input slices (a Dense after
 * a Flatten loses H·W rows per channel, channels-last), and the partners of a residual Add or a
 * Concatenate along another axis. Groups that cannot shrink (they reach the model output, a Reshape,
 * a layer that is not understood …) are listed with `shrinkable: false` and the reason.
 */
export function dependencyGroups(model: PrunableModel): ChannelGroup[] {
  return traceChannels(model).classes().map(toGroup);
}

/** Parameters removed with one channel of the group when no other group shrinks. */
function paramsPerChannel(group: ChannelGroup): number {
  const byWeight = new Map<string, ChannelSlice[]>();
  for (const slice of group.slices) byWeight.set(slice.weight, [...(byWeight.get(slice.weight) ?? []), slice]);
  let removed = 0;
  for (const slices of byWeight.values()) {
    const shape = [...slices[0].shape];
    const size = shape.reduce((a, b) => a * b, 1);
    for (const slice of slices) shape[slice.axis] -= slice.indices[0]?.length ?? 0;
    removed += size - shape.reduce((a, b) => a * b, 1);
  }
  return removed;
}

/** The groups as the page shows them before anything is applied: plain data, no index lists. */
export function groupsPreview(model: PrunableModel, groups: readonly ChannelGroup[] = dependencyGroups(model)): GroupPreview[] {
  return groups.map((group) => {
    const preview: GroupPreview = {
      id: group.id,
      channels: group.channels,
      producers: group.producers.map((p) => p.unit),
      consumers: [...group.consumers],
      weights: group.slices.map((s) => `${s.weight}[${s.axis}]`),
      couplings: [...group.couplings],
      shrinkable: group.shrinkable,
      description: group.description,
      paramsPerChannel: paramsPerChannel(group),
    };
    if (group.reason !== undefined) preview.reason = group.reason;
    return preview;
  });
}
