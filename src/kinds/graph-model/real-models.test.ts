import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { getCriterion } from '../../core/criteria/registry';
import { filesFromPath } from '../../io/node-files';
import { openModel } from '../../io/open';
import { graphKernelToMatrix, graphMatrixToKernel, type GraphUnitLayout } from './layout';
import { GraphModelPrunable } from './prunable';
import { loadExport } from './testing';

/**
 * Real converted GraphModels from the npm package @vladmandic/human (MIT), put in place by
 * `node scripts/fetch-real-graph-models.mjs`. Each is opened, run, pruned (one unit, magnitude 50%),
 * exported and reloaded with stock tfjs, which must give our outputs.
 */
const CACHE = decodeURIComponent(new URL('../../../node_modules/.cache/lopper-real-models', import.meta.url).pathname);
const MODELS = [
  { name: 'blazeface', units: 69, candidates: 31, async: false, outputs: 4 },
  { name: 'antispoof', units: 5, candidates: 0, async: false, outputs: 1 },
  { name: 'handtrack', units: 123, candidates: 10, async: true, outputs: 8 },
];
const present = existsSync(CACHE) && MODELS.every((m) => existsSync(join(CACHE, m.name, 'model.json')));
if (!present) console.warn(`skipping the real GraphModel tests: ${CACHE} is missing (run node scripts/fetch-real-graph-models.mjs)`);

beforeAll(async () => {
  await tf.setBackend('cpu');
});

async function flat(tensors: tf.Tensor | tf.Tensor[]): Promise<number[]> {
  const list = Array.isArray(tensors) ? tensors : [tensors];
  const values: number[] = [];
  for (const tensor of list) for (const v of await tensor.data()) values.push(v);
  return values;
}

describe.skipIf(!present)('real GraphModels (node_modules/.cache/lopper-real-models)', () => {
  for (const model of MODELS) {
    it(`${model.name}: opens, runs, prunes a unit to 50% and exports what stock tfjs reproduces`, { timeout: 300_000 }, async () => {
      const start = tf.memory().numTensors;
      const opened = await openModel(await filesFromPath(join(CACHE, model.name)));
      expect(opened.format).toBe('graph-model');
      const kind = await GraphModelPrunable.create(opened);
      try {
        expect(kind.requiresAsync).toBe(model.async);
        expect(kind.units().length).toBe(model.units);
        expect(kind.removalCandidates().length).toBe(model.candidates);
        expect(kind.outputNames().length).toBe(model.outputs);
        const totals = kind.totals();
        expect(totals.prunableParams).toBeGreaterThan(0.9 * totals.totalParams);

        const target = kind
          .units()
          .filter((unit) => typeof kind.layout(unit.name) !== 'string')
          .reduce((a, b) => (b.size > a.size ? b : a));
        const layout = kind.layout(target.name) as GraphUnitLayout;
        const kernel = kind.getKernel(target.name);
        const { values } = getCriterion('magnitude').prune({
          kind: layout.kind,
          matrix: { rows: layout.rows, cols: layout.cols, values: graphKernelToMatrix(layout, (await kernel.data()) as Float32Array) },
          sparsity: 0.5,
          granularity: 'unstructured',
          seed: 0,
        });
        kernel.dispose();
        kind.setKernel(target.name, graphMatrixToKernel(layout, values));
        const stored = kind.getKernel(target.name);
        const zeros = (await stored.data()).filter((v) => v === 0).length;
        stored.dispose();
        expect(zeros).toBeGreaterThanOrEqual(Math.floor(target.size / 2));

        const input = kind.syntheticBatch(1, 3);
        const seen: string[] = [];
        const ours = await kind.forwardAsync(input, { onUnitInput: (unit) => seen.push(unit) });
        expect(seen).toEqual(kind.observedUnits());
        const removed = kind.removalCandidates().slice(0, 1);
        const bypassed = removed.length > 0 ? await kind.forwardAsync(input, { bypass: new Set(removed) }) : undefined;

        const spec = kind.inputSpecs()[0];
        const feedName = spec.signatureKey ?? spec.name;
        for (const [files, expected] of [
          [await kind.exportFiles({ recipe: { test: true } }), ours],
          ...(bypassed ? [[await kind.exportFiles({ removed }), bypassed] as const] : []),
        ] as const) {
          const stock = await loadExport(files);
          const names = kind.outputNames();
          const out = model.async ? await stock.executeAsync({ [feedName]: input }, names) : stock.execute({ [feedName]: input }, names);
          const got = await flat(out);
          const want = await flat(expected);
          expect(got.length).toBe(want.length);
          let scale = 1;
          let worst = 0;
          want.forEach((v, i) => {
            scale = Math.max(scale, Math.abs(v));
            worst = Math.max(worst, Math.abs(v - got[i]));
          });
          expect(worst).toBeLessThanOrEqual(1e-5 * scale);
          tf.dispose(out);
          stock.dispose();
        }
        tf.dispose([input, ours, ...(bypassed ? [bypassed] : [])]);
      } finally {
        kind.dispose();
      }
      expect(tf.memory().numTensors).toBe(start);
    });
  }
});
