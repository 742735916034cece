import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { syntheticSamples, type SampleData } from '../../core/pipeline/data';
import { sweepPrunable } from '../../core/pipeline/sweep';
import { filesFromPath } from '../../io/node-files';
import { openModel } from '../../io/open';
import { GraphModelPrunable } from './prunable';
import { sweepGraph } from './sweep';

const CNN = join(import.meta.dirname, '..', '..', '..', 'e2e', 'fixtures', 'graph-cnn');
const ANTISPOOF = join(import.meta.dirname, '..', '..', '..', 'node_modules', '.cache', 'lopper-real-models', 'antispoof');

describe('the resumed GraphModel sweep', () => {
  let model: GraphModelPrunable;
  let data: SampleData;

  beforeAll(async () => {
    await tf.setBackend('cpu');
    model = await GraphModelPrunable.create(await openModel((await filesFromPath(CNN)).filter((f) => !f.path.endsWith('expected.json'))));
    data = syntheticSamples([null, 6, 6, 2], 23, 4) as SampleData;
  });

  afterAll(() => model.dispose());

  it('resumes each unit from the tensors upstream of its op and the outputs that do not depend on it', () => {
    expect(model.resumeFrom('conv1/filter')).toEqual(['image']);
    expect(model.resumeFrom('dw/filter')).toEqual(['conv2']);
    expect(model.resumeFrom('conv3/filter')).toEqual(['res', 'features']);
    expect(model.resumeFrom('fc/weights')).toEqual(['flatten', 'features']);
  });

  it('a pass resumed from captured tensors gives the outputs of the full pass with the same kernel', async () => {
    const start = tf.memory().numTensors;
    const x = tf.randomUniform([3, 6, 6, 2], 0, 1, 'float32', 2);
    const kernel = tf.zeros([3, 3, 4, 3]);
    const kernels = new Map([['conv3/filter', kernel]]);
    const names = model.resumeFrom('conv3/filter') ?? [];
    const captured = model.capture(x, names);
    const resumed = model.forwardFrom(new Map(names.map((name, i) => [name, captured[i]])), kernels);
    const full = model.forward(x, { kernels });
    const dense = model.forward(x);
    expect(Array.from(await resumed.data())).toEqual(Array.from(await full.data()));
    expect(Array.from(await resumed.data())).not.toEqual(Array.from(await dense.data()));
    tf.dispose([x, kernel, ...captured, resumed, full, dense]);
    expect(tf.memory().numTensors).toBe(start);
  });

  for (const criterion of ['magnitude', 'wanda', 'random'] as const) {
    it(`${criterion}: the same values as the naive sweep, batches of 10 (the last one short), every tensor freed`, async () => {
      const options = { criterion, granularity: 'unstructured' as const, sparsities: [0, 0.3, 0.6, 0.9], metric: 'js' as const, seed: 1, batchSize: 10 };
      const start = tf.memory().numTensors;
      const naive = await sweepPrunable(model, data, options);
      const resumed = await sweepGraph(model, data, options);
      expect(tf.memory().numTensors).toBe(start);
      expect(resumed.values).toEqual(naive.values);
      expect(resumed.dense).toBe(naive.dense);
      expect(resumed.values.flat().filter((v) => v > 0).length).toBeGreaterThan(10);
    });
  }
});

describe.skipIf(!existsSync(join(ANTISPOOF, 'model.json')))('the resumed sweep on a real GraphModel (antispoof)', () => {
  it("gives the naive sweep's values", { timeout: 300_000 }, async () => {
    await tf.setBackend('cpu');
    const model = await GraphModelPrunable.create(await openModel(await filesFromPath(ANTISPOOF)));
    try {
      const spec = model.inputSpecs()[0];
      const data = syntheticSamples([null, ...spec.shape.slice(1)], 2, 0) as SampleData;
      const units = model
        .units()
        .slice(-2)
        .map((u) => u.name);
      const options = { criterion: 'magnitude' as const, granularity: 'unstructured' as const, sparsities: [0, 0.5, 0.9], metric: 'js' as const, units };
      const start = tf.memory().numTensors;
      const naive = await sweepPrunable(model, data, options);
      const resumed = await sweepGraph(model, data, options);
      expect(resumed.values).toEqual(naive.values);
      expect(resumed.layers).toEqual(units);
      expect(tf.memory().numTensors).toBe(start);
    } finally {
      model.dispose();
    }
  });
});
