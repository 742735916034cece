import { ManifestError } from './errors';
import { isRecord } from './input-file';
import type { KerasModelTopology } from './manifest';

/** A tensor shape with `null` for unknown sizes (batch first); `undefined` where Lopper does not follow the layer. */
type Shape = (number | null)[];

interface LayerJson {
  className: string;
  name: string;
  config: Record<string, unknown>;
  inbound: string[];
}

const numbers = (value: unknown, rank: number, fallback: number): number[] => {
  if (typeof value === 'number') return Array.from({ length: rank }, () => value);
  if (Array.isArray(value) && value.length === rank && value.every((v) => typeof v === 'number')) return value as number[];
  return Array.from({ length: rank }, () => fallback);
};

/** Spatial sizes after a window (conv or pool) of `kernel` with `strides`, `dilation`, `padding`, channels last. */
function windowed(shape: Shape, config: Record<string, unknown>, kernelField: string, stridesDefault: 'kernel' | 1, channels: number | null): Shape | undefined {
  const rank = shape.length - 2;
  if (rank < 1 || config['data_format'] === 'channels_first') return undefined;
  const kernel = numbers(config[kernelField], rank, 1);
  const strides = numbers(config['strides'], rank, stridesDefault === 'kernel' ? NaN : 1).map((s, i) => (Number.isNaN(s) ? kernel[i] : s));
  const dilation = numbers(config['dilation_rate'], rank, 1);
  const same = config['padding'] === 'same';
  const spatial = shape.slice(1, -1).map((n, i) => {
    if (n === null) return null;
    const span = (kernel[i] - 1) * dilation[i] + 1;
    return same ? Math.ceil(n / strides[i]) : Math.ceil((n - span + 1) / strides[i]);
  });
  return [shape[0], ...spatial, channels];
}

/** The output shape of the layer classes whose weights Lopper checks and those between them; undefined for others. */
function outputShape(layer: LayerJson, inputs: Shape[]): Shape | undefined {
  const [input] = inputs;
  const { className, config } = layer;
  const last = input?.[input.length - 1] ?? null;
  const units = (field: string): number | null => (typeof config[field] === 'number' ? (config[field] as number) : null);
  switch (className) {
    case 'Dense':
      return input && [...input.slice(0, -1), units('units')];
    case 'Conv1D':
    case 'Conv2D':
    case 'Conv3D':
    case 'SeparableConv2D':
      return input && windowed(input, config, 'kernel_size', 1, units('filters'));
    case 'DepthwiseConv2D':
      return input && windowed(input, config, 'kernel_size', 1, last === null ? null : last * (units('depth_multiplier') ?? 1));
    case 'MaxPooling1D':
    case 'MaxPooling2D':
    case 'AveragePooling1D':
    case 'AveragePooling2D':
      return input && windowed(input, config, 'pool_size', 'kernel', last);
    case 'GlobalAveragePooling1D':
    case 'GlobalAveragePooling2D':
    case 'GlobalMaxPooling1D':
    case 'GlobalMaxPooling2D':
      return input && config['data_format'] !== 'channels_first' ? [input[0], last] : undefined;
    case 'Flatten':
      return input && [input[0], input.slice(1).every((n) => n !== null) ? (input.slice(1) as number[]).reduce((a, b) => a * b, 1) : null];
    case 'ZeroPadding2D': {
      const padding = config['padding'];
      const pads = Array.isArray(padding) && padding.every(Array.isArray) ? (padding as number[][]).map((p) => p[0] + p[1]) : numbers(padding, 2, 0).map((p) => 2 * p);
      return input && input.length === 4 ? [input[0], ...[1, 2].map((d, i) => (input[d] === null ? null : (input[d] as number) + pads[i])), last] : undefined;
    }
    case 'Add':
    case 'Multiply':
    case 'Subtract':
    case 'Average':
    case 'Maximum':
    case 'Minimum':
      return input;
    case 'Activation':
    case 'ReLU':
    case 'LeakyReLU':
    case 'ELU':
    case 'Softmax':
    case 'Dropout':
    case 'BatchNormalization':
    case 'LayerNormalization':
      return input;
    default:
      return undefined;
  }
}

/** Which stored weight reads the input's last dimension, by class: its name and the axis that must equal it. */
const INPUT_AXES: Readonly<Record<string, { weight: string; axis: number; what: string }>> = {
  Dense: { weight: 'kernel', axis: 0, what: 'inputs' },
  Conv1D: { weight: 'kernel', axis: -2, what: 'input channels' },
  Conv2D: { weight: 'kernel', axis: -2, what: 'input channels' },
  Conv3D: { weight: 'kernel', axis: -2, what: 'input channels' },
  DepthwiseConv2D: { weight: 'depthwise_kernel', axis: -2, what: 'input channels' },
  SeparableConv2D: { weight: 'depthwise_kernel', axis: -2, what: 'input channels' },
  BatchNormalization: { weight: 'gamma', axis: 0, what: 'channels' },
};

function layersOf(topology: KerasModelTopology): LayerJson[] | undefined {
  const config = topology.config;
  const list = Array.isArray(config) ? config : isRecord(config) ? config['layers'] : undefined;
  if (!Array.isArray(list)) return undefined;
  const layers: LayerJson[] = [];
  for (const entry of list as unknown[]) {
    if (!isRecord(entry) || !isRecord(entry['config']) || typeof entry['class_name'] !== 'string') return undefined;
    const layerConfig = entry['config'];
    const name = typeof entry['name'] === 'string' ? entry['name'] : layerConfig['name'];
    if (typeof name !== 'string') return undefined;
    const nodes = entry['inbound_nodes'];
    const first = Array.isArray(nodes) && Array.isArray(nodes[0]) ? (nodes[0] as unknown[]) : [];
    const inbound = first.flatMap((node) => (Array.isArray(node) && typeof node[0] === 'string' ? [node[0]] : []));
    layers.push({ className: entry['class_name'], name, config: layerConfig, inbound });
  }
  return layers;
}

function declaredInput(config: Record<string, unknown>): Shape | undefined {
  const shape = config['batch_input_shape'] ?? config['batch_shape'];
  return Array.isArray(shape) && shape.every((d) => d === null || typeof d === 'number') ? (shape as Shape) : undefined;
}

/**
 * Follows the input shape through a Sequential or functional model's common layers (Dense, Conv,
 * pooling, Flatten, padding, merges, activations; it stops at any other class) and checks that
 * each weight that reads the input's last dimension (a Dense kernel's rows, a Conv kernel's input
 * channels, a BatchNormalization's gamma) has that size, before tfjs builds the model and stops at
 * a bare "Shape mismatch". Nested models are not followed.
 */
export function checkWeightInputs(topology: KerasModelTopology, weights: readonly { name: string; shape: readonly number[] }[], file: string): void {
  if (topology.class_name !== 'Sequential' && topology.class_name !== 'Model' && topology.class_name !== 'Functional') return;
  const layers = layersOf(topology);
  if (layers === undefined) return;
  const byName = new Map(weights.map((w) => [w.name, w.shape]));
  const shapes = new Map<string, Shape>();
  let previous: Shape | undefined;
  for (const layer of layers) {
    const inputs =
      topology.class_name === 'Sequential'
        ? [declaredInput(layer.config) ?? previous]
        : layer.inbound.length === 0
          ? [declaredInput(layer.config)]
          : layer.inbound.map((name) => shapes.get(name));
    if (layer.className === 'InputLayer') {
      previous = declaredInput(layer.config);
      if (previous) shapes.set(layer.name, previous);
      continue;
    }
    const known = inputs.every((s): s is Shape => s !== undefined) ? inputs : undefined;
    const rule = INPUT_AXES[layer.className];
    const stored = rule && byName.get(`${layer.name}/${rule.weight}`);
    const reads = known?.[0]?.[known[0].length - 1];
    if (rule && stored && stored.length > 0 && typeof reads === 'number') {
      const size = stored[(stored.length + rule.axis) % stored.length];
      if (size !== reads) {
        throw new ManifestError({
          file,
          message: `layer "${layer.name}" (${layer.className}) reads ${reads} ${rule.what}, but its ${rule.weight} [${stored.join(', ')}] is for ${size}`,
          expected: `a ${rule.weight} for ${reads} ${rule.what}`,
          actual: `${size}`,
        });
      }
    }
    previous = known ? outputShape(layer, known) : undefined;
    if (previous) shapes.set(layer.name, previous);
  }
}
