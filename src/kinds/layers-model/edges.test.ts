import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { layerEdges } from './edges';

const ROOT = join(import.meta.dirname, '..', '..', '..');
const topology = async (folder: string): Promise<unknown> => (JSON.parse(await readFile(join(ROOT, folder, 'model.json'), 'utf8')) as { modelTopology: unknown }).modelTopology;

describe('layerEdges', () => {
  it('chains a Sequential model through the rows it has', async () => {
    const edges = layerEdges(await topology('public/models/digits-cnn'), ['conv1', 'pool1', 'conv2', 'flatten', 'dense1', 'dense2']);
    expect(edges.map((e) => `${e.from}>${e.to}`)).toEqual(['conv1>pool1', 'pool1>conv2', 'conv2>flatten', 'flatten>dense1', 'dense1>dense2']);
  });

  it('follows the inbound nodes of a functional model: the residual add has two inputs', async () => {
    const model = (await topology('e2e/fixtures/functional')) as { config: { layers: { name: string; class_name: string }[] } };
    const rows = model.config.layers.map((l) => l.name);
    const edges = layerEdges(model, rows);
    const adds = model.config.layers.filter((l) => l.class_name === 'Add').map((l) => l.name);
    expect(adds.length).toBeGreaterThan(0);
    for (const add of adds) expect(edges.filter((e) => e.to === add).length).toBeGreaterThanOrEqual(2);
    for (const edge of edges) expect(rows).toContain(edge.from);
  });

  it('gives nothing for a topology it cannot read', () => {
    expect(layerEdges(null, ['a'])).toEqual([]);
    expect(layerEdges({ class_name: 'Model', config: { layers: 'x' } }, ['a'])).toEqual([]);
  });
});
