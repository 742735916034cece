/**
 * Structural shrinking on the digits-cnn demo: every channel group loses half its channels
 * (magnitude, L2 of each filter/neuron), the shrunk model is written with the export writer and
 * reopened, and predict on the 2,000 held-out digits (batches of 250) is timed for the dense and
 * the shrunk model, alternating, on wasm and cpu. Prints parameters, median times, the speed ratio
 * and both accuracies (no fine-tuning after the cut). Run with `npx tsx bench/shrink.ts`.
 * Asserts nothing.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { startBackend, type CliBackend } from '../src/cli/backend';
import { PrunableModel } from '../src/core/model/runtime';
import { channelKeepMasks, dependencyGroups, shrinkModel } from '../src/core/structure';
import { writeLayersModel } from '../src/io/export';
import { inputFileFromBytes } from '../src/io/input-file';
import { filesFromPath } from '../src/io/node-files';
import { openModel, splitDrop } from '../src/io/open';

const DEMO = join(import.meta.dirname, '..', 'public', 'models', 'digits-cnn');
const SPARSITY = 0.5;
const BATCH = 250;
const ROUNDS: Record<CliBackend, number> = { wasm: 9, cpu: 3 };

interface Digits {
  inputs: Float32Array;
  shape: number[];
  labels: Int32Array;
}

async function loadDigits(): Promise<Digits> {
  const json = JSON.parse(await readFile(join(DEMO, 'eval.json'), 'utf8')) as { inputs: number[]; shape: number[]; labels: number[] };
  return { inputs: Float32Array.from(json.inputs), shape: json.shape, labels: Int32Array.from(json.labels) };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

async function timePredict(model: tf.LayersModel, x: tf.Tensor): Promise<number> {
  const started = performance.now();
  const y = model.predict(x, { batchSize: BATCH }) as tf.Tensor;
  await y.data();
  const ms = performance.now() - started;
  y.dispose();
  return ms;
}

async function accuracy(model: tf.LayersModel, x: tf.Tensor, labels: Int32Array): Promise<number> {
  const predicted = tf.tidy(() => (model.predict(x, { batchSize: BATCH }) as tf.Tensor).argMax(-1));
  const classes = await predicted.data();
  predicted.dispose();
  let correct = 0;
  classes.forEach((c, i) => {
    if (c === labels[i]) correct++;
  });
  return correct / labels.length;
}

interface Row {
  backend: string;
  dense: number;
  shrunk: number;
  denseAccuracy: number;
  shrunkAccuracy: number;
}

/** The dense demo and its shrunk export, both as stock tfjs LayersModels. */
async function denseAndShrunk(): Promise<{ dense: PrunableModel; shrunk: tf.LayersModel; before: number; after: number; removed: Record<string, number> }> {
  const { modelFiles } = await splitDrop(await filesFromPath(DEMO));
  const source = await openModel(modelFiles);
  const dense = await PrunableModel.fromArtifacts(source.artifacts);
  const groups = dependencyGroups(dense);
  const sparsity = Object.fromEntries(dense.units().map((unit) => [unit.name, SPARSITY]));
  const keep = await channelKeepMasks(dense, { sparsity }, groups);
  const result = await shrinkModel(dense, keep, { groups, topology: source.artifacts.modelTopology });
  const { files } = writeLayersModel(source, result.weights, { topology: result.topology });
  const reopened = await openModel(files.map((file) => inputFileFromBytes(`digits-cnn-shrunk/${file.path}`, file.bytes)));
  const shrunk = await tf.loadLayersModel({ load: async () => reopened.artifacts });
  return { dense, shrunk, before: dense.layersModel.countParams(), after: shrunk.countParams(), removed: result.removed };
}

async function benchBackend(wanted: CliBackend, digits: Digits): Promise<Row | undefined> {
  if ((await startBackend(wanted)) !== wanted) return undefined;
  const { dense, shrunk, before, after, removed } = await denseAndShrunk();
  const x = tf.tensor(digits.inputs, digits.shape);
  try {
    if (wanted === 'wasm') {
      process.stdout.write(
        `groups cut: ${Object.entries(removed)
          .map(([id, n]) => `${id} −${n}`)
          .join(', ')}\n`,
      );
      process.stdout.write(`parameters: ${before} → ${after} (${(after / before).toFixed(3)}×)\n`);
    }
    await timePredict(dense.layersModel, x);
    await timePredict(shrunk, x);
    const denseMs: number[] = [];
    const shrunkMs: number[] = [];
    for (let round = 0; round < ROUNDS[wanted]; round++) {
      denseMs.push(await timePredict(dense.layersModel, x));
      shrunkMs.push(await timePredict(shrunk, x));
    }
    return {
      backend: wanted,
      dense: median(denseMs),
      shrunk: median(shrunkMs),
      denseAccuracy: await accuracy(dense.layersModel, x, digits.labels),
      shrunkAccuracy: await accuracy(shrunk, x, digits.labels),
    };
  } finally {
    x.dispose();
    dense.dispose();
    shrunk.dispose();
  }
}

function table(rows: Row[]): string {
  const header = ['backend', 'rounds', 'dense ms', 'shrunk ms', 'speed ratio', 'dense acc', 'shrunk acc'];
  const lines = rows.map((r) => [
    r.backend,
    String(ROUNDS[r.backend as CliBackend]),
    r.dense.toFixed(1),
    r.shrunk.toFixed(1),
    `${(r.dense / r.shrunk).toFixed(2)}×`,
    r.denseAccuracy.toFixed(4),
    r.shrunkAccuracy.toFixed(4),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const format = (cells: string[]): string => cells.map((c, i) => c.padStart(widths[i])).join('  ');
  return [format(header), format(widths.map((w) => '-'.repeat(w))), ...lines.map(format)].join('\n');
}

const digits = await loadDigits();
const rows: Row[] = [];
for (const backend of ['wasm', 'cpu'] as const) {
  const row = await benchBackend(backend, digits);
  if (row) rows.push(row);
  else process.stdout.write(`${backend}: not available in this Node\n`);
}
process.stdout.write(
  `digits-cnn, ${SPARSITY * 100}% of the channels of every shrinkable group removed (magnitude), predict on ${digits.shape[0]} digits in batches of ${BATCH}; median of the rounds\n`,
);
process.stdout.write(`${table(rows)}\n`);
process.stdout.write('speed ratio = dense ms / shrunk ms; accuracies are without fine-tuning after the cut\n');
