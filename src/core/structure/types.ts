/**
 * Dependency groups for structural (channel) pruning, as Torch-Pruning builds them: the channels
 * of a group are removed from every weight that holds them at once, so that the model shrinks.
 * All of it is plain data.
 */

/** What a weight slice is to the group: the producers' outputs, per-channel parameters on the way, or a consumer's inputs. */
export type SliceRole = 'output' | 'channel' | 'input';

/** The indices of a weight that belong to each channel of a group, along one axis. */
export interface ChannelSlice {
  /** The weight's manifest name (`conv2/kernel`, `bn/moving_mean`). */
  weight: string;
  /** The weight's full shape before shrinking. */
  shape: number[];
  layer: string;
  /** Axis of the weight (Keras layout) that loses indices. */
  axis: number;
  role: SliceRole;
  /** `indices[j]`: the indices along `axis` that go when group channel j goes (a Dense after a Flatten gets one per position). */
  indices: number[][];
}

/** A unit whose output rows (neurons, filters) are the group's channels. */
export interface ChannelProducer {
  /** Unit name (DESIGN §6): the layer name, or `<layer>/pointwise` for SeparableConv2D. */
  unit: string;
  layer: string;
  className: string;
  /** The kernel's manifest name. */
  kernel: string;
  /** The Keras config key that holds the layer's output count (`units` or `filters`); absent when the layer cannot shrink. */
  configKey?: 'units' | 'filters';
}

export interface ChannelGroup {
  /** The first producer's unit name, in execution order. */
  id: string;
  /** Number of channels every producer has (the group's width). */
  channels: number;
  /** Units whose output channels are removed together, in execution order. */
  producers: ChannelProducer[];
  /** Every weight slice removed with a channel: producers' kernel columns and biases, per-channel parameters, consumers' input slices. */
  slices: ChannelSlice[];
  /** Layers that couple the producers (Add, Multiply, Concatenate on another axis, a shared layer). */
  couplings: string[];
  /** Layers downstream whose weights lose the group's channels (BatchNorm, depthwise, the consumers). */
  consumers: string[];
  shrinkable: boolean;
  /** Why the group cannot shrink, when it cannot. */
  reason?: string;
  description: string;
}

/** A group as the page shows it before anything is applied. */
export interface GroupPreview {
  id: string;
  channels: number;
  producers: string[];
  consumers: string[];
  /** Weights sliced, as `name[axis]`. */
  weights: string[];
  couplings: string[];
  shrinkable: boolean;
  reason?: string;
  description: string;
  /** Parameters removed with one channel of this group when no other group shrinks. */
  paramsPerChannel: number;
}
