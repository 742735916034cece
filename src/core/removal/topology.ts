import type { PrunableModel } from '../model/runtime';
import type { LayerCandidate } from './layer-removal';

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** The layers whose computation still reaches the output with `removed` bypassed (removed layers themselves excluded). */
export function liveLayers(model: PrunableModel, removed: ReadonlySet<string>, candidates: readonly LayerCandidate[]): Set<string> {
  const { steps, outputKeys } = model.graph;
  const byName = new Map(candidates.map((c) => [c.name, c]));
  const needed = new Set(outputKeys);
  const live = new Set<string>();
  for (let index = steps.length - 1; index >= 0; index--) {
    const step = steps[index];
    if (!step.outputs.some((key) => needed.has(key))) continue;
    const candidate = removed.has(step.layer.name) ? byName.get(step.layer.name) : undefined;
    if (candidate === undefined) {
      live.add(step.layer.name);
      for (const key of step.inputs) needed.add(key);
    } else {
      needed.add(step.inputs[candidate.kind === 'branch' ? candidate.skip : 0]);
    }
  }
  return live;
}

type InboundRef = [string, number, number, ...unknown[]];

interface LayerJson {
  name: string;
  class_name: string;
  config: Record<string, unknown>;
  inbound_nodes?: InboundRef[][];
}

function isLayerJson(value: unknown): value is LayerJson {
  return isRecord(value) && typeof value['class_name'] === 'string' && isRecord(value['config']);
}

function layerName(layer: LayerJson): string {
  return typeof layer.name === 'string' ? layer.name : String(layer.config['name']);
}

const INPUT_KEYS = ['batch_input_shape', 'input_shape', 'batch_size', 'dtype'];

/** A Sequential's layers without the removed ones; the first layer's input shape moves on when it goes. */
function sequentialWithout(layers: LayerJson[], removed: ReadonlySet<string>): LayerJson[] {
  const kept = layers.filter((layer) => !removed.has(layerName(layer)));
  const first = layers[0];
  if (kept.length > 0 && first !== undefined && removed.has(layerName(first)) && kept[0].config['batch_input_shape'] === undefined) {
    const moved = Object.fromEntries(INPUT_KEYS.filter((key) => key in first.config).map((key) => [key, first.config[key]]));
    kept[0] = { ...kept[0], config: { ...kept[0].config, ...moved } };
  }
  return kept;
}

/**
 * A functional model's layers with the removed ones taken out: whatever read a removed layer reads
 * what it let through (its input, or a branch's skip input), and layers that no longer reach an
 * output go too.
 */
function functionalWithout(config: Record<string, unknown>, layers: LayerJson[], removed: readonly LayerCandidate[]): Record<string, unknown> {
  const byName = new Map(layers.map((layer) => [layerName(layer), layer]));
  const passes = new Map<string, InboundRef>();
  for (const candidate of removed) {
    const nodes = byName.get(candidate.name)?.inbound_nodes;
    if (nodes?.length !== 1) throw new Error(`cannot write the model without ${candidate.name}: it is not a top-level layer called once`);
    passes.set(candidate.name, nodes[0][candidate.kind === 'branch' ? candidate.skip : 0]);
  }
  const resolve = (ref: InboundRef): InboundRef => {
    let current = ref;
    for (let hops = 0; passes.has(current[0]); hops++) {
      if (hops > passes.size) throw new Error(`removed layers form a cycle at ${current[0]}`);
      const through = passes.get(current[0]) as InboundRef;
      current = [through[0], through[1], through[2], ...current.slice(3)];
    }
    return current;
  };
  const rewired = layers
    .filter((layer) => !passes.has(layerName(layer)))
    .map((layer) => ({ ...layer, inbound_nodes: (layer.inbound_nodes ?? []).map((node) => node.map(resolve)) }));
  const outputs = (config['output_layers'] as InboundRef[]).map(resolve);
  const inputs = new Set((config['input_layers'] as InboundRef[]).map((ref) => ref[0]));
  const reached = new Set<string>();
  const pending = outputs.map((ref) => ref[0]);
  const rewiredByName = new Map(rewired.map((layer) => [layerName(layer), layer]));
  while (pending.length > 0) {
    const name = pending.pop() as string;
    if (reached.has(name)) continue;
    reached.add(name);
    for (const node of rewiredByName.get(name)?.inbound_nodes ?? []) pending.push(...node.map((ref) => ref[0]));
  }
  return { ...config, layers: rewired.filter((layer) => reached.has(layerName(layer)) || inputs.has(layerName(layer))), output_layers: outputs };
}

/** The Keras model config of a topology (`{class_name, config}`, or a legacy `{model_config}` around it). */
function modelConfigOf(topology: unknown): { outer: Record<string, unknown>; key?: string; model: Record<string, unknown> } {
  if (!isRecord(topology)) throw new Error('the model has no Keras topology to rewrite');
  if (isRecord(topology['model_config'])) return { outer: topology, key: 'model_config', model: topology['model_config'] };
  return { outer: topology, model: topology };
}

/** The topology without the removed candidates, and every layer it no longer holds. */
export function topologyWithout(topology: unknown, removed: readonly LayerCandidate[]): { topology: Record<string, unknown>; dropped: Set<string> } {
  const { outer, key, model } = modelConfigOf(topology);
  const config = model['config'];
  const layers = isRecord(config) ? config['layers'] : config;
  if (!Array.isArray(layers) || !layers.every(isLayerJson)) throw new Error('the model topology has no list of layers to rewrite');
  const names = new Set(removed.map((c) => c.name));
  let rewritten: Record<string, unknown> | LayerJson[];
  if (model['class_name'] === 'Sequential') {
    if (removed.some((c) => !layers.some((layer) => layerName(layer) === c.name)))
      throw new Error(`cannot write the model without ${[...names].join(', ')}: not all are top-level layers`);
    const kept = sequentialWithout(layers, names);
    rewritten = isRecord(config) ? { ...config, layers: kept } : kept;
  } else {
    if (!isRecord(config)) throw new Error('the functional model config is not an object');
    rewritten = functionalWithout(config, layers, removed);
  }
  const keptLayers = Array.isArray(rewritten) ? rewritten : (rewritten['layers'] as LayerJson[]);
  const keptNames = new Set(keptLayers.map(layerName));
  const dropped = new Set(layers.map(layerName).filter((name) => !keptNames.has(name)));
  const modelConfig = { ...model, config: rewritten };
  return { topology: key === undefined ? modelConfig : { ...outer, [key]: modelConfig }, dropped };
}
