/**
 * The GraphModel sweep resumed from each unit's op (src/kinds/graph-model/sweep.ts) against the
 * naive pipeline sweep (one full forward pass per cell, src/core/pipeline/sweep.ts): magnitude,
 * unstructured, the default grid of 11 sparsities, 32 seeded synthetic samples, on graph-cnn and on
 * the real GraphModels when `node scripts/fetch-real-graph-models.mjs` has put them in place.
 * Prints both times, the cached/naive ratio and whether the values are identical. Run with
 * `npm run bench:graph-sweep` (`-- --backend cpu` for the cpu backend, `-- --model blazeface` for one model). Asserts nothing.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { startBackend, type CliBackend } from '../src/cli/backend';
import { syntheticSamples, type SampleData } from '../src/core/pipeline/data';
import { sweepPrunable } from '../src/core/pipeline/sweep';
import { GraphModelPrunable } from '../src/kinds/graph-model';
import { sweepGraph } from '../src/kinds/graph-model/sweep';
import { filesFromPath } from '../src/io/node-files';
import { openModel } from '../src/io/open';

const ROOT = join(import.meta.dirname, '..');
const MODELS = [
  { name: 'graph-cnn', path: join(ROOT, 'e2e', 'fixtures', 'graph-cnn') },
  { name: 'blazeface', path: join(ROOT, 'node_modules', '.cache', 'lopper-real-models', 'blazeface') },
  { name: 'antispoof', path: join(ROOT, 'node_modules', '.cache', 'lopper-real-models', 'antispoof') },
];
const SPARSITIES = [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95];
const SAMPLES = 32;

async function main(): Promise<void> {
  const at = process.argv.indexOf('--backend');
  const backend = (at >= 0 ? process.argv[at + 1] : 'wasm') as CliBackend;
  const only = process.argv.indexOf('--model');
  const models = only >= 0 ? MODELS.filter((m) => m.name === process.argv[only + 1]) : MODELS;
  await startBackend(backend);
  console.log(`graph sweep, backend ${tf.getBackend()}: magnitude, unstructured, ${SPARSITIES.length} sparsities, ${SAMPLES} synthetic samples`);
  console.log('| model | units | naive s | cached s | cached/naive | identical |');
  console.log('| --- | --- | --- | --- | --- | --- |');
  for (const entry of models) {
    if (!existsSync(join(entry.path, 'model.json'))) {
      console.log(`| ${entry.name} | — | missing: run node scripts/fetch-real-graph-models.mjs | | | |`);
      continue;
    }
    const files = (await filesFromPath(entry.path)).filter((f) => !f.path.endsWith('expected.json'));
    const model = await GraphModelPrunable.create(await openModel(files));
    try {
      if (model.requiresAsync) {
        console.log(`| ${entry.name} | ${model.units().length} | runs only through executeAsync: the naive sweep is used | | | |`);
        continue;
      }
      const spec = model.inputSpecs()[0];
      const data = syntheticSamples([null, ...spec.shape.slice(1)], SAMPLES, 0) as SampleData;
      const options = { criterion: 'magnitude' as const, granularity: 'unstructured' as const, sparsities: SPARSITIES, metric: 'js' as const };
      let started = performance.now();
      const naive = await sweepPrunable(model, data, options);
      const naiveSeconds = (performance.now() - started) / 1000;
      started = performance.now();
      const cached = await sweepGraph(model, data, options);
      const cachedSeconds = (performance.now() - started) / 1000;
      const identical = JSON.stringify(naive.values) === JSON.stringify(cached.values);
      console.log(
        `| ${entry.name} | ${model.units().length} | ${naiveSeconds.toFixed(2)} | ${cachedSeconds.toFixed(2)} | ${(cachedSeconds / naiveSeconds).toFixed(2)} | ${identical ? 'yes' : 'NO'} |`,
      );
    } finally {
      model.dispose();
    }
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : String(error));
  process.exit(1);
});
