/**
 * Sensitivity sweep cost: the cached engine (activations captured once per layer, each cell runs
 * from the pruned layer on) against one full forward pass per cell, on the digits-cnn demo with
 * its held-out set, the default grid and magnitude pruning. Run with `npm run bench:sweep`.
 * The two alternate a few times and the best time of each counts (shared machines are noisy).
 * Prints a table; asserts nothing.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { startBackend, type CliBackend } from '../src/cli/backend';
import type { EvalData } from '../src/core/evaluate';
import { PrunableModel } from '../src/core/model/runtime';
import { DEFAULT_SPARSITIES, runNaiveSweep, runSweep, type SweepOptions, type SweepResult } from '../src/core/sweep/engine';
import { filesFromPath } from '../src/io/node-files';
import { openModel, splitDrop } from '../src/io/open';

const DEMO = join(import.meta.dirname, '..', 'public', 'models', 'digits-cnn');
/** The cpu backend is ~25× slower than wasm: it sweeps a subset, once. */
const SAMPLES: Record<CliBackend, number | undefined> = { wasm: undefined, cpu: 250 };
const ROUNDS: Record<CliBackend, number> = { wasm: 3, cpu: 1 };

async function loadData(limit: number | undefined): Promise<EvalData> {
  const json = JSON.parse(await readFile(join(DEMO, 'eval.json'), 'utf8')) as { inputs: number[]; shape: number[]; labels: number[] };
  const count = Math.min(limit ?? json.shape[0], json.shape[0]);
  const sampleSize = json.shape.slice(1).reduce((a, b) => a * b, 1);
  return {
    inputs: Float32Array.from(json.inputs.slice(0, count * sampleSize)),
    shape: [count, ...json.shape.slice(1)],
    labels: Int32Array.from(json.labels.slice(0, count)),
  };
}

async function timed(run: () => Promise<SweepResult>): Promise<{ result: SweepResult; seconds: number }> {
  const started = performance.now();
  const result = await run();
  return { result, seconds: (performance.now() - started) / 1000 };
}

interface Row {
  backend: string;
  samples: number;
  rounds: number;
  cells: number;
  cached: number;
  naive: number;
  identical: boolean;
}

async function benchBackend(wanted: CliBackend): Promise<Row | undefined> {
  const backend = await startBackend(wanted);
  if (backend !== wanted) return undefined;
  const { modelFiles } = await splitDrop(await filesFromPath(DEMO));
  const model = await PrunableModel.fromArtifacts((await openModel(modelFiles)).artifacts);
  try {
    const data = await loadData(SAMPLES[wanted]);
    const options: SweepOptions = { criterion: 'magnitude', granularity: 'unstructured', sparsities: DEFAULT_SPARSITIES, metric: 'accuracy' };
    // Warm-up: kernels compiled, weights on the backend.
    await runSweep(model, data, { ...options, sparsities: [0.5], units: ['conv1'] });
    const cached: number[] = [];
    const naive: number[] = [];
    let identical = true;
    let cells = 0;
    for (let round = 0; round < ROUNDS[wanted]; round++) {
      const fast = await timed(() => runSweep(model, data, options));
      const slow = await timed(() => runNaiveSweep(model, data, options));
      cached.push(fast.seconds);
      naive.push(slow.seconds);
      cells = fast.result.cells;
      identical &&= JSON.stringify(fast.result.values) === JSON.stringify(slow.result.values);
    }
    return { backend, samples: data.shape[0], rounds: ROUNDS[wanted], cells, cached: Math.min(...cached), naive: Math.min(...naive), identical };
  } finally {
    model.dispose();
  }
}

function table(rows: Row[]): string {
  const header = ['backend', 'samples', 'rounds', 'cells', 'cached s', 'naive s', 'cached/naive', 'cached cells/s', 'naive cells/s', 'same values'];
  const lines = rows.map((r) => [
    r.backend,
    String(r.samples),
    String(r.rounds),
    String(r.cells),
    r.cached.toFixed(2),
    r.naive.toFixed(2),
    (r.cached / r.naive).toFixed(3),
    (r.cells / r.cached).toFixed(2),
    (r.cells / r.naive).toFixed(2),
    r.identical ? 'yes' : 'NO',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const format = (cells: string[]): string => cells.map((c, i) => c.padStart(widths[i])).join('  ');
  return [format(header), format(widths.map((w) => '-'.repeat(w))), ...lines.map(format)].join('\n');
}

const rows: Row[] = [];
for (const backend of ['wasm', 'cpu'] as const) {
  const row = await benchBackend(backend);
  if (row) rows.push(row);
  else process.stdout.write(`${backend}: not available in this Node\n`);
  tf.disposeVariables();
}
process.stdout.write(`sweep of digits-cnn, magnitude, unstructured, grid ${DEFAULT_SPARSITIES.join(', ')}, metric accuracy, batch 64; best of the rounds\n`);
process.stdout.write(`${table(rows)}\n`);
process.stdout.write('goal: cached/naive ≤ 0.5\n');
