import { describe, expect, it } from 'vitest';
import { noFilters } from '../store/view';
import type { LayerInfo } from '../core/types';
import { blockOf, groupLayers, groupUnits, matchesSearch, passes, roleOf, transformerParts } from './units';

describe('blockOf', () => {
  it('puts transformer projections in their numbered block', () => {
    expect(blockOf('model.layers.3.self_attn.q_proj')).toBe('model.layers.3');
    expect(blockOf('model.layers.12.mlp.down_proj')).toBe('model.layers.12');
    expect(blockOf('transformer.h.0.mlp.c_fc')).toBe('transformer.h.0');
  });

  it('uses Keras stage prefixes and name stems', () => {
    expect(blockOf('block_3_expand')).toBe('block_3');
    expect(blockOf('stage2_unit1_conv1')).toBe('stage2');
    expect(blockOf('conv4_block3_1_conv')).toBe('conv4');
    expect(blockOf('conv1')).toBe('conv');
    expect(blockOf('dense2')).toBe('dense');
    expect(blockOf('conv2d_17')).toBe('conv2d');
  });

  it('groups GraphModel weight paths by their scope and a separable conv by its layer', () => {
    expect(blockOf('MobilenetV2/expanded_conv_3/depthwise/depthwise_weights')).toBe('MobilenetV2/expanded_conv_3');
    expect(blockOf('conv1/filter')).toBe('conv');
    expect(blockOf('sep/depthwise')).toBe('sep');
  });
});

describe('roleOf and transformerParts', () => {
  it('names the sublayer across blocks, or the layer class elsewhere', () => {
    expect(roleOf('model.layers.3.mlp.down_proj', 'Linear')).toBe('mlp.down_proj');
    expect(roleOf('conv1', 'Conv2D')).toBe('Conv2D');
    expect(roleOf('sep/pointwise', 'SeparableConv2D')).toBe('SeparableConv2D/pointwise');
    expect(transformerParts('model.layers.11.self_attn.o_proj')).toEqual({ block: 'model.layers.11', index: 11, sublayer: 'self_attn.o_proj' });
    expect(transformerParts('dense1')).toBeNull();
  });
});

describe('groupUnits', () => {
  const units = ['model.layers.0.self_attn.q_proj', 'model.layers.0.mlp.down_proj', 'model.layers.1.self_attn.q_proj', 'model.layers.1.mlp.down_proj'];
  it('groups by block in order of appearance', () => {
    expect(groupUnits(units, 'block', () => 'Linear')).toEqual([
      { key: 'model.layers.0', units: units.slice(0, 2) },
      { key: 'model.layers.1', units: units.slice(2) },
    ]);
  });
  it('groups by role across blocks', () => {
    expect(groupUnits(units, 'role', () => 'Linear')).toEqual([
      { key: 'self_attn.q_proj', units: [units[0], units[2]] },
      { key: 'mlp.down_proj', units: [units[1], units[3]] },
    ]);
  });
});

describe('search and filters', () => {
  const context = { search: '', filters: noFilters(), locked: new Set(['a']), planned: { b: 0.5 } };
  it('matches every term, ignoring case', () => {
    expect(matchesSearch('model.layers.3.mlp.down_proj', 'LAYERS.3 down')).toBe(true);
    expect(matchesSearch('model.layers.3.mlp.down_proj', 'layers.3 up_proj')).toBe(false);
    expect(matchesSearch('anything', '  ')).toBe(true);
  });
  it('applies type, prunable, locked and changed filters', () => {
    expect(passes('a', 'Dense', true, context)).toBe(true);
    expect(passes('a', 'Dense', true, { ...context, filters: { ...noFilters(), type: 'Conv2D' } })).toBe(false);
    expect(passes('a', 'Dense', false, { ...context, filters: { ...noFilters(), prunable: 'yes' } })).toBe(false);
    expect(passes('a', 'Dense', true, { ...context, filters: { ...noFilters(), locked: true } })).toBe(true);
    expect(passes('b', 'Dense', true, { ...context, filters: { ...noFilters(), locked: true } })).toBe(false);
    expect(passes('b', 'Dense', true, { ...context, filters: { ...noFilters(), changed: true } })).toBe(true);
    expect(passes('a', 'Dense', true, { ...context, filters: { ...noFilters(), changed: true } })).toBe(false);
  });
});

describe('groupLayers', () => {
  const layer = (name: string, type: string): LayerInfo => ({ name, type, outputShape: [null, 4], params: 0, flops: 0, prunable: false, sparsity: 0 });
  const cnn = [layer('conv1', 'Conv2D'), layer('pool1', 'MaxPooling2D'), layer('conv2', 'Conv2D'), layer('dense1', 'Dense'), layer('dense2', 'Dense')];
  it('groups runs of consecutive layers of one block, in model order', () => {
    expect(groupLayers(cnn, 'block')).toEqual([
      { key: 'conv', units: ['conv1'] },
      { key: 'pool', units: ['pool1'] },
      { key: 'conv', units: ['conv2'] },
      { key: 'dense', units: ['dense1', 'dense2'] },
    ]);
    const llama = ['model.embed_tokens', 'model.layers.0.input_layernorm', 'model.layers.0.self_attn.q_proj', 'model.layers.1.mlp.up_proj', 'lm_head'].map((n) =>
      layer(n, 'Linear'),
    );
    expect(groupLayers(llama, 'block').map((g) => [g.key, g.units.length])).toEqual([
      ['model.embed_tokens', 1],
      ['model.layers.0', 2],
      ['model.layers.1', 1],
      ['lm_head', 1],
    ]);
  });

  it('groups by class for the role grouping', () => {
    expect(groupLayers(cnn, 'role')).toEqual([
      { key: 'Conv2D', units: ['conv1', 'conv2'] },
      { key: 'MaxPooling2D', units: ['pool1'] },
      { key: 'Dense', units: ['dense1', 'dense2'] },
    ]);
  });
});
