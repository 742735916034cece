/** Thrown when a model cannot be shrunk as asked; the message says which group or layer and why. */
export class ShrinkError extends Error {
  override name = 'ShrinkError';
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * A copy of a Keras model topology (`{class_name, config, …}`, nested models included) with the
 * given config entries set on the named layers (`{conv2: {filters: 16}}`). Throws when a layer is
 * not found.
 */
export function updateLayerConfigs(topology: unknown, updates: ReadonlyMap<string, Readonly<Record<string, number>>>): Record<string, unknown> {
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
      const update = updates.get(config['name']);
      if (update !== undefined) {
        Object.assign(config, update);
        found.add(config['name']);
      }
    }
    Object.values(node).forEach(visit);
  };
  visit(copy);
  const missing = [...updates.keys()].filter((name) => !found.has(name));
  if (missing.length > 0) throw new ShrinkError(`the model topology has no layer ${missing.join(', ')}`);
  return copy;
}
