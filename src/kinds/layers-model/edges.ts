import { isRecord } from '../../io/input-file';

/** The names of the layers an inbound-node entry refers to: `[[name, node, tensor, kwargs], …]` (Keras 2) or `keras_history` (Keras 3). */
function inboundNames(value: unknown, out: string[]): void {
  if (Array.isArray(value)) {
    if (typeof value[0] === 'string' && typeof value[1] === 'number') out.push(value[0]);
    else for (const item of value) inboundNames(item, out);
  } else if (isRecord(value)) {
    const history = isRecord(value['config']) ? value['config']['keras_history'] : undefined;
    if (Array.isArray(history) && typeof history[0] === 'string') out.push(history[0]);
    else for (const item of Object.values(value)) inboundNames(item, out);
  }
}

/**
 * Which layers feed which in a LayersModel topology (`model.json`'s modelTopology): a Sequential
 * model is a chain; a functional one follows each layer's inbound nodes, so residual and concat
 * edges appear. Only edges between the names in `rows` (the layer table) are kept.
 */
export function layerEdges(topology: unknown, rows: readonly string[]): { from: string; to: string }[] {
  const model = isRecord(topology) && isRecord(topology['model_config']) ? topology['model_config'] : topology;
  if (!isRecord(model)) return [];
  const config = model['config'];
  const layers = Array.isArray(config) ? config : isRecord(config) && Array.isArray(config['layers']) ? config['layers'] : [];
  const known = new Set(rows);
  const named = layers.filter(isRecord).map((layer) => ({ layer, name: String(layer['name'] ?? (isRecord(layer['config']) ? layer['config']['name'] : '')) }));
  const edges: { from: string; to: string }[] = [];
  if (model['class_name'] === 'Sequential') {
    const chain = named.map((l) => l.name).filter((name) => known.has(name));
    for (let i = 1; i < chain.length; i++) edges.push({ from: chain[i - 1], to: chain[i] });
    return edges;
  }
  for (const { layer, name } of named) {
    if (!known.has(name)) continue;
    const inbound: string[] = [];
    inboundNames(layer['inbound_nodes'], inbound);
    for (const from of new Set(inbound)) if (known.has(from) && from !== name) edges.push({ from, to: name });
  }
  return edges;
}
