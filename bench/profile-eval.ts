/**
 * Where a GPT-2-small-shaped perplexity pass spends its time: `npx tsx bench/profile-eval.ts <model folder> [tokens]`
 * (a folder written by scripts/make-bench-transformer.ts). Prints the wall time of one pass and the kernels
 * grouped by name and shapes, longest first.
 */
import * as tf from '@tensorflow/tfjs';
import { startBackend } from '../src/cli/backend';
import { randomTokenWindows } from '../src/core/removal/calibration';
import { TransformerModel } from '../src/core/transformer/model';
import { perplexity } from '../src/core/transformer/perplexity';
import { filesFromPath } from '../src/io/node-files';
import { openModel } from '../src/io/open';

const [folder, count = '1024'] = process.argv.slice(2);
const tokens = Number(count);
await startBackend('wasm');
const opened = await openModel(await filesFromPath(folder));
const payload = opened.transformer;
if (payload === undefined) throw new Error(`${folder} did not open as a transformer`);
const model = new TransformerModel(payload.config, payload.tensors);
const ids = randomTokenWindows(model.config.vocabSize, model.contextLength, { samples: 1, length: tokens, seed: 7 }).flat();
await perplexity(model, ids.slice(0, 16));
const before = tf.memory().numTensors;
for (let round = 0; round < 2; round++) {
  const started = performance.now();
  const cpu = process.cpuUsage();
  const plain = await perplexity(model, ids);
  const used = process.cpuUsage(cpu);
  const wall = (performance.now() - started) / 1000;
  process.stdout.write(`pass: ${wall.toFixed(2)} s wall, ${((used.user + used.system) / 1e6).toFixed(2)} s CPU (${(used.system / 1e6).toFixed(2)} s system), nll ${plain.nll}\n`);
}
if (process.argv.includes('--profile')) {
  // Kernel times in CPU time of this process (the machine may be shared).
  const backend = tf.backend() as unknown as { time(f: () => void): Promise<{ kernelMs: number }> };
  backend.time = (f) => {
    const start = process.cpuUsage();
    f();
    const used = process.cpuUsage(start);
    return Promise.resolve({ kernelMs: (used.user + used.system) / 1000 });
  };
  const profile = await tf.profile(async () => {
    await perplexity(model, ids);
    return [];
  });
  const groups = new Map<string, { ms: number; count: number }>();
  let total = 0;
  for (const kernel of profile.kernels) {
    const ms = typeof kernel.kernelTimeMs === 'number' ? kernel.kernelTimeMs : 0;
    const key = `${kernel.name} ${kernel.inputShapes.map((s) => `[${s?.join(',') ?? ''}]`).join(' ')}`;
    const group = groups.get(key) ?? { ms: 0, count: 0 };
    group.ms += ms;
    group.count += 1;
    groups.set(key, group);
    total += ms;
  }
  process.stdout.write(`kernels: ${(total / 1000).toFixed(2)} s in ${profile.kernels.length} calls\n`);
  const byName = new Map<string, number>();
  for (const [key, g] of groups) byName.set(key.split(' ')[0], (byName.get(key.split(' ')[0]) ?? 0) + g.ms);
  for (const [name, ms] of [...byName].sort((a, b) => b[1] - a[1]).slice(0, 20)) process.stdout.write(`  ${name}: ${(ms / 1000).toFixed(2)} s\n`);
  for (const [key, g] of [...groups].sort((a, b) => b[1].ms - a[1].ms).slice(0, 40)) {
    process.stdout.write(`${(g.ms / 1000).toFixed(3)} s  ×${g.count}  ${key}\n`);
  }
}
const heap = (tf.backend() as unknown as { wasm?: { HEAPU8: Uint8Array } }).wasm?.HEAPU8.length;
const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(0)} MiB`;
process.stdout.write(`tensors: ${tf.memory().numTensors - before} more; tensor bytes ${mib(tf.memory().numBytes)}; wasm memory ${heap === undefined ? '?' : mib(heap)}\n`);
model.dispose();
