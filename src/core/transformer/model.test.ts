import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TransformerModel } from './model';
import { TRANSFORMER_FIXTURES, fixtureModel, openFixture, relativeError } from './testing';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe.each(TRANSFORMER_FIXTURES)('%s', (name) => {
  let model: TransformerModel;
  let reference: Awaited<ReturnType<typeof fixtureModel>>['reference'];

  beforeAll(async () => {
    ({ model, reference } = await fixtureModel(name));
  });
  afterAll(() => model.dispose());

  it('reproduces the torch reference logits', () => {
    const before = tf.memory().numTensors;
    const ids = tf.tensor2d(reference.input_ids, undefined, 'int32');
    const logits = model.forward(ids);
    expect(logits.shape).toEqual([reference.input_ids.length, reference.input_ids[0].length, model.config.vocabSize]);
    expect(relativeError(logits.dataSync(), reference.logits.flat(2))).toBeLessThan(1e-4);
    tf.dispose([ids, logits]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('reproduces the torch logits with sublayers bypassed', () => {
    const before = tf.memory().numTensors;
    const ids = tf.tensor2d(reference.bypass.input_ids, undefined, 'int32');
    const logits = model.forward(ids, { bypass: new Set(reference.bypass.removed) });
    expect(relativeError(logits.dataSync(), reference.bypass.logits.flat(2))).toBeLessThan(1e-4);
    tf.dispose([ids, logits]);
    expect(tf.memory().numTensors).toBe(before);
  });
});

/** max |a − b| of two tensors of equal shape. */
function maxDifference(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => a.sub(b).abs().max().dataSync()[0]);
}

describe('TransformerModel', () => {
  it.each(TRANSFORMER_FIXTURES)('%s: bypassing a sublayer equals zeroing its output projection weight and bias', async (name) => {
    const { model, reference } = await fixtureModel(name);
    const ids = tf.tensor2d(reference.input_ids, undefined, 'int32');
    const before = tf.memory().numTensors;
    for (const candidate of model.removalCandidates()) {
      const bypassed = model.forward(ids, { bypass: new Set([candidate]) });
      const { model: zeroed, payload } = await fixtureModel(name);
      const output = zeroed
        .units()
        .filter((u) => u.name.startsWith(`${candidate}.`))
        .at(-1)!.name;
      for (const suffix of ['.weight', '.bias']) {
        const stored = payload.tensors.get(output + suffix);
        if (stored !== undefined) zeroed.setParameter(output + suffix, new Float32Array(stored.values.length));
      }
      const zeroedLogits = zeroed.forward(ids);
      expect(maxDifference(bypassed, zeroedLogits)).toBeLessThan(1e-6);
      zeroed.dispose();
      tf.dispose([bypassed, zeroedLogits]);
    }
    expect(tf.memory().numTensors).toBe(before);
    ids.dispose();
    model.dispose();
  });

  it('needs the GPT-2 c_proj bias zeroed too: the kernel alone is not a bypass', async () => {
    const { model, reference } = await fixtureModel('hf-gpt2-tiny');
    const ids = tf.tensor2d(reference.input_ids, undefined, 'int32');
    const bypassed = model.forward(ids, { bypass: new Set(['transformer.h.0.attn']) });
    const kernel = tf.zeros([32, 32]);
    const kernelOnly = model.forward(ids, { kernels: new Map([['transformer.h.0.attn.c_proj', kernel]]) });
    expect(maxDifference(bypassed, kernelOnly)).toBeGreaterThan(1e-3);
    tf.dispose([ids, bypassed, kernel, kernelOnly]);
    model.dispose();
  });

  it('runs one pass with substitute kernels, as if they were stored, without storing them', async () => {
    const { model, reference } = await fixtureModel('hf-llama-tiny');
    const ids = tf.tensor2d(reference.input_ids, undefined, 'int32');
    const unit = 'model.layers.1.mlp.up_proj';
    const halved = tf.tidy(() => model.getKernel(unit).mul(0.5));
    const dense = model.forward(ids);
    const substituted = model.forward(ids, { kernels: new Map([[unit, halved]]) });
    expect(maxDifference(dense, model.forward(ids))).toBe(0);
    model.setKernel(unit, halved);
    const stored = model.forward(ids);
    expect(maxDifference(substituted, stored)).toBe(0);
    expect(maxDifference(dense, stored)).toBeGreaterThan(1e-3);
    tf.dispose([ids, halved, dense, substituted, stored]);
    model.dispose();
  });

  it('names units and removal candidates as in DESIGN §6, kernels [in, out]', async () => {
    const { model: gpt2 } = await fixtureModel('hf-gpt2-tiny');
    expect(
      gpt2
        .units()
        .slice(0, 4)
        .map((u) => [u.name, u.shape]),
    ).toEqual([
      ['transformer.h.0.attn.c_attn', [32, 96]],
      ['transformer.h.0.attn.c_proj', [32, 32]],
      ['transformer.h.0.mlp.c_fc', [32, 128]],
      ['transformer.h.0.mlp.c_proj', [128, 32]],
    ]);
    expect(gpt2.removalCandidates()).toEqual(['transformer.h.0.attn', 'transformer.h.0.mlp', 'transformer.h.1.attn', 'transformer.h.1.mlp']);
    gpt2.dispose();
    const { model: llama } = await fixtureModel('hf-llama-tiny');
    expect(
      llama
        .units()
        .map((u) => u.name)
        .slice(0, 7),
    ).toEqual([
      'model.layers.0.self_attn.q_proj',
      'model.layers.0.self_attn.k_proj',
      'model.layers.0.self_attn.v_proj',
      'model.layers.0.self_attn.o_proj',
      'model.layers.0.mlp.gate_proj',
      'model.layers.0.mlp.up_proj',
      'model.layers.0.mlp.down_proj',
    ]);
    expect(llama.units()[1]).toEqual({
      name: 'model.layers.0.self_attn.k_proj',
      layer: 'model.layers.0.self_attn.k_proj',
      weight: 'model.layers.0.self_attn.k_proj.weight',
      shape: [32, 16],
      size: 512,
    });
    expect(llama.removalCandidates()).toEqual(['model.layers.0.self_attn', 'model.layers.0.mlp', 'model.layers.1.self_attn', 'model.layers.1.mlp']);
    llama.dispose();
  });

  it('gives parameters back in checkpoint layout and the kernel as its transpose', async () => {
    const { model, payload } = await fixtureModel('hf-qwen2-tiny');
    const name = 'model.layers.0.self_attn.k_proj';
    const weight = model.getParameter(`${name}.weight`);
    const kernel = model.getKernel(name);
    expect(weight.shape).toEqual(payload.tensors.get(`${name}.weight`)!.shape);
    expect(weight.dataSync()).toEqual(payload.tensors.get(`${name}.weight`)!.values);
    expect(
      maxDifference(
        kernel,
        tf.tidy(() => weight.transpose()),
      ),
    ).toBe(0);
    const exported = await model.exportParameters();
    expect([...exported.keys()].sort()).toEqual([...payload.tensors.keys()].sort());
    expect(exported.get(`${name}.bias`)).toEqual(payload.tensors.get(`${name}.bias`));
    tf.dispose([weight, kernel]);
    model.dispose();
  });

  it('shows each unit its input rows and the residual stream at every block boundary', async () => {
    const { model, reference } = await fixtureModel('hf-llama-tiny');
    const ids = tf.tensor2d(reference.input_ids, undefined, 'int32');
    const seen: [string, number[]][] = [];
    const hidden: number[] = [];
    const logits = model.forward(ids, {
      onUnitInput: (unit, input) => seen.push([unit, input.shape]),
      onHidden: (index, state) => {
        expect(state.shape).toEqual([2, 9, 32]);
        hidden.push(index);
      },
    });
    expect(seen.map(([unit]) => unit)).toEqual(model.units().map((u) => u.name));
    expect(seen.find(([unit]) => unit.endsWith('down_proj'))![1]).toEqual([18, 64]);
    expect(hidden).toEqual([0, 1, 2]);
    tf.dispose([ids, logits]);
    model.dispose();
  });

  it('rejects what it cannot run', async () => {
    const { model } = await fixtureModel('hf-gpt2-tiny');
    const ids = tf.tensor2d([[1, 2]], undefined, 'int32');
    const long = tf.zeros([1, 33], 'int32') as tf.Tensor2D;
    const floats = tf.tensor2d([[1, 2]]);
    const wrong = tf.zeros([3, 3]);
    expect(() => model.forward(ids, { bypass: new Set(['transformer.h.0']) })).toThrow('cannot bypass transformer.h.0: not an attention or MLP sublayer');
    expect(() => model.forward(long)).toThrow("sequence length 33 is outside 1…32 (the model's context length)");
    expect(() => model.forward(floats)).toThrow('token ids must be int32, received float32');
    expect(() => model.forward(ids, { kernels: new Map([['transformer.h.0.mlp.c_fc', wrong]]) })).toThrow(
      'kernel transformer.h.0.mlp.c_fc: expected float32 [32, 128], received float32 [3, 3]',
    );
    expect(() => model.getKernel('transformer.h.0.mlp')).toThrow('no prunable unit named transformer.h.0.mlp in this gpt2 model');
    tf.dispose([ids, long, floats, wrong]);
    model.dispose();
  });

  it('frees every tensor it created', async () => {
    const before = tf.memory().numTensors;
    const { model } = await fixtureModel('hf-qwen2-tiny');
    expect(tf.memory().numTensors).toBeGreaterThan(before);
    model.dispose();
    model.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('sliding-window attention', () => {
  it('changes only the positions that would see past the window', async () => {
    const { payload, reference } = await openFixture('hf-llama-tiny');
    const full = new TransformerModel(payload.config, payload.tensors);
    const windowed = new TransformerModel({ ...payload.config, slidingWindow: 3 }, payload.tensors);
    const ids = tf.tensor2d(reference.input_ids, undefined, 'int32');
    const [a, b] = [full.forward(ids), windowed.forward(ids)];
    const early = tf.tidy(
      () =>
        a
          .slice([0, 0, 0], [2, 3, -1])
          .sub(b.slice([0, 0, 0], [2, 3, -1]))
          .abs()
          .max()
          .dataSync()[0],
    );
    const late = tf.tidy(
      () =>
        a
          .slice([0, 3, 0], [2, -1, -1])
          .sub(b.slice([0, 3, 0], [2, -1, -1]))
          .abs()
          .min()
          .dataSync()[0],
    );
    expect(early).toBe(0);
    expect(late).toBeGreaterThan(0);
    tf.dispose([ids, a, b]);
    full.dispose();
    windowed.dispose();
  });
});

describe('TransformerModel.forwardFrom', () => {
  it.each(TRANSFORMER_FIXTURES)('%s: from the residual stream a pass saw at any step, gives that pass its logits exactly', async (name) => {
    const { model, reference } = await fixtureModel(name);
    const ids = tf.tensor2d(reference.input_ids, undefined, 'int32');
    const unit = model.units()[model.units().length - 2].name;
    const kernel = tf.tidy(() => model.getKernel(unit).mul(0.5));
    const options = { kernels: new Map([[unit, kernel]]), bypass: new Set([model.removalCandidates()[1]]) };
    const states: tf.Tensor3D[] = [];
    const inputs = new Map<string, tf.Tensor2D>();
    const whole = model.forward(ids, {
      ...options,
      onResidual: (_, hidden) => void states.push(tf.keep(hidden.clone())),
      onUnitInput: (name, input) => void inputs.set(name, tf.keep(input.clone())),
    });
    expect(states).toHaveLength(2 * model.config.layers + 1);
    const before = tf.memory().numTensors;
    for (const [step, hidden] of states.entries()) {
      const resumed = model.forwardFrom(step, hidden, options);
      expect(maxDifference(resumed, whole)).toBe(0);
      resumed.dispose();
    }
    const outputs = model.units().filter((u) => model.isOutputProjection(u.name) && inputs.has(u.name));
    expect(outputs).toHaveLength(2 * model.config.layers - 1);
    for (const { name } of outputs) {
      const resumed = model.forwardFromUnit(name, states[model.residualStep(name)], inputs.get(name)!, options);
      expect(maxDifference(resumed, whole)).toBe(0);
      resumed.dispose();
    }
    expect(() => model.forwardFromUnit(model.units()[0].name, states[0], inputs.get(model.units()[0].name)!)).toThrow(/not the output projection/);
    expect(tf.memory().numTensors).toBe(before);
    expect(model.residualStep(unit)).toBe(2 * model.config.layers - 1);
    expect(model.residualStep(model.removalCandidates()[2])).toBe(2);
    expect(() => model.forwardFrom(2 * model.config.layers + 1, states[0])).toThrow(/outside 0…/);
    tf.dispose([ids, kernel, whole, ...states, ...inputs.values()]);
    model.dispose();
  });
});
