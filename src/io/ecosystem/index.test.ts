import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ecosystemExport, ecosystemFiles } from './index';
import { loadTransformerFixture } from './test-support';
import type { EcosystemInput } from './types';

const fixture = loadTransformerFixture('e2e/fixtures/hf-llama-tiny');
const sparsity = Object.fromEntries(fixture.units.map((u) => [u.name, 0.5]));
const input: EcosystemInput = {
  format: 'hf-transformer',
  modelName: 'hf-llama-tiny',
  units: fixture.units,
  plan: { criterion: 'wanda', granularity: 'unstructured', sparsity, removed: [], seed: 0 },
  sweep: {
    criterion: 'wanda',
    granularity: 'unstructured',
    metric: 'loss',
    sparsities: [0, 0.5],
    layers: fixture.units.map((u) => u.name),
    values: fixture.units.map(() => [2, 2.5]),
    dense: 2,
  },
};

describe('ecosystemFiles', () => {
  it('returns every file that applies, as UTF-8 bytes', () => {
    const files = ecosystemFiles(input);
    expect(files.map((f) => f.path)).toEqual(['recipe.llm-compressor.yaml', 'node-data.json', 'node-data.sensitivity.json', 'sensitivity.csv']);
    const text = (path: string): string => new TextDecoder().decode(files.find((f) => f.path === path)?.bytes);
    expect(parse(text('recipe.llm-compressor.yaml'))).toHaveProperty(['sparsity_stage', 'sparsity_modifiers', 'WandaPruningModifier', 'sparsity'], 0.5);
    expect(Object.keys(JSON.parse(text('node-data.json')))).toEqual(['graph']);
    expect(text('sensitivity.csv').split('\r\n').length).toBe(2 * fixture.units.length + 2);
  });

  it('leaves out what does not apply and says why', () => {
    const tfjs = ecosystemExport({ ...input, format: 'graph-model', plan: { ...input.plan, criterion: 'magnitude' }, sweep: { ...input.sweep!, metric: 'js' } });
    expect(tfjs.files.map((f) => f.path)).toEqual(['node-data.json', 'node-data.sensitivity.json']);
    expect(tfjs.notes.length).toBe(1);
    const magnitude = ecosystemExport({ ...input, plan: { ...input.plan, criterion: 'magnitude' }, sweep: undefined });
    expect(magnitude.files.map((f) => f.path)).toEqual(['node-data.json']);
    expect(magnitude.notes[0]).toMatch(/magnitude/);
  });
});
