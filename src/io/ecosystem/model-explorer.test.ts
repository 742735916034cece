import { describe, expect, it } from 'vitest';
import { graphIdOf, modelExplorerNodeData, nodeKeyOf, PLANNED_SPARSITY_NODE_DATA, SENSITIVITY_NODE_DATA, sweepColumn } from './model-explorer';
import { loadTransformerFixture } from './test-support';
import type { EcosystemInput, EcosystemSweep } from './types';

/** Checks a file against Model Explorer's ModelNodeData (node_data_builder.py) and returns its one graph. */
function graphOf(text: string, graphId: string): { name: string; results: Record<string, { value: number }>; gradient: { stop: number; bgColor: string }[] } {
  const data = JSON.parse(text) as Record<string, unknown>;
  expect(Object.keys(data)).toEqual([graphId]);
  const graph = data[graphId] as Record<string, unknown>;
  expect(Object.keys(graph).sort()).toEqual(['gradient', 'name', 'results']);
  const gradient = graph.gradient as { stop: number; bgColor: string }[];
  expect(gradient[0].stop).toBe(0);
  expect(gradient[gradient.length - 1].stop).toBe(1);
  for (const item of gradient) expect(item.bgColor).toMatch(/^#[0-9a-f]{6}$/);
  for (const result of Object.values(graph.results as Record<string, unknown>)) {
    expect(Object.keys(result as object)).toEqual(['value']);
    expect(typeof (result as { value: unknown }).value).toBe('number');
  }
  return graph as ReturnType<typeof graphOf>;
}

const cnn: EcosystemInput = {
  format: 'layers-model',
  modelName: 'digits-cnn',
  units: [
    { name: 'conv1', size: 144 },
    { name: 'conv2', size: 4608 },
    { name: 'sep/depthwise', size: 9, layer: 'sep' },
    { name: 'dense1', size: 640 },
  ],
  plan: { criterion: 'magnitude', granularity: 'unstructured', sparsity: { conv1: 0.25, conv2: 0.5, dense1: 0.75 }, removed: ['sep'], seed: 0 },
};

const sweep: EcosystemSweep = {
  criterion: 'magnitude',
  granularity: 'unstructured',
  metric: 'accuracy',
  sparsities: [0, 0.25, 0.5, 0.75],
  layers: ['conv1', 'conv2', 'dense1'],
  values: [
    [0.98, 0.97, 0.9, 0.5],
    [0.98, 0.98, 0.96, null],
    [0.98, 0.98, null, 0.8],
  ],
  dense: 0.98,
};

describe('Model Explorer node data', () => {
  it('writes the planned sparsity of every unit, removed ones as fully zero', () => {
    const { files } = modelExplorerNodeData(cnn);
    expect(files.map((f) => f.path)).toEqual([PLANNED_SPARSITY_NODE_DATA]);
    const graph = graphOf(files[0].text, 'default');
    expect(graph.results).toEqual({ conv1: { value: 0.25 }, conv2: { value: 0.5 }, 'sep/depthwise': { value: 1 }, dense1: { value: 0.75 } });
    expect(graph.name).toMatch(/Planned sparsity/);
  });

  it('writes sensitivity at the chosen column as the change for the worse vs dense', () => {
    const { files } = modelExplorerNodeData({ ...cnn, sweep, sensitivityAt: 0.5 });
    expect(files.map((f) => f.path)).toEqual([PLANNED_SPARSITY_NODE_DATA, SENSITIVITY_NODE_DATA]);
    const graph = graphOf(files[1].text, 'default');
    expect(Object.keys(graph.results)).toEqual(['conv1', 'conv2']);
    expect(graph.results.conv1.value).toBeCloseTo(0.08, 12);
    expect(graph.results.conv2.value).toBeCloseTo(0.02, 12);
    expect(graph.name).toMatch(/accuracy drop .* sparsity 0\.5/);
    const loss = modelExplorerNodeData({ ...cnn, sweep: { ...sweep, metric: 'loss', dense: 0.1, values: [[0.1, 0.2, 0.4, 0.9]], layers: ['conv1'] } });
    expect(graphOf(loss.files[1].text, 'default').results.conv1.value).toBeCloseTo(0.3, 12);
  });

  it('picks the sweep column nearest the chosen sparsity, never the dense column when others exist', () => {
    expect(sweepColumn(sweep)).toBe(2);
    expect(sweepColumn(sweep, 0.3)).toBe(1);
    expect(sweepColumn(sweep, 0)).toBe(1);
    expect(sweepColumn({ ...sweep, sparsities: [0, 0.5] }, 0.9)).toBe(1);
  });

  it("keys GraphModel units by their weight node's name and transformer units by torch.export's placeholder", () => {
    expect([graphIdOf('graph-model'), nodeKeyOf('graph-model', 'StatefulPartitionedCall/conv/Conv2D_weights')]).toEqual(['default', 'StatefulPartitionedCall/conv/Conv2D_weights']);
    expect([graphIdOf('hf-transformer'), nodeKeyOf('hf-transformer', 'model.layers.0.self_attn.q_proj')]).toEqual(['graph', 'p_model_layers_0_self_attn_q_proj_weight']);
  });

  it('keys a GraphModel unit by the op that consumes it when the GraphDef is given, or by nodeIds', () => {
    const graph: EcosystemInput = {
      format: 'graph-model',
      modelName: 'graph-cnn',
      units: [
        { name: 'conv/weights', size: 27 },
        { name: 'dense/kernel', size: 40 },
        { name: 'orphan', size: 4 },
      ],
      plan: { criterion: 'magnitude', granularity: 'unstructured', sparsity: { 'conv/weights': 0.5, 'dense/kernel': 0.25 }, removed: [], seed: 0 },
      graphNodes: [
        { name: 'x', op: 'Placeholder' },
        { name: 'conv/weights', op: 'Const' },
        { name: 'conv/Conv2D', op: '_FusedConv2D', input: ['x', 'conv/weights', 'conv/bias'] },
        { name: 'dense/kernel', op: 'Const' },
        { name: 'dense/Shape', op: 'Shape', input: ['dense/kernel'] },
        { name: 'dense/MatMul', op: 'MatMul', input: ['conv/Conv2D:0', 'dense/kernel:0', '^x'] },
      ],
    };
    expect(graphOf(modelExplorerNodeData(graph).files[0].text, 'default').results).toEqual({
      'conv/Conv2D': { value: 0.5 },
      'dense/MatMul': { value: 0.25 },
      orphan: { value: 0 },
    });
    const renamed = modelExplorerNodeData({ ...graph, nodeIds: { orphan: 'orphan/MatMul' } });
    expect(Object.keys(graphOf(renamed.files[0].text, 'default').results)).toContain('orphan/MatMul');
  });

  it('writes one value per projection of a transformer, the removed sublayer’s output projection at 1', () => {
    const fixture = loadTransformerFixture('public/models/char-lm');
    const sparsity = Object.fromEntries(fixture.units.map((u) => [u.name, 0.5]));
    const { files } = modelExplorerNodeData({
      format: 'hf-transformer',
      modelName: 'char-lm',
      units: fixture.units,
      plan: { criterion: 'wanda', granularity: '2:4', sparsity, removed: ['model.layers.2.self_attn'], seed: 0 },
    });
    const graph = graphOf(files[0].text, 'graph');
    expect(Object.keys(graph.results)).toEqual(fixture.units.map((u) => `p_${u.name.replace(/\./g, '_')}_weight`));
    expect(graph.results.p_model_layers_2_self_attn_o_proj_weight.value).toBe(1);
    expect(graph.results.p_model_layers_2_self_attn_q_proj_weight.value).toBe(0.5);
  });

  it('says why a LayersModel needs converting and when the sweep column is empty', () => {
    const empty = modelExplorerNodeData({ ...cnn, sweep: { ...sweep, values: sweep.values.map((row) => row.map(() => null)) } });
    expect(empty.files.length).toBe(1);
    expect(empty.notes.join(' ')).toMatch(/LayersModels/);
    expect(empty.notes.join(' ')).toMatch(/no values/);
  });
});
