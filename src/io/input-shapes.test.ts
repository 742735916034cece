import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkWeightInputs } from './input-shapes';

const ROOT = join(import.meta.dirname, '..', '..');

interface ModelJson {
  modelTopology: { class_name: string; config: unknown };
  weightsManifest: { weights: { name: string; shape: number[] }[] }[];
}

async function modelJson(folder: string): Promise<{ json: ModelJson; weights: { name: string; shape: number[] }[] }> {
  const json = JSON.parse(await readFile(join(ROOT, folder, 'model.json'), 'utf8')) as ModelJson;
  return { json, weights: json.weightsManifest.flatMap((g) => g.weights) };
}

function reshape(weights: { name: string; shape: number[] }[], name: string, shape: number[]): void {
  const weight = weights.find((w) => w.name === name);
  if (weight === undefined) throw new Error(`no weight ${name}`);
  weight.shape = shape;
}

describe('checkWeightInputs', () => {
  it('accepts the demo CNN and the functional fixture, and names a Dense kernel whose rows do not match its input', async () => {
    const { json, weights } = await modelJson('public/models/digits-cnn');
    expect(() => checkWeightInputs(json.modelTopology, weights, 'model.json')).not.toThrow();
    reshape(weights, 'dense1/kernel', [400, 128]);
    expect(() => checkWeightInputs(json.modelTopology, weights, 'model.json')).toThrow(
      'model.json: layer "dense1" (Dense) reads 800 inputs, but its kernel [400, 128] is for 400 (expected a kernel for 800 inputs, got 400)',
    );
  });

  it('follows a functional model through padding, convolutions and the residual add', async () => {
    const { json, weights } = await modelJson('e2e/fixtures/functional');
    expect(() => checkWeightInputs(json.modelTopology, weights, 'model.json')).not.toThrow();
    reshape(weights, 'branch_bn/gamma', [4]);
    expect(() => checkWeightInputs(json.modelTopology, weights, 'model.json')).toThrow('layer "branch_bn" (BatchNormalization) reads 8 channels, but its gamma [4] is for 4');
    reshape(weights, 'branch_bn/gamma', [8]);
    reshape(weights, 'logits/kernel', [16, 10]);
    expect(() => checkWeightInputs(json.modelTopology, weights, 'model.json')).toThrow('layer "logits" (Dense) reads 8 inputs, but its kernel [16, 10] is for 16');
  });
});
