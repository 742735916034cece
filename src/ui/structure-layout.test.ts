import { describe, expect, it } from 'vitest';
import type { LayerInfo } from '../core/types';
import { structureOf, type StructureInput } from './structure-layout';

const layer = (name: string, type: string, prunable: boolean): LayerInfo => ({ name, type, outputShape: [null, 4], params: prunable ? 16 : 0, flops: 0, prunable, sparsity: 0 });

function input(layers: LayerInfo[], units: string[], extra: Partial<StructureInput> = {}): StructureInput {
  return {
    layers,
    units,
    value: (u) => (u.endsWith('q_proj') ? 0.5 : null),
    describe: (u) => u,
    selected: null,
    layerOf: (u) => u,
    shown: new Set(units),
    ...extra,
  };
}

describe('structureOf', () => {
  it('draws a transformer as blocks × sublayers, one node per unit', () => {
    const units = [0, 1].flatMap((b) => [`model.layers.${b}.self_attn.q_proj`, `model.layers.${b}.mlp.down_proj`]);
    const data = structureOf(
      input(
        units.map((u) => layer(u, 'Linear', true)),
        units,
      ),
    );
    expect(data.layout).toBe('grid');
    expect(data.rows).toEqual(['model.layers.0', 'model.layers.1']);
    expect(data.columns).toEqual(['self_attn.q_proj', 'mlp.down_proj']);
    expect(data.nodes.map((n) => [n.unit, n.row, n.column, n.value])).toEqual([
      ['model.layers.0.self_attn.q_proj', 0, 0, 0.5],
      ['model.layers.0.mlp.down_proj', 0, 1, null],
      ['model.layers.1.self_attn.q_proj', 1, 0, 0.5],
      ['model.layers.1.mlp.down_proj', 1, 1, null],
    ]);
  });

  it('lays a DAG out by depth and marks the edges that skip rows (a residual)', () => {
    const layers = [layer('in', 'InputLayer', false), layer('a', 'Dense', true), layer('b', 'Dense', true), layer('add', 'Add', false)];
    const edges = [
      { from: 'in', to: 'a' },
      { from: 'a', to: 'b' },
      { from: 'b', to: 'add' },
      { from: 'in', to: 'add' },
    ];
    const data = structureOf(input(layers, ['a', 'b'], { edges }));
    expect(data.layout).toBe('flow');
    expect(data.nodes.map((n) => [n.id, n.row, n.unit !== undefined])).toEqual([
      ['in', 0, false],
      ['a', 1, true],
      ['b', 2, true],
      ['add', 3, false],
    ]);
    expect(data.edges.filter((e) => e.skip)).toEqual([{ from: 'in', to: 'add', skip: true }]);
  });

  it('without edges keeps the layers in order and gives a layer with two units two nodes', () => {
    const layers = [layer('conv', 'Conv2D', true), layer('sep', 'SeparableConv2D', true), layer('pool', 'MaxPooling2D', false)];
    const units = ['conv', 'sep/depthwise', 'sep/pointwise'];
    const data = structureOf(input(layers, units, { layerOf: (u) => u.split('/')[0] ?? u }));
    expect(data.nodes.map((n) => [n.id, n.column, n.target ?? null])).toEqual([
      ['conv', 0, 'conv'],
      ['sep/depthwise', 1, 'sep'],
      ['sep/pointwise', 2, 'sep'],
      ['pool', 3, null],
    ]);
    expect(data.edges).toEqual([]);
  });
});
