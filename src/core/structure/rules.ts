import type * as tf from '@tensorflow/tfjs';
import type { ExecutionStep, Layer } from '../model/graph';
import { layerUnits } from '../model/units';
import { concatSlots, repeatSlots, slotWidth, type ChannelTracer, type Slots, type WeightRef } from './trace';
import type { ChannelProducer } from './types';

/** One call of one layer, as a channel rule sees it. */
export interface LayerCall {
  readonly tracer: ChannelTracer;
  readonly step: ExecutionStep;
  /** Index of the step in execution order. */
  readonly order: number;
  readonly inputs: readonly Slots[];
  /** The inputs of the layer's first call, when this is a later call of a shared layer. */
  readonly firstInputs?: readonly Slots[];
}

/**
 * How a layer class moves channels: records the weight slices its inputs' channels own, couples
 * what must lose the same channels, and returns the channel layout of each output.
 */
export type ChannelRule = (call: LayerCall) => Slots[];

export function describeLayer(layer: Layer): string {
  return `${layer.getClassName()} '${layer.name}'`;
}

export function lastDim(shape: tf.Shape | undefined): number | undefined {
  const dim = shape?.[shape.length - 1];
  return dim === null ? undefined : dim;
}

function weightOf(layer: Layer, base: string): tf.LayerVariable | undefined {
  return layer.weights.find((w) => w.originalName.split('/').pop() === base);
}

function shapeOf(variable: tf.LayerVariable): number[] {
  return variable.shape.map((d) => d ?? 0);
}

function ref(variable: tf.LayerVariable): WeightRef {
  return { name: variable.originalName, shape: shapeOf(variable) };
}

function range(start: number, count: number): number[] {
  return Array.from({ length: count }, (_, k) => start + k);
}

function configOf(layer: Layer): Record<string, unknown> {
  return layer.getConfig() as Record<string, unknown>;
}

function isChannelsFirst(layer: Layer): boolean {
  return configOf(layer)['dataFormat'] === 'channelsFirst';
}

/** A config axis (number or one-element list) as a non-negative axis of a value of rank `rank`. */
function configAxis(layer: Layer, rank: number, fallback: number): number | undefined {
  const raw = configOf(layer)['axis'];
  const value = Array.isArray(raw) ? (raw.length === 1 ? raw[0] : undefined) : (raw ?? fallback);
  if (typeof value !== 'number') return undefined;
  return value < 0 ? value + rank : value;
}

/**
 * A layer whose channels cannot be followed: every source reaching it keeps its channels, and its
 * outputs are fixed. A layer with kernels still shows as a producer that cannot shrink.
 */
export function opaque(call: LayerCall, why: string): Slots[] {
  const { tracer, step, order } = call;
  const layer = step.layer;
  const reason = `${describeLayer(layer)} ${why}`;
  for (const input of call.inputs) tracer.blockAll(input, reason);
  const units = layerUnits(layer);
  return step.outputShapes.map((shape, k) => {
    const width = lastDim(shape) ?? 0;
    if (k > 0 || units.length === 0) return tracer.fixedSlots(width, `the output of ${describeLayer(layer)}`, order);
    const unit = units[units.length - 1].info;
    const id = tracer.addProducer({ unit: unit.name, layer: layer.name, className: layer.getClassName(), kernel: unit.weight }, width, order);
    tracer.block(id, reason);
    return tracer.sourceSlots(id);
  });
}

/** Records `layer`'s per-channel weights against the input's channels, or couples a later call with the first. */
function ownInputs(call: LayerCall, record: (input: Slots) => void): void {
  const input = call.inputs[0];
  if (call.firstInputs === undefined) record(input);
  else call.tracer.couple(input, call.firstInputs[0], call.step.layer.name);
}

const CONFIG_KEYS: Record<string, ChannelProducer['configKey']> = {
  Dense: 'units',
  Conv1D: 'filters',
  Conv2D: 'filters',
  Conv3D: 'filters',
  SeparableConv2D: 'filters',
};

/** Dense, Conv1D/2D/3D, SeparableConv2D: the inputs are consumed, the outputs are a new source. */
const producerRule: ChannelRule = (call) => {
  const { tracer, step, order } = call;
  const layer = step.layer;
  if (isChannelsFirst(layer)) return opaque(call, 'is channels-first');
  const className = layer.getClassName();
  const separable = className === 'SeparableConv2D';
  const kernel = weightOf(layer, separable ? 'pointwise_kernel' : 'kernel');
  const depthwise = separable ? weightOf(layer, 'depthwise_kernel') : undefined;
  if (kernel === undefined || (separable && depthwise === undefined)) return opaque(call, 'has no kernel');
  const shape = shapeOf(kernel);
  const inAxis = shape.length - 2;
  const name = layer.name;

  if (depthwise !== undefined) {
    const [, , inputs, multiplier] = shapeOf(depthwise);
    if (slotWidth(call.inputs[0]) !== inputs) return opaque(call, `takes ${inputs} channels but its input has ${slotWidth(call.inputs[0])}`);
    ownInputs(call, (input) => {
      tracer.record(input, ref(depthwise), name, 2, 'input', (i) => [i]);
      tracer.record(input, ref(kernel), name, 2, 'input', (i) => range(i * multiplier, multiplier));
    });
  } else {
    if (slotWidth(call.inputs[0]) !== shape[inAxis]) {
      return opaque(call, `takes ${shape[inAxis]} inputs but receives ${slotWidth(call.inputs[0])}`);
    }
    ownInputs(call, (input) => tracer.record(input, ref(kernel), name, inAxis, 'input', (i) => [i]));
  }

  const unit = separable ? `${name}/pointwise` : name;
  const channels = shape[shape.length - 1];
  const producer: ChannelProducer = { unit, layer: name, className, kernel: kernel.originalName, configKey: CONFIG_KEYS[className] };
  const id = tracer.addProducer(producer, channels, order);
  const outputs = tracer.sourceSlots(id);
  if (call.firstInputs === undefined) {
    tracer.record(outputs, ref(kernel), name, shape.length - 1, 'output', (j) => [j]);
    const bias = weightOf(layer, 'bias');
    if (bias !== undefined) tracer.record(outputs, ref(bias), name, 0, 'output', (j) => [j]);
  }
  if (configOf(layer)['activation'] === 'softmax') tracer.block(id, `${describeLayer(layer)} applies a softmax across its outputs`);
  return [outputs];
};

/** DepthwiseConv2D: channel c feeds outputs c·m … c·m + m − 1; its kernel and bias slices go with c. */
const depthwiseRule: ChannelRule = (call) => {
  const { tracer, step } = call;
  const layer = step.layer;
  if (isChannelsFirst(layer)) return opaque(call, 'is channels-first');
  const kernel = weightOf(layer, 'depthwise_kernel');
  if (kernel === undefined) return opaque(call, 'has no depthwise kernel');
  const [, , inputs, multiplier] = shapeOf(kernel);
  if (slotWidth(call.inputs[0]) !== inputs) return opaque(call, `takes ${inputs} channels but its input has ${slotWidth(call.inputs[0])}`);
  ownInputs(call, (input) => {
    tracer.record(input, ref(kernel), layer.name, 2, 'channel', (i) => [i]);
    const bias = weightOf(layer, 'bias');
    if (bias !== undefined) tracer.record(input, ref(bias), layer.name, 0, 'channel', (i) => range(i * multiplier, multiplier));
  });
  return [repeatSlots(call.inputs[0], multiplier)];
};

const NORM_WEIGHTS = ['gamma', 'beta', 'moving_mean', 'moving_variance'];

/** BatchNormalization over the channel axis: its four vectors lose the channels; the layout passes on. */
const batchNormRule: ChannelRule = (call) => {
  const layer = call.step.layer;
  const rank = call.step.inputShapes[0].length;
  if (configAxis(layer, rank, -1) !== rank - 1) return opaque(call, 'normalises along an axis other than the channels');
  const input = call.inputs[0];
  const weights = NORM_WEIGHTS.map((base) => weightOf(layer, base)).filter((w): w is tf.LayerVariable => w !== undefined);
  if (weights.some((w) => shapeOf(w)[0] !== slotWidth(input))) return opaque(call, 'has parameters of another width than its input');
  ownInputs(call, (slots) => {
    for (const weight of weights) call.tracer.record(slots, ref(weight), layer.name, 0, 'channel', (i) => [i]);
  });
  return [input];
};

/** Elementwise and spatial layers: each channel stays where it is. */
const passThrough: ChannelRule = (call) => {
  if (isChannelsFirst(call.step.layer)) return opaque(call, 'is channels-first');
  return [call.inputs[0]];
};

const activationRule: ChannelRule = (call) => (configOf(call.step.layer)['activation'] === 'softmax' ? opaque(call, 'applies a softmax across the channels') : passThrough(call));

const softmaxRule: ChannelRule = (call) => {
  const rank = call.step.inputShapes[0].length;
  return configAxis(call.step.layer, rank, -1) === rank - 1 ? opaque(call, 'normalises across the channels') : passThrough(call);
};

/** Flatten, channels-last: channel c of position p lands at p·C + c. */
const flattenRule: ChannelRule = (call) => {
  const shape = call.step.inputShapes[0];
  if (shape.length <= 2) return [call.inputs[0]];
  if (isChannelsFirst(call.step.layer)) return opaque(call, 'is channels-first');
  const positions = shape.slice(1, -1);
  if (positions.some((d) => d === null)) return opaque(call, 'has free spatial dimensions');
  const count = (positions as number[]).reduce((a, b) => a * b, 1);
  return [concatSlots(new Array<Slots>(count).fill(call.inputs[0]))];
};

/** Add, Multiply, …: every full-width input loses the same channels; width-1 inputs broadcast. */
const elementwiseRule: ChannelRule = (call) => {
  const width = lastDim(call.step.outputShapes[0]);
  const full = call.inputs.filter((input) => slotWidth(input) === width);
  if (full.length === 0 || full.length + call.inputs.filter((input) => slotWidth(input) === 1).length !== call.inputs.length) {
    return opaque(call, 'combines inputs of different channel counts');
  }
  for (const input of full.slice(1)) call.tracer.couple(full[0], input, call.step.layer.name);
  return [full[0]];
};

/** Concatenate: along the channels the layouts follow one another; along another axis it couples like Add. */
const concatenateRule: ChannelRule = (call) => {
  const rank = call.step.outputShapes[0].length;
  if (configAxis(call.step.layer, rank, -1) !== rank - 1) return elementwiseRule(call);
  return [concatSlots(call.inputs)];
};

const OPAQUE_REASONS: Record<string, string> = {
  Reshape: 'reshapes its input, so channels lose their place',
  Permute: 'permutes axes, so channels lose their place',
  Conv2DTranspose: 'is a transposed convolution, which is not shrunk',
  Conv3DTranspose: 'is a transposed convolution, which is not shrunk',
  LayerNormalization: 'normalises across the channels',
  Dot: 'takes dot products across the channels',
  PReLU: 'has a slope per position and channel',
};

const PASS_THROUGH = [
  'ReLU',
  'LeakyReLU',
  'ELU',
  'ThresholdedReLU',
  'Dropout',
  'SpatialDropout1D',
  'GaussianNoise',
  'GaussianDropout',
  'AlphaDropout',
  'MaxPooling1D',
  'MaxPooling2D',
  'MaxPooling3D',
  'AveragePooling1D',
  'AveragePooling2D',
  'AveragePooling3D',
  'GlobalAveragePooling1D',
  'GlobalAveragePooling2D',
  'GlobalMaxPooling1D',
  'GlobalMaxPooling2D',
  'ZeroPadding2D',
  'Cropping2D',
  'UpSampling2D',
  'Rescaling',
  'CenterCrop',
  'Resizing',
];

const rules = new Map<string, ChannelRule>([
  ['Dense', producerRule],
  ['Conv1D', producerRule],
  ['Conv2D', producerRule],
  ['Conv3D', producerRule],
  ['SeparableConv2D', producerRule],
  ['DepthwiseConv2D', depthwiseRule],
  ['BatchNormalization', batchNormRule],
  ['Activation', activationRule],
  ['Softmax', softmaxRule],
  ['Flatten', flattenRule],
  ['Concatenate', concatenateRule],
  ...['Add', 'Multiply', 'Subtract', 'Average', 'Maximum', 'Minimum'].map((name): [string, ChannelRule] => [name, elementwiseRule]),
  ...PASS_THROUGH.map((name): [string, ChannelRule] => [name, passThrough]),
]);

export function registerChannelRule(className: string, rule: ChannelRule): void {
  rules.set(className, rule);
}

/** The rule of a layer class; a class without one is opaque (its channels cannot be followed). */
export function channelRule(className: string): ChannelRule {
  return rules.get(className) ?? ((call) => opaque(call, OPAQUE_REASONS[className] ?? 'is not a layer whose channels can be followed'));
}
