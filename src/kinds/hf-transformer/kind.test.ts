import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { TRANSFORMER_FIXTURES } from '../../core/transformer/testing';
import { openModel } from '../../io/open';
import { fixtureFiles } from '../../io/test-support';
import { ModelSession } from '../../session/session';
import { transformerOutline } from './kind';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('hf-transformer kind', () => {
  it.each(TRANSFORMER_FIXTURES)('%s: the outline from the config is the built model summary less its zeros', async (name) => {
    const opened = await openModel(await fixtureFiles(name));
    if (opened.transformer === undefined) throw new Error(`${name} is not a transformer`);
    const outline = transformerOutline(opened.transformer);
    const session = await ModelSession.create(opened);
    try {
      const summary = session.summary;
      expect(outline).toEqual({
        totalParams: summary.totalParams,
        totalFlops: summary.totalFlops,
        layers: summary.layers.map(({ sparsity: _sparsity, ...row }) => row),
        units: summary.units,
        removalCandidates: summary.removalCandidates,
        contextLength: summary.contextLength,
      });
    } finally {
      session.dispose();
    }
  });

  it('keeps no decoded weights: each read of a parameter comes from its file again, and removals count from shapes', async () => {
    const opened = await openModel(await fixtureFiles('hf-llama-tiny'));
    const payload = opened.transformer;
    if (payload === undefined) throw new Error('hf-llama-tiny is not a transformer');
    const session = await ModelSession.create(opened);
    try {
      const [name] = payload.tensors.keys();
      const tensor = payload.tensors.get(name ?? '');
      const first = tensor?.values;
      expect(first?.length).toBe(tensor?.shape.reduce((a, b) => a * b, 1));
      expect(tensor?.values).not.toBe(first);
      expect(tensor?.values.buffer).not.toBe(first?.buffer);
      const [attention] = session.summary.removalCandidates;
      const total = session.summary.totalParams;
      const inAttention = [...payload.tensors]
        .filter(([parameter]) => parameter.startsWith(`${attention}.`) || parameter.startsWith(`${attention?.replace(/\.self_attn$/, '')}.input_layernorm.`))
        .reduce((n, [, t]) => n + t.shape.reduce((a, b) => a * b, 1), 0);
      expect(inAttention).toBeGreaterThan(0);
      expect(session.kind.paramsLeft([attention ?? ''], total)).toBe(total - inAttention);
    } finally {
      session.dispose();
    }
  });
});
