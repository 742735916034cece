import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ManifestError } from './errors';
import type { KerasModelTopology } from './manifest';
import { inputFileFromBytes } from './input-file';
import { filesFromPath } from './node-files';
import { openModel } from './open';
import { checkLayerSizes, checkLayersTopology } from './topology-check';

const FIXTURES = join(import.meta.dirname, '..', '..', 'e2e', 'fixtures');
const DEMO = join(import.meta.dirname, '..', '..', 'public', 'models', 'digits-cnn');

interface Layer {
  name: string;
  class_name: string;
  config: Record<string, unknown>;
  inbound_nodes: unknown[];
}

async function topologyOf(folder: string): Promise<KerasModelTopology & { config: { layers: Layer[]; input_layers?: unknown[]; output_layers?: unknown[] } }> {
  return JSON.parse(await readFile(join(folder, 'model.json'), 'utf8')).modelTopology;
}

function problem(topology: KerasModelTopology): string {
  try {
    checkLayersTopology(topology, 'model.json');
  } catch (error) {
    expect(error).toBeInstanceOf(ManifestError);
    return (error as Error).message;
  }
  return 'accepted';
}

describe('checkLayersTopology', () => {
  it('accepts the demo (Sequential) and the functional fixture with its residual adds', async () => {
    expect(problem(await topologyOf(DEMO))).toBe('accepted');
    expect(problem(await topologyOf(join(FIXTURES, 'functional')))).toBe('accepted');
  });

  it('names a cycle: a layer reading from a layer computed after it', async () => {
    const topology = await topologyOf(join(FIXTURES, 'functional'));
    const layers = topology.config.layers;
    const last = layers[layers.length - 1].name;
    layers[2].inbound_nodes = [[[last, 0, 0, {}]]];
    expect(problem(topology)).toMatch(new RegExp(`^model\\.json: the layers of model "[^"]+" form a cycle: .*${layers[2].name}.*${last}`));
  });

  it('names a dangling inbound node, a missing output layer, duplicate names and an empty model', async () => {
    const dangling = await topologyOf(join(FIXTURES, 'functional'));
    dangling.config.layers[2].inbound_nodes = [[['nowhere', 0, 0, {}]]];
    expect(problem(dangling)).toMatch(/layer "stem_conv" of model "[^"]+" reads from "nowhere", which is not a layer of that model/);

    const output = await topologyOf(join(FIXTURES, 'functional'));
    output.config.output_layers = [['gone', 0, 0]];
    expect(problem(output)).toMatch(/the output of model "[^"]+" is "gone", which is not one of its layers/);

    const duplicate = await topologyOf(DEMO);
    duplicate.config.layers[1].config['name'] = String(duplicate.config.layers[0].config['name']);
    expect(problem(duplicate)).toMatch(/has two layers named/);

    for (const name of ['conv 1', '__proto__', '<b onmouseover="x()">']) {
      const rejected = await topologyOf(DEMO);
      rejected.config.layers[1].config['name'] = name;
      expect(problem(rejected)).toContain(
        `layer "${name}" (MaxPooling2D) of model "digits_cnn" has a name TensorFlow.js cannot give its tensors (expected a letter or digit, then letters, digits or -._/, got ${JSON.stringify(name)})`,
      );
    }

    const empty = await topologyOf(DEMO);
    empty.config.layers = [];
    expect(problem(empty)).toMatch(/has no layers \(expected at least one layer in modelTopology, got an empty list\)/);
  });

  it('stops openModel before tfjs sees a cyclic topology, with the file named', async () => {
    const folder = join(FIXTURES, 'functional');
    const json = JSON.parse(await readFile(join(folder, 'model.json'), 'utf8'));
    const layers = json.modelTopology.config.layers as Layer[];
    layers[2].inbound_nodes = [[[layers[layers.length - 1].name, 0, 0, {}]]];
    const files = (await filesFromPath(folder)).filter((f) => !f.path.endsWith('model.json'));
    const modelJson = inputFileFromBytes('functional/model.json', new TextEncoder().encode(JSON.stringify(json)));
    await expect(openModel([modelJson, ...files])).rejects.toThrow(/^functional\/model\.json: the layers of model .* form a cycle/);
  });
});

describe('checkLayerSizes', () => {
  it('accepts the demo and refuses a Dense layer that claims 10⁶ units, before tfjs allocates them', async () => {
    const json = JSON.parse(await readFile(join(DEMO, 'model.json'), 'utf8'));
    const weights = (json.weightsManifest as { weights: { name: string; shape: number[] }[] }[]).flatMap((g) => g.weights);
    expect(() => checkLayerSizes(json.modelTopology, weights, 'model.json')).not.toThrow();
    const dense = (json.modelTopology.config.layers as { class_name: string; config: Record<string, unknown> }[]).find((l) => l.class_name === 'Dense');
    if (dense === undefined) throw new Error('the demo has no Dense layer');
    dense.config['units'] = 1_000_000;
    expect(() => checkLayerSizes(json.modelTopology, weights, 'model.json')).toThrow(
      /^model\.json: layer "[^"]+" \(Dense\) declares units 1000000, but its kernel \[\d+, \d+\] holds \d+$/,
    );
  });

  it('refuses a bias that does not have one value per unit', async () => {
    const json = JSON.parse(await readFile(join(DEMO, 'model.json'), 'utf8'));
    const weights = (json.weightsManifest as { weights: { name: string; shape: number[] }[] }[]).flatMap((g) => g.weights);
    const bias = weights.find((w) => w.name === 'dense2/bias');
    if (bias === undefined) throw new Error('the demo has no dense2/bias');
    bias.shape = [5, 2];
    expect(() => checkLayerSizes(json.modelTopology, weights, 'model.json')).toThrow(
      'model.json: layer "dense2" (Dense) declares units 10, but its bias has shape [5, 2] (expected [10], got [5, 2])',
    );
  });
});
