import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openModel } from '../io/open';
import { fixtureFiles, memoryFiles } from '../io/test-support';
import type { OpenedModel } from '../io/types';
import { ModelSession, QUIET_JOB } from './session';

/** e2e/fixtures/graph-dynamic: image [-1, -1, -1, 2] → Conv2D 3×3 SAME (4 filters) → Relu → spatial Mean → MatMul [4, 3] → Softmax. */
let opened: OpenedModel;
let start = 0;

beforeAll(async () => {
  await tf.setBackend('cpu');
  start = tf.memory().numTensors;
  opened = await openModel(await fixtureFiles('graph-dynamic'));
});

afterAll(() => {
  expect(tf.memory().numTensors).toBe(start);
});

const dataset = (n: number, h: number, w: number, c = 2): ReturnType<typeof memoryFiles>[number] =>
  memoryFiles({
    'd/data.json': { inputs: Array.from({ length: n * h * w * c }, (_, i) => ((i * 7) % 11) / 11), shape: [n, h, w, c], labels: Array.from({ length: n }, (_, i) => i % 3) },
  })[0];

/** FLOPs of the 3×3 conv with 2 input and 4 output channels plus the pool over an h × w image, and the matmul. */
const flopsAt = (h: number, w: number): number => 2 * 3 * 3 * 2 * 4 * h * w + 4 * h * w + 2 * 4 * 3;

async function withSession<T>(body: (session: ModelSession) => Promise<T>, options?: Parameters<typeof ModelSession.create>[2]): Promise<T> {
  const session = await ModelSession.create(opened, undefined, options);
  try {
    return await body(session);
  } finally {
    session.dispose();
  }
}

describe('dynamic input dimensions of a GraphModel', () => {
  it('are shown with the default they got, and the user can set them (FLOPs and synthetic data follow)', async () => {
    await withSession(async (session) => {
      expect(session.summary.inputs?.[0]).toMatchObject({ name: 'image', shape: [null, 224, 224, 2], declared: [-1, -1, -1, 2], source: 'default' });
      expect(session.summary.inputs?.[0].defaulted).toMatch(/dim 1 = 224 \(image default\), dim 2 = 224/);
      expect(session.summary.totalFlops).toBe(flopsAt(224, 224));
      session.useSynthetic(6, 3);
      await session.setInputShapes({ image: [5, 7, 2] });
      expect(session.summary.inputs?.[0]).toMatchObject({ shape: [null, 5, 7, 2], source: 'option' });
      expect(session.summary.totalFlops).toBe(flopsAt(5, 7));
      expect(session.openOptions).toEqual({ inputShapes: { image: [5, 7, 2] } });
      expect(session.dataSummary()).toMatchObject({ shape: [6, 5, 7, 2], synthetic: true, hash: 'synthetic:3:6' });
      expect(await session.evaluate(QUIET_JOB)).toMatchObject({ divergence: 0, samples: 6 });
      await session.setInputShapes({});
      expect(session.summary.inputs?.[0].shape).toEqual([null, 224, 224, 2]);
    });
  });

  it('refuse a shape the model cannot take, naming the input and the fixed dimension, and the model stays as it was', async () => {
    await withSession(async (session) => {
      await expect(session.setInputShapes({ image: [5, 7, 3] })).rejects.toThrow('graph-dynamic/model.json: input image: dimension 3 is fixed at 2 by the model, got 3');
      await expect(session.setInputShapes({ image: [5, 7] })).rejects.toThrow('input image takes [?, ?, 2] per sample (3 dimensions), got [5, 7]');
      await expect(session.setInputShapes({ pixels: [5, 7, 2] })).rejects.toThrow("no input named pixels; the model's inputs are image");
      await expect(session.setInputShapes({ image: [0, 7, 2] })).rejects.toThrow('a shape is a list of positive integers per sample, got [0, 7, 2]');
      await expect(session.setInputShapes({ image: [8192, 8192, 2] })).rejects.toThrow(/134217728 values per sample, more than the 33554432/);
      expect(session.summary.inputs?.[0].shape).toEqual([null, 224, 224, 2]);
      expect(await session.evaluate(QUIET_JOB)).toMatchObject({ divergence: 0 });
    });
  });

  it('take their size from a dropped dataset; a dataset that cannot fit them is refused as before', async () => {
    await withSession(async (session) => {
      await session.loadData(dataset(4, 6, 9));
      expect(session.summary.inputs?.[0]).toMatchObject({ shape: [null, 6, 9, 2], source: 'option' });
      expect(session.openOptions).toEqual({ inputShapes: { image: [6, 9, 2] } });
      const evaluation = await session.evaluate(QUIET_JOB);
      expect(evaluation.samples).toBe(4);
      expect(evaluation.accuracy).toBeGreaterThanOrEqual(0);
      // A dataset of the current shape keeps the model; synthetic data is drawn at its size.
      await session.loadData(dataset(2, 6, 9));
      expect(session.summary.inputs?.[0].shape).toEqual([null, 6, 9, 2]);
      session.useSynthetic(3, 0);
      expect(session.dataSummary().shape).toEqual([3, 6, 9, 2]);
      await expect(session.loadData(dataset(2, 6, 9, 3))).rejects.toThrow(/data\.json/);
      expect(session.summary.inputs?.[0].shape).toEqual([null, 6, 9, 2]);
    });
  });

  it('a dataset given when the session is built sets them too, and an export reopens with them', async () => {
    const probe = await ModelSession.create(opened);
    await probe.loadData(dataset(3, 4, 4));
    const data = probe.data;
    probe.dispose();
    const session = await ModelSession.create(opened, data);
    try {
      expect(session.summary.inputs?.[0].shape).toEqual([null, 4, 4, 2]);
      const dense = await session.evaluate(QUIET_JOB);
      const reopened = await session.evaluateOpened(opened);
      expect(reopened).toMatchObject({ accuracy: dense.accuracy, loss: dense.loss });
    } finally {
      session.dispose();
    }
  });
});
