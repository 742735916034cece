import type { ChannelSlice, GroupPreview, SliceRole } from '../../core/structure/types';
import { inputNodeName } from '../../io/tfjs-graph';
import { boolAttr, stringAttr } from './attrs';
import type { GraphIndex, GraphUnit } from './graph';

/**
 * Channel dependency groups of a GraphDef (DESIGN §3 "Channels"): the output channels of a
 * Conv2D/_FusedConv2D filter or a MatMul's output columns, followed through the ops that keep the
 * channel axis last (activations, pools, biases, folded BatchNorms, depthwise convs, per-channel
 * constants, reductions over other axes, ConcatV2 on the channel axis) to the convs and matmuls
 * that read them. A residual add of two computed tensors couples their producers into one group.
 */

/** A producer of a group: the unit whose output channels are the group's channels. */
export interface GraphChannelProducer {
  unit: string;
  node: string;
}

export interface GraphChannelGroup {
  /** The first producer's unit, in execution order. */
  id: string;
  channels: number;
  producers: GraphChannelProducer[];
  /** Every constant slice that goes with a channel (`layer` is the node that reads the constant). */
  slices: ChannelSlice[];
  /** Nodes that couple several producers (adds and other elementwise ops of two computed tensors). */
  couplings: string[];
  /** Nodes whose constants lose the group's channels as inputs or per-channel values. */
  consumers: string[];
  /**
   * Reshape shape constants that flatten the channels into a feature axis: entry `index` of int32
   * constant `weight` shrinks by `perChannel` for every channel the group loses.
   */
  reshapes: GraphReshape[];
  shrinkable: boolean;
  reason?: string;
}

export interface GraphReshape {
  weight: string;
  index: number;
  perChannel: number;
}

/** What tracing needs to know about tensors beyond the GraphDef. */
export interface ChannelTraceContext {
  /** Probed shape of a tensor (`node`, `node:i`). */
  shape(tensor: string): readonly number[] | undefined;
  /** Values of a small int32 constant (axes, paddings), by node name. */
  intValues(constant: string): readonly number[] | undefined;
  /** Shape of a constant, by node name. */
  constantShape(constant: string): readonly number[] | undefined;
  /** The graph's outputs (`node` or `node:i`). */
  outputs: readonly string[];
  /** Nodes that may not run in a pass. */
  conditional: ReadonlySet<string>;
}

/** Ops that apply per element and keep the shape of their first input; their other inputs are constants or none. */
const UNARY_OPS = new Set([
  'Identity',
  'Relu',
  'Relu6',
  'Elu',
  'Selu',
  'LeakyRelu',
  'Sigmoid',
  'Tanh',
  'Softplus',
  'Swish',
  'Square',
  'Sqrt',
  'Rsqrt',
  'Exp',
  'Neg',
  'Abs',
  'MaxPool',
  'AvgPool',
  'ResizeBilinear',
  'ResizeNearestNeighbor',
  'ClipByValue',
]);
const BINARY_OPS = new Set(['Add', 'AddV2', 'Sub', 'Mul', 'RealDiv', 'Maximum', 'Minimum', 'SquaredDifference', 'Prelu']);
const REDUCE_OPS = new Set(['Mean', 'Max', 'Min', 'Sum', 'Prod']);
const PAD_OPS = new Set(['Pad', 'PadV2', 'MirrorPad']);
const CONV_OPS = new Set(['Conv2D', '_FusedConv2D']);
const DEPTHWISE_OPS = new Set(['DepthwiseConv2dNative', 'FusedDepthwiseConv2dNative']);
const MATMUL_OPS = new Set(['MatMul', '_FusedMatMul']);
const FUSED_BATCH_NORM_OPS = new Set(['FusedBatchNorm', 'FusedBatchNormV2', 'FusedBatchNormV3']);

interface PendingSlice {
  weight: string;
  shape: number[];
  layer: string;
  axis: number;
  role: SliceRole;
  /** [group channel j, index along axis] pairs. */
  entries: [number, number][];
}

interface Space {
  unit: string;
  node: string;
  channels: number;
  slices: PendingSlice[];
  couplings: Set<string>;
  consumers: Set<string>;
  reshapes: GraphReshape[];
  reason?: string;
}

/** Channel j of space s at one position of a tensor's channel axis; `undefined` where the position belongs to no group. */
type Label = { space: number; j: number } | undefined;

const product = (dims: readonly number[]): number => dims.reduce((a, b) => a * b, 1);

class ChannelTracer {
  private readonly spaces: Space[] = [];
  private readonly parent: number[] = [];
  private readonly labels = new Map<string, Label[]>();
  private readonly unitByNode = new Map<string, GraphUnit>();

  constructor(
    private readonly graph: GraphIndex,
    units: readonly GraphUnit[],
    private readonly context: ChannelTraceContext,
  ) {
    for (const unit of units) if (!this.unitByNode.has(unit.node)) this.unitByNode.set(unit.node, unit);
  }

  trace(): GraphChannelGroup[] {
    for (const name of this.graph.order) this.visit(name);
    for (const output of this.context.outputs) {
      this.block(this.labelsOf(output), `its channels reach the model output ${output.endsWith(':0') ? output.slice(0, -2) : output}`);
    }
    return this.groups();
  }

  private find(s: number): number {
    let root = s;
    while (this.parent[root] !== root) root = this.parent[root];
    this.parent[s] = root;
    return root;
  }

  private union(a: number, b: number, node: string): void {
    const ra = this.find(a);
    const rb = this.find(b);
    const [keep, gone] = ra < rb ? [ra, rb] : [rb, ra];
    this.spaces[keep].couplings.add(node);
    if (ra === rb) return;
    this.parent[gone] = keep;
    const from = this.spaces[gone];
    const to = this.spaces[keep];
    if (to.channels !== from.channels && to.reason === undefined) to.reason = `${node} adds tensors of ${to.channels} and ${from.channels} channels`;
    to.reason ??= from.reason;
    for (const c of from.couplings) to.couplings.add(c);
  }

  /** A tensor's labels: output 0 of a labelled node; other outputs carry none. */
  private labelsOf(input: string): Label[] | undefined {
    const colon = input.indexOf(':');
    if (colon >= 0 && input.slice(colon + 1) !== '0') return undefined;
    return this.labels.get(inputNodeName(input));
  }

  private spacesIn(labels: readonly Label[] | undefined): Set<number> {
    const found = new Set<number>();
    for (const label of labels ?? []) if (label !== undefined) found.add(label.space);
    return found;
  }

  private block(labels: readonly Label[] | undefined, reason: string): void {
    for (const s of this.spacesIn(labels)) this.spaces[this.find(s)].reason ??= reason;
  }

  private blockAll(inputs: readonly string[], reason: string): void {
    for (const input of inputs) this.block(this.labelsOf(input), reason);
    const colonInputs = inputs.filter((input) => input.includes(':') && !input.endsWith(':0'));
    for (const input of colonInputs) this.block(this.labels.get(inputNodeName(input)), reason);
  }

  /** The Const behind `input` when nothing but `node` reads it (possibly through one Identity). */
  private soleConstant(input: string, node: string): string | undefined {
    const constant = this.graph.constantBehind(input);
    if (constant === undefined) return undefined;
    let name = constant;
    for (let hops = 0; hops < 8; hops++) {
      const readers = this.graph.consumers.get(name) ?? [];
      if (readers.length !== 1) return undefined;
      if (readers[0] === node) return constant;
      if (this.graph.node(readers[0]).op !== 'Identity') return undefined;
      name = readers[0];
    }
    return undefined;
  }

  private addSlice(space: number, slice: Omit<PendingSlice, 'entries'>, entries: [number, number][]): void {
    const target = this.spaces[space].slices;
    const existing = target.find((s) => s.weight === slice.weight && s.axis === slice.axis && s.role === slice.role);
    if (existing !== undefined) existing.entries.push(...entries);
    else target.push({ ...slice, entries });
    if (slice.role !== 'output') this.spaces[space].consumers.add(slice.layer);
  }

  /** Slices a constant read by `node` along `axis` at each labelled position of `labels`. */
  private sliceConstant(labels: readonly Label[], constant: string, node: string, axis: number, role: SliceRole): void {
    const shape = [...(this.context.constantShape(constant) ?? [])];
    const bySpace = new Map<number, [number, number][]>();
    labels.forEach((label, i) => {
      if (label === undefined) return;
      const list = bySpace.get(label.space) ?? [];
      list.push([label.j, i]);
      bySpace.set(label.space, list);
    });
    for (const [space, entries] of bySpace) this.addSlice(space, { weight: constant, shape, layer: node, axis, role }, entries);
  }

  /** A constant that must hold one value per channel (or broadcast one): slices it, or blocks the groups and says why. */
  private perChannel(labels: Label[], input: string, node: string): void {
    const shape = this.context.constantShape(this.graph.constantBehind(input) ?? '');
    if (shape !== undefined && product(shape) === 1) return;
    const constant = this.soleConstant(input, node);
    const op = this.graph.node(node).op;
    if (constant === undefined || shape === undefined) {
      this.block(labels, `${op} node ${node} reads ${input}, which is computed or shared, as a per-channel operand`);
      return;
    }
    if (shape[shape.length - 1] !== labels.length || product(shape) !== labels.length) {
      this.block(labels, `${op} node ${node}: constant ${constant} [${shape.join(', ')}] is not one value per channel (${labels.length})`);
      return;
    }
    this.sliceConstant(labels, constant, node, shape.length - 1, 'channel');
  }

  private newSpace(unit: GraphUnit, channels: number): Label[] {
    const space = this.spaces.length;
    this.spaces.push({ unit: unit.name, node: unit.node, channels, slices: [], couplings: new Set(), consumers: new Set(), reshapes: [] });
    this.parent.push(space);
    return Array.from({ length: channels }, (_, j) => ({ space, j }));
  }

  private visit(name: string): void {
    const node = this.graph.node(name);
    const inputs = this.graph.dataInputs(name);
    const labelled = inputs.filter((input) => this.labelsOf(input) !== undefined || (input.includes(':') && this.labels.has(inputNodeName(input))));
    const unit = this.unitByNode.get(name);
    const isProducer = unit !== undefined && unit.weightIndex === 1 && (CONV_OPS.has(node.op) || MATMUL_OPS.has(node.op));
    if (labelled.length === 0 && !isProducer) return;
    const what = `${node.op} node ${name}`;
    if (this.context.conditional.has(name)) {
      this.blockAll(inputs, `${what} runs conditionally`);
      return;
    }
    if (BINARY_OPS.has(node.op) && inputs.length === 2 && this.labelsOf(inputs[0]) === undefined && !inputs[0].includes(':')) inputs.reverse();
    const first = this.labelsOf(inputs[0] ?? '');
    const rest = inputs.slice(1);
    const restLabelled = rest.some((input) => this.labelsOf(input) !== undefined);
    if (CONV_OPS.has(node.op) || MATMUL_OPS.has(node.op)) {
      this.visitProjection(name, inputs, unit);
      return;
    }
    if (labelled.some((input) => this.labelsOf(input) === undefined)) {
      this.blockAll(inputs, `${what} reads an output other than the first of a tensor with channels`);
      return;
    }
    if (first === undefined) {
      this.blockAll(inputs, `Lopper cannot slice ${what}`);
      return;
    }
    if (DEPTHWISE_OPS.has(node.op)) {
      const filter = this.soleConstant(inputs[1] ?? '', name);
      const shape = filter === undefined ? undefined : this.context.constantShape(filter);
      if (filter === undefined || shape === undefined || shape.length !== 4 || shape[3] !== 1 || shape[2] !== first.length || stringAttr(node, 'data_format') === 'NCHW') {
        this.block(first, `${what}: its filter is shared, computed, channels-first or has a depth multiplier other than 1`);
        return;
      }
      this.sliceConstant(first, filter, name, 2, 'channel');
      for (const arg of inputs.slice(2)) this.perChannel(first, arg, name);
      this.labels.set(name, first);
      return;
    }
    if (restLabelled) {
      if (BINARY_OPS.has(node.op) && inputs.length === 2) this.couple(name, first, this.labelsOf(inputs[1]) as Label[]);
      else if (node.op === 'ConcatV2') this.concat(name, inputs);
      else this.blockAll(inputs, `Lopper cannot slice ${what}`);
      return;
    }
    if (UNARY_OPS.has(node.op)) {
      if (rest.some((input) => this.graph.constantBehind(input) === undefined && node.op !== 'ResizeBilinear' && node.op !== 'ResizeNearestNeighbor')) {
        this.block(first, `${what} has a computed operand`);
        return;
      }
      this.labels.set(name, first);
    } else if (node.op === 'BiasAdd' || BINARY_OPS.has(node.op) || FUSED_BATCH_NORM_OPS.has(node.op)) {
      if (BINARY_OPS.has(node.op) && inputs.length === 2 && this.graph.constantBehind(inputs[1]) === undefined) {
        this.block(first, `${what} combines the channels with a tensor that has none of the group's channels`);
        return;
      }
      for (const input of rest) this.perChannel(first, input, name);
      this.labels.set(name, first);
    } else if (REDUCE_OPS.has(node.op) || PAD_OPS.has(node.op)) {
      this.keepsChannelAxis(name, inputs, first);
    } else if (node.op === 'ConcatV2') {
      this.concat(name, inputs);
    } else if (node.op === 'Reshape') {
      this.flatten(name, inputs, first);
    } else {
      this.block(first, `Lopper cannot slice ${what}`);
    }
  }

  /**
   * A Reshape that flattens a channels-last tensor [N, …, C] into [N, …·C] (the Flatten before a
   * dense layer): position p·C + c carries channel c, and the shape constant's feature size shrinks
   * with the channels. Any other reshape keeps its groups whole.
   */
  private flatten(name: string, inputs: readonly string[], first: Label[]): void {
    const what = `Reshape node ${name}`;
    const inShape = this.context.shape(inputs[0] ?? '');
    const outShape = this.context.shape(name);
    const constant = this.soleConstant(inputs[1] ?? '', name);
    const values = constant === undefined ? undefined : this.context.intValues(constant);
    const features = inShape === undefined ? 0 : product(inShape.slice(1));
    const flattens =
      inShape !== undefined &&
      inShape.length >= 3 &&
      inShape[inShape.length - 1] === first.length &&
      outShape?.length === 2 &&
      outShape[1] === features &&
      values?.length === 2 &&
      values[1] === features &&
      (values[0] === -1 || values[0] === inShape[0]);
    if (!flattens || constant === undefined) {
      this.block(
        first,
        `Lopper cannot slice ${what}${constant === undefined ? ' (its shape is computed or shared)' : ' (only a flatten of [N, …, C] into [N, …·C] can be sliced)'}`,
      );
      return;
    }
    const positions = features / first.length;
    const labels: Label[] = [];
    for (let p = 0; p < positions; p++) labels.push(...first);
    for (const space of this.spacesIn(first)) this.spaces[space].reshapes.push({ weight: constant, index: 1, perChannel: positions });
    this.labels.set(name, labels);
  }

  /** Conv2D/_FusedConv2D and MatMul/_FusedMatMul: the consumer side (its input channels) and the producer side (its filters). */
  private visitProjection(name: string, inputs: readonly string[], unit: GraphUnit | undefined): void {
    const node = this.graph.node(name);
    const what = `${node.op} node ${name}`;
    const data = this.labelsOf(inputs[0] ?? '');
    const weight = this.soleConstant(inputs[1] ?? '', name);
    const shape = weight === undefined ? undefined : this.context.constantShape(weight);
    const isConv = CONV_OPS.has(node.op);
    const transposeB = boolAttr(node, 'transpose_b');
    const plain =
      weight !== undefined &&
      shape !== undefined &&
      (isConv
        ? shape.length === 4 && stringAttr(node, 'data_format') !== 'NCHW'
        : shape.length === 2 && !boolAttr(node, 'transpose_a') && this.context.shape(inputs[0] ?? '')?.length === 2);
    for (const input of inputs.slice(2)) if (this.labelsOf(input) !== undefined) this.block(this.labelsOf(input), `${what} reads the channels as a fused argument`);
    if (this.labelsOf(inputs[1] ?? '') !== undefined) this.block(this.labelsOf(inputs[1] ?? ''), `${what} reads the channels as its weight`);
    if (data !== undefined) {
      const inAxis = isConv ? 2 : transposeB ? 1 : 0;
      if (!plain || shape[inAxis] !== data.length) {
        this.block(data, `${what}: its weight is shared, computed, transposed on the data side, channels-first or grouped`);
      } else {
        this.sliceConstant(data, weight, name, inAxis, 'input');
      }
    }
    if (unit === undefined || unit.weightIndex !== 1 || !plain) return;
    const outAxis = isConv ? 3 : transposeB ? 0 : 1;
    const labels = this.newSpace(unit, shape[outAxis]);
    this.sliceConstant(labels, weight, name, outAxis, 'output');
    for (const arg of inputs.slice(2)) this.perChannel(labels, arg, name);
    this.labels.set(name, labels);
  }

  /** An elementwise op of two tensors with channels: each position's groups are coupled (the same channel j of both). */
  private couple(name: string, a: Label[], b: Label[]): void {
    const what = `${this.graph.node(name).op} node ${name}`;
    if (a.length !== b.length) {
      this.block(a, `${what} broadcasts ${b.length} channels against ${a.length}`);
      this.block(b, `${what} broadcasts ${a.length} channels against ${b.length}`);
      return;
    }
    for (let i = 0; i < a.length; i++) {
      const x = a[i];
      const y = b[i];
      if (x === undefined && y === undefined) continue;
      if (x === undefined || y === undefined || x.j !== y.j) {
        this.block(a, `${what} adds channels that do not line up`);
        this.block(b, `${what} adds channels that do not line up`);
        return;
      }
      this.union(x.space, y.space, name);
    }
    this.labels.set(name, a);
  }

  private channelAxis(input: string): number | undefined {
    const rank = this.context.shape(input)?.length;
    return rank === undefined ? undefined : rank - 1;
  }

  /** Reductions and pads that leave the channel axis whole pass the channels on. */
  private keepsChannelAxis(name: string, inputs: readonly string[], first: Label[]): void {
    const node = this.graph.node(name);
    const what = `${node.op} node ${name}`;
    const axis = this.channelAxis(inputs[0]);
    const constant = this.graph.constantBehind(inputs[1] ?? '');
    const values = constant === undefined ? undefined : this.context.intValues(constant);
    if (axis === undefined || values === undefined) {
      this.block(first, `${what} has computed ${REDUCE_OPS.has(node.op) ? 'axes' : 'paddings'}`);
      return;
    }
    const rank = axis + 1;
    const keeps = REDUCE_OPS.has(node.op)
      ? values.every((a) => (a < 0 ? a + rank : a) !== axis)
      : values.length === 2 * rank && values[2 * axis] === 0 && values[2 * axis + 1] === 0;
    if (!keeps) {
      this.block(first, `${what} ${REDUCE_OPS.has(node.op) ? 'reduces' : 'pads'} the channel axis`);
      return;
    }
    if (REDUCE_OPS.has(node.op) && boolAttr(node, 'keep_dims') === false && values.length === 0) {
      this.block(first, `${what} reduces every axis`);
      return;
    }
    this.labels.set(name, first);
  }

  /** ConcatV2 on the channel axis: each input's channels at its offset; on any other axis the groups cannot shrink. */
  private concat(name: string, inputs: readonly string[]): void {
    const what = `ConcatV2 node ${name}`;
    const parts = inputs.slice(0, -1);
    const axisConstant = this.graph.constantBehind(inputs[inputs.length - 1] ?? '');
    const axisValue = axisConstant === undefined ? undefined : this.context.intValues(axisConstant)?.[0];
    const channelAxis = this.channelAxis(parts[0] ?? '');
    const onChannels = axisValue !== undefined && channelAxis !== undefined && (axisValue < 0 ? axisValue + channelAxis + 1 : axisValue) === channelAxis;
    if (!onChannels) {
      this.blockAll(parts, `${what} joins along an axis other than the channels`);
      return;
    }
    const joined: Label[] = [];
    for (const part of parts) {
      const labels = this.labelsOf(part);
      const width = labels?.length ?? this.context.shape(part)?.[channelAxis];
      if (width === undefined) {
        this.blockAll(parts, `${what} joins ${part}, whose channel count is unknown`);
        return;
      }
      joined.push(...(labels ?? new Array<Label>(width).fill(undefined)));
    }
    for (const part of parts) if (this.labelsOf(part) !== undefined) for (const s of this.spacesIn(this.labelsOf(part))) this.spaces[s].couplings.add(name);
    this.labels.set(name, joined);
  }

  private groups(): GraphChannelGroup[] {
    const members = new Map<number, number[]>();
    this.spaces.forEach((_, s) => {
      const root = this.find(s);
      members.set(root, [...(members.get(root) ?? []), s]);
    });
    const groups: GraphChannelGroup[] = [];
    for (const [root, list] of members) {
      const head = this.spaces[root];
      const slices = new Map<string, ChannelSlice>();
      for (const s of list) {
        for (const pending of this.spaces[s].slices) {
          const key = `${pending.weight}|${pending.axis}|${pending.role}`;
          const slice = slices.get(key) ?? {
            weight: pending.weight,
            shape: pending.shape,
            layer: pending.layer,
            axis: pending.axis,
            role: pending.role,
            indices: Array.from({ length: head.channels }, () => []),
          };
          for (const [j, index] of pending.entries) if (j < head.channels && !slice.indices[j].includes(index)) slice.indices[j].push(index);
          slices.set(key, slice);
        }
      }
      const reason = head.reason;
      const reshapes = list.flatMap((s) => this.spaces[s].reshapes);
      const couplings = new Set<string>();
      const consumers = new Set<string>();
      for (const s of list) {
        for (const c of this.spaces[s].couplings) couplings.add(c);
        for (const c of this.spaces[s].consumers) consumers.add(c);
      }
      groups.push({
        id: head.unit,
        channels: head.channels,
        producers: list.map((s) => ({ unit: this.spaces[s].unit, node: this.spaces[s].node })),
        slices: [...slices.values()],
        couplings: [...couplings],
        consumers: [...consumers].filter((c) => !list.some((s) => this.spaces[s].node === c)),
        reshapes,
        shrinkable: reason === undefined && head.channels > 1,
        ...((reason !== undefined || head.channels <= 1) && { reason: reason ?? 'it has a single channel' }),
      });
    }
    return groups;
  }
}

/** The channel dependency groups of a graph, one per set of coupled producers, in execution order. */
export function graphChannelGroups(graph: GraphIndex, units: readonly GraphUnit[], context: ChannelTraceContext): GraphChannelGroup[] {
  return new ChannelTracer(graph, units, context).trace();
}

/** A group as the page shows it before anything is applied. */
export function graphGroupPreview(group: GraphChannelGroup): GroupPreview {
  const paramsPerChannel = group.slices.reduce((sum, slice) => sum + (product(slice.shape) / (slice.shape[slice.axis] || 1)) * (slice.indices[0]?.length ?? 1), 0);
  const producers = group.producers.map((p) => p.unit);
  const description = group.shrinkable
    ? `${group.channels} channels of ${producers.join(' + ')}${group.consumers.length > 0 ? `, read by ${group.consumers.join(', ')}` : ''}`
    : `${group.channels} channels of ${producers.join(' + ')}: ${group.reason ?? 'cannot shrink'}`;
  return {
    id: group.id,
    channels: group.channels,
    producers,
    consumers: group.consumers,
    weights: group.slices.map((slice) => `${slice.weight}[${slice.axis}]`),
    couplings: group.couplings,
    shrinkable: group.shrinkable,
    ...(group.reason !== undefined && { reason: group.reason }),
    description,
    paramsPerChannel,
  };
}
