import { ManifestError } from './errors';
import { isRecord } from './input-file';
import type { KerasModelTopology } from './manifest';

/** A Keras functional model's layers as they reference each other: name → the layer names it reads. */
interface FunctionalGraph {
  model: string;
  order: string[];
  inbound: Map<string, string[]>;
  inputs: string[];
  outputs: string[];
}

const FUNCTIONAL = new Set(['Model', 'Functional']);

/** The names tfjs-layers gives tensors (`isValidTensorName` in tfjs-layers' common.ts); a layer's name becomes its tensors' names. */
const TENSOR_NAME = /^[A-Za-z0-9][-A-Za-z0-9._/]*$/;

/** The layer names an `inbound_nodes` entry reads: Keras 2 `[[[name, node, tensor, kwargs], …], …]` or Keras 3 `{args: …}` with `keras_history`. */
function inboundNames(inboundNodes: unknown): string[] {
  const names: string[] = [];
  const visit = (value: unknown, depth: number): void => {
    if (depth > 64) return;
    if (Array.isArray(value)) {
      if (typeof value[0] === 'string' && value.length >= 3 && typeof value[1] === 'number') {
        names.push(value[0]);
        return;
      }
      for (const item of value) visit(item, depth + 1);
    } else if (isRecord(value)) {
      const history = value['keras_history'];
      if (Array.isArray(history) && typeof history[0] === 'string') names.push(history[0]);
      else for (const item of Object.values(value)) visit(item, depth + 1);
    }
  };
  visit(inboundNodes, 0);
  return names;
}

function endpointNames(value: unknown): string[] {
  if (!Array.isArray(value)) return [];
  if (typeof value[0] === 'string') return [value[0]];
  return value.flatMap((item) => (Array.isArray(item) && typeof item[0] === 'string' ? [item[0]] : []));
}

function layerName(layer: Record<string, unknown>): string | undefined {
  const config = layer['config'];
  const fromConfig = isRecord(config) ? config['name'] : undefined;
  const name = typeof layer['name'] === 'string' ? layer['name'] : fromConfig;
  return typeof name === 'string' ? name : undefined;
}

/** A cycle through `start`'s ancestors, as layer names from the first repeated one, or undefined. */
function findCycle(graph: FunctionalGraph): string[] | undefined {
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  for (const root of graph.order) {
    if (state.has(root)) continue;
    const stack: { name: string; next: number }[] = [{ name: root, next: 0 }];
    state.set(root, 'open');
    path.push(root);
    while (stack.length > 0) {
      const top = stack[stack.length - 1];
      const parents = graph.inbound.get(top.name) ?? [];
      if (top.next < parents.length) {
        const parent = parents[top.next++];
        const seen = state.get(parent);
        if (seen === 'open') return [...path.slice(path.indexOf(parent)), parent];
        if (seen === undefined) {
          state.set(parent, 'open');
          path.push(parent);
          stack.push({ name: parent, next: 0 });
        }
      } else {
        state.set(top.name, 'done');
        path.pop();
        stack.pop();
      }
    }
  }
  return undefined;
}

/**
 * Checks a LayersModel topology before tfjs-layers sees it (a cycle or a dangling reference makes
 * tfjs loop forever): at least one layer, unique layer names that tfjs accepts as tensor names, every inbound node, model input and
 * output naming a layer of the same model, and no cycles; nested models are checked the same way.
 * Throws a ManifestError naming the file, the model and the layers involved.
 */
export function checkLayersTopology(topology: KerasModelTopology, file: string): void {
  const visit = (node: unknown, path: string, depth: number): void => {
    if (!isRecord(node) || depth > 32) return;
    const className = node['class_name'];
    const config = node['config'];
    const layers = Array.isArray(config) ? config : isRecord(config) ? config['layers'] : undefined;
    if (className === 'Sequential' || FUNCTIONAL.has(String(className))) {
      const model = (isRecord(config) && typeof config['name'] === 'string' ? config['name'] : undefined) ?? path;
      if (!Array.isArray(layers) || layers.length === 0) {
        throw new ManifestError({
          file,
          message: `model "${model}" has no layers`,
          expected: 'at least one layer in modelTopology',
          actual: Array.isArray(layers) ? 'an empty list' : 'no "layers" list',
        });
      }
      const names = new Set<string>();
      const graph: FunctionalGraph = { model, order: [], inbound: new Map(), inputs: [], outputs: [] };
      layers.forEach((layer: unknown, index) => {
        if (!isRecord(layer)) throw new ManifestError({ file, message: `layer ${index} of model "${model}" is not an object`, expected: '{class_name, config}' });
        const name = layerName(layer) ?? `#${index}`;
        if (names.has(name)) throw new ManifestError({ file, message: `model "${model}" has two layers named "${name}"`, expected: 'unique layer names' });
        if (name !== '' && !name.startsWith('#') && !TENSOR_NAME.test(name)) {
          throw new ManifestError({
            file,
            message: `layer "${name}" (${String(layer['class_name'])}) of model "${model}" has a name TensorFlow.js cannot give its tensors`,
            expected: 'a letter or digit, then letters, digits or -._/',
            actual: JSON.stringify(name),
          });
        }
        names.add(name);
        graph.order.push(name);
        graph.inbound.set(name, inboundNames(layer['inbound_nodes']));
      });
      if (FUNCTIONAL.has(String(className)) && isRecord(config)) {
        graph.inputs = endpointNames(config['input_layers']);
        graph.outputs = endpointNames(config['output_layers']);
        for (const [name, parents] of graph.inbound) {
          const missing = parents.find((parent) => !names.has(parent));
          if (missing !== undefined) {
            throw new ManifestError({
              file,
              message: `layer "${name}" of model "${model}" reads from "${missing}", which is not a layer of that model`,
              expected: 'inbound nodes that name its layers',
            });
          }
        }
        for (const [role, list] of [
          ['input', graph.inputs],
          ['output', graph.outputs],
        ] as const) {
          const missing = list.find((name) => !names.has(name));
          if (missing !== undefined)
            throw new ManifestError({
              file,
              message: `the ${role} of model "${model}" is "${missing}", which is not one of its layers`,
              expected: `${role}_layers that name its layers`,
            });
        }
        if (graph.outputs.length === 0) throw new ManifestError({ file, message: `model "${model}" names no output layers`, expected: 'output_layers' });
        const cycle = findCycle(graph);
        if (cycle !== undefined) {
          throw new ManifestError({
            file,
            message: `the layers of model "${model}" form a cycle: ${cycle.join(' ← ')}`,
            expected: 'each layer reading only from layers computed before it',
          });
        }
      }
    }
    if (Array.isArray(layers)) layers.forEach((layer: unknown, i) => visit(layer, `${path}/layers[${i}]`, depth + 1));
    if (isRecord(config) && isRecord(config['layer'])) visit(config['layer'], `${path}/layer`, depth + 1);
  };
  visit(topology, 'model', 0);
}

/** The config field that fixes a layer's kernel's last dimension, by Keras class. */
const OUTPUT_FIELDS: Readonly<Record<string, { field: string; weight: string; axis: number; bias?: true }>> = {
  Dense: { field: 'units', weight: 'kernel', axis: -1, bias: true },
  Conv1D: { field: 'filters', weight: 'kernel', axis: -1, bias: true },
  Conv2D: { field: 'filters', weight: 'kernel', axis: -1, bias: true },
  Conv3D: { field: 'filters', weight: 'kernel', axis: -1, bias: true },
  Conv2DTranspose: { field: 'filters', weight: 'kernel', axis: -2, bias: true },
  Conv3DTranspose: { field: 'filters', weight: 'kernel', axis: -2, bias: true },
  SeparableConv2D: { field: 'filters', weight: 'pointwise_kernel', axis: -1, bias: true },
  DepthwiseConv2D: { field: 'depth_multiplier', weight: 'depthwise_kernel', axis: -1 },
  Embedding: { field: 'output_dim', weight: 'embeddings', axis: -1 },
};

/**
 * Checks every layer's size field (Dense `units`, Conv `filters`, Embedding `output_dim`, …)
 * against the shape of its stored kernel (and bias) before tfjs builds the layer — a layer that claims more
 * units than its weights hold would otherwise allocate its full-size kernel first. Layers whose
 * kernel is not in the manifest are left to the shard checks.
 */
export function checkLayerSizes(topology: KerasModelTopology, weights: readonly { name: string; shape: readonly number[] }[], file: string): void {
  const byName = new Map(weights.map((w) => [w.name, w.shape]));
  const shapeOf = (layer: string, weight: string): readonly number[] | undefined => {
    const exact = byName.get(`${layer}/${weight}`);
    if (exact) return exact;
    for (const [name, shape] of byName) if (name.endsWith(`/${layer}/${weight}`)) return shape;
    return undefined;
  };
  const visit = (node: unknown, depth: number): void => {
    if (!isRecord(node) || depth > 32) return;
    const config = node['config'];
    const rule = OUTPUT_FIELDS[String(node['class_name'])];
    if (rule && isRecord(config)) {
      const name = layerName(node);
      const declared = config[rule.field];
      const shape = name === undefined ? undefined : shapeOf(name, rule.weight);
      if (shape && shape.length > 0) {
        const stored = shape[shape.length + rule.axis];
        if (typeof declared !== 'number' || !Number.isInteger(declared) || declared < 1 || declared !== stored) {
          throw new ManifestError({
            file,
            message: `layer "${name}" (${String(node['class_name'])}) declares ${rule.field} ${JSON.stringify(declared)}, but its ${rule.weight} [${shape.join(', ')}] holds ${stored}`,
            expected: `${rule.field} ${stored}`,
            actual: JSON.stringify(declared),
            mismatchInMessage: true,
          });
        }
      }
      const bias = rule.bias && name !== undefined ? shapeOf(name, 'bias') : undefined;
      if (bias && (bias.length !== 1 || bias[0] !== declared)) {
        throw new ManifestError({
          file,
          message: `layer "${name}" (${String(node['class_name'])}) declares ${rule.field} ${JSON.stringify(declared)}, but its bias has shape [${bias.join(', ')}]`,
          expected: `[${JSON.stringify(declared)}]`,
          actual: `[${bias.join(', ')}]`,
        });
      }
    }
    const layers = Array.isArray(config) ? config : isRecord(config) ? config['layers'] : undefined;
    if (Array.isArray(layers)) for (const layer of layers) visit(layer, depth + 1);
    if (isRecord(config) && isRecord(config['layer'])) visit(config['layer'], depth + 1);
  };
  visit(topology, 0);
}
