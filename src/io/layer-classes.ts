import * as tf from '@tensorflow/tfjs';
import { UnsupportedLayerError } from './errors';
import { isRecord } from './input-file';
import type { KerasModelTopology } from './manifest';

export interface LayerClassUse {
  className: string;
  layerName: string;
}

function registeredClassNames(): ReadonlySet<string> {
  return new Set(Object.keys(tf.serialization.SerializationMap.getMap().classNameMap));
}

/** Every `{class_name, config}` of the model and its layers, through nested models and wrappers. */
export function layerClassUses(topology: KerasModelTopology): LayerClassUse[] {
  const uses: LayerClassUse[] = [];
  const visit = (node: unknown, fallbackName: string): void => {
    if (!isRecord(node) || typeof node['class_name'] !== 'string') return;
    const config = node['config'];
    const configName = isRecord(config) ? config['name'] : undefined;
    const name = typeof configName === 'string' ? configName : typeof node['name'] === 'string' ? node['name'] : fallbackName;
    uses.push({ className: node['class_name'], layerName: name });
    const layers = Array.isArray(config) ? config : isRecord(config) ? config['layers'] : undefined;
    if (Array.isArray(layers)) layers.forEach((layer: unknown, i) => visit(layer, `${name}/layers[${i}]`));
    if (isRecord(config) && isRecord(config['layer'])) visit(config['layer'], `${name}/layer`);
  };
  visit(topology, 'model');
  return uses;
}

/** Throws UnsupportedLayerError for the first class tfjs-layers has not registered. */
export function checkLayerClasses(topology: KerasModelTopology, file: string): void {
  const registered = registeredClassNames();
  const unknown = layerClassUses(topology).find((use) => !registered.has(use.className));
  if (unknown !== undefined) throw new UnsupportedLayerError(file, unknown.className, unknown.layerName);
}
