/** Thrown when a model cannot be shrunk as asked; the message says which group or layer and why. */
export class ShrinkError extends Error {
  override name = 'ShrinkError';
}

/** A layer's new output count and the Keras config key that holds it. */
export interface LayerSize {
  key: 'units' | 'filters';
  value: number;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * A copy of a Keras model topology (`{class_name, config, …}`, nested models included) in which
 * each named layer's `units`/`filters` is set to its new count. Throws when a layer is not found.
 */
export function resizeTopology(topology: unknown, sizes: ReadonlyMap<string, LayerSize>): Record<string, unknown> {
  if (!isRecord(topology)) throw new ShrinkError('the model topology is not a JSON object');
  const copy = JSON.parse(JSON.stringify(topology)) as Record<string, unknown>;
  const found = new Set<string>();
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) {
      node.forEach(visit);
      return;
    }
    if (!isRecord(node)) return;
    const config = node['config'];
    if (typeof node['class_name'] === 'string' && isRecord(config) && typeof config['name'] === 'string') {
      const size = sizes.get(config['name']);
      if (size !== undefined && typeof config[size.key] === 'number') {
        config[size.key] = size.value;
        found.add(config['name']);
      }
    }
    Object.values(node).forEach(visit);
  };
  visit(copy);
  const missing = [...sizes.keys()].filter((name) => !found.has(name));
  if (missing.length > 0) throw new ShrinkError(`the model topology has no layer ${missing.join(', ')} with a units or filters count`);
  return copy;
}
