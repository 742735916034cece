import * as tf from '@tensorflow/tfjs';

export type Layer = tf.layers.Layer;
type LayerNode = Layer['inboundNodes'][number];

/** One call of one layer, in execution order. Values are named by string keys. */
export interface ExecutionStep {
  readonly layer: Layer;
  /** Keys of the values the call consumes, in call order. */
  readonly inputs: readonly string[];
  /** Keys of the values the call produces. */
  readonly outputs: readonly string[];
  /** Static shapes with `null` for free dimensions (batch first). */
  readonly inputShapes: readonly tf.Shape[];
  readonly outputShapes: readonly tf.Shape[];
}

/**
 * A LayersModel flattened into calls: nested models (a Sequential inside a functional model)
 * are expanded into their layers; shared layers give one step per call.
 */
export interface ExecutionGraph {
  readonly steps: readonly ExecutionStep[];
  /** Keys of the model inputs, in `model.inputs` order. */
  readonly inputKeys: readonly string[];
  /** Keys of the model outputs, in `model.outputs` order. */
  readonly outputKeys: readonly string[];
  /** Index of the last step that reads a key; `Infinity` for model outputs. */
  readonly lastUse: ReadonlyMap<string, number>;
  /** Index of the step that produces a key; -1 for model inputs. */
  readonly producedAt: ReadonlyMap<string, number>;
}

export class UnsupportedModelError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnsupportedModelError';
  }
}

function isNestedModel(layer: Layer): layer is tf.LayersModel {
  return layer instanceof tf.LayersModel;
}

function rejectMasking(layer: Layer): void {
  const className = layer.getClassName();
  const config = layer.getConfig();
  if (className === 'Masking' || (className === 'Embedding' && config.maskZero === true)) {
    throw new UnsupportedModelError(`layer ${layer.name} (${className}) produces a mask; masked models are not supported`);
  }
}

/** Walks a LayersModel from its outputs back to its inputs and orders the calls topologically. */
export function buildExecutionGraph(model: tf.LayersModel): ExecutionGraph {
  const steps: ExecutionStep[] = [];
  const alias = new Map<string, string>();
  const resolve = (key: string): string => {
    let current = key;
    for (let next = alias.get(current); next !== undefined; next = alias.get(current)) current = next;
    return current;
  };

  const expand = (container: tf.LayersModel, feeds: readonly string[], prefix: string): string[] => {
    const bound = new Map<number, string>();
    container.inputs.forEach((input, i) => bound.set(input.id, feeds[i]));
    const keyOf = (t: tf.SymbolicTensor): string => bound.get(t.id) ?? resolve(`${prefix}${t.id}`);
    const visited = new Set<LayerNode>();

    const visit = (tensor: tf.SymbolicTensor): void => {
      if (bound.has(tensor.id)) return;
      const node = tensor.sourceLayer.inboundNodes[tensor.nodeIndex];
      if (node === undefined) {
        throw new UnsupportedModelError(`tensor ${tensor.name} has no producing call in ${container.name}`);
      }
      if (visited.has(node)) return;
      visited.add(node);
      if (node.inputTensors.length === 0) {
        throw new UnsupportedModelError(`${tensor.name} is not fed: it is not an input of ${container.name}`);
      }
      for (const input of node.inputTensors) visit(input);
      const inputs = node.inputTensors.map(keyOf);
      const layer = node.outboundLayer;
      if (isNestedModel(layer)) {
        const innerOutputs = expand(layer, inputs, `${prefix}${node.id}/`);
        node.outputTensors.forEach((output, j) => alias.set(`${prefix}${output.id}`, innerOutputs[j]));
        return;
      }
      rejectMasking(layer);
      steps.push({
        layer,
        inputs,
        outputs: node.outputTensors.map((output) => `${prefix}${output.id}`),
        inputShapes: node.inputTensors.map((t) => t.shape),
        outputShapes: node.outputTensors.map((t) => t.shape),
      });
    };

    for (const output of container.outputs) visit(output);
    return container.outputs.map(keyOf);
  };

  const inputKeys = model.inputs.map((input) => `${input.id}`);
  const outputKeys = expand(model, inputKeys, '');

  const producedAt = new Map<string, number>(inputKeys.map((key) => [key, -1]));
  const lastUse = new Map<string, number>();
  steps.forEach((step, index) => {
    for (const key of step.inputs) lastUse.set(key, index);
    for (const key of step.outputs) producedAt.set(key, index);
  });
  for (const key of outputKeys) lastUse.set(key, Infinity);
  return { steps, inputKeys, outputKeys, lastUse, producedAt };
}

/** Keys that hold a value just before step `boundary` runs and are still needed from there on. */
export function liveKeys(graph: ExecutionGraph, boundary: number): string[] {
  const live: string[] = [];
  for (const [key, produced] of graph.producedAt) {
    if (produced < boundary && (graph.lastUse.get(key) ?? -1) >= boundary) live.push(key);
  }
  return live;
}

/** True when value `ancestor` is computed before `key` on a path that leads to it. */
export function feeds(graph: ExecutionGraph, ancestor: string, key: string): boolean {
  const seen = new Set<string>();
  const pending = [key];
  while (pending.length > 0) {
    const current = pending.pop() as string;
    if (current === ancestor) return true;
    if (seen.has(current)) continue;
    seen.add(current);
    const produced = graph.producedAt.get(current) ?? -1;
    if (produced >= 0) pending.push(...graph.steps[produced].inputs);
  }
  return false;
}

/**
 * The input a bypassed step passes on: for a two-input merge (a residual `Add`) the skip path —
 * the input that feeds the other one — whichever position it has; otherwise the first input.
 */
export function passedInput(graph: ExecutionGraph, step: ExecutionStep): number {
  if (step.inputs.length !== 2 || step.inputs[0] === step.inputs[1]) return 0;
  return [0, 1].find((i) => feeds(graph, step.inputs[i], step.inputs[1 - i])) ?? 0;
}
