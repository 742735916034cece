import { readFile } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { filesFromPath } from '../../io/node-files';
import { openModel } from '../../io/open';
import { evaluate, type EvalData } from '../evaluate';
import { PrunableModel } from '../model/runtime';
import { checkSameArchitecture, dareModel, type DareOptions } from './dare';
import { searchRescale } from './darex';

const MODELS = decodeURIComponent(new URL('../../../public/models/', import.meta.url).pathname);
const SAMPLES = 256;

interface Reference {
  samples: number;
  outputs: number[][];
  accuracy: number;
}

async function open(folder: string): Promise<PrunableModel> {
  return PrunableModel.fromArtifacts((await openModel(await filesFromPath(`${MODELS}${folder}`))).artifacts);
}

/** Loss on the inverted digits with DARE applied to `units` (the models are left as they are). */
async function dareLoss(fine: PrunableModel, base: PrunableModel, units: string[], options: DareOptions, data: EvalData): Promise<number> {
  const values = await dareModel(fine, base, units, options);
  const shapes = new Map(fine.units().map((unit) => [unit.name, unit.shape]));
  const kernels = new Map([...values].map(([unit, kernel]) => [unit, tf.tensor(kernel, shapes.get(unit))]));
  try {
    const result = await evaluate(fine, data, { forward: { kernels }, latencyRuns: 0, batchSize: SAMPLES });
    return result.loss ?? NaN;
  } finally {
    tf.dispose([...kernels.values()]);
  }
}

describe('the digits delta-pruning demo pair', () => {
  let base: PrunableModel;
  let fine: PrunableModel;
  let inverted: EvalData;
  let reference: Reference;

  beforeAll(async () => {
    [base, fine] = [await open('digits-cnn'), await open('digits-cnn-inverted')];
    const dataset = JSON.parse(await readFile(`${MODELS}digits-cnn-inverted/eval.json`, 'utf8')) as { inputs: number[]; shape: number[]; labels: number[] };
    inverted = { inputs: Float32Array.from(dataset.inputs), shape: dataset.shape, labels: Int32Array.from(dataset.labels) };
    reference = JSON.parse(await readFile(`${MODELS}digits-cnn-inverted/reference.json`, 'utf8')) as Reference;
  });

  afterAll(() => {
    base.dispose();
    fine.dispose();
  });

  it('is one architecture, and TF.js reproduces the fine-tuned model’s PyTorch accuracy on inverted digits', async () => {
    expect(() => checkSameArchitecture(fine, base)).not.toThrow();
    const result = await evaluate(fine, inverted, { latencyRuns: 0, batchSize: 500 });
    expect(result.accuracy).toBeCloseTo(reference.accuracy, 3);
    const first = result.outputs?.subarray(0, reference.samples * 10) ?? new Float32Array(0);
    const worst = reference.outputs.flat().reduce((max, value, i) => Math.max(max, Math.abs(value - first[i])), 0);
    expect(worst).toBeLessThan(1e-4);
  });

  it('DAREx-q rescales less than DARE where DARE at p = 0.99 breaks the output layer', async () => {
    const data: EvalData = { inputs: inverted.inputs.subarray(0, SAMPLES * 784), shape: [SAMPLES, 28, 28, 1], labels: inverted.labels?.subarray(0, SAMPLES) };
    const p = 0.99;
    const search = await searchRescale(p, (q) => dareLoss(fine, base, ['dense2'], { p, q, seed: 0 }, data), { steps: 3 });
    expect(search.curve[0].q).toBeCloseTo(1 - p, 12);
    expect(search.q).toBeGreaterThan(0.3);
    expect(search.value).toBeLessThan(search.curve[0].value / 2);
  });
});
