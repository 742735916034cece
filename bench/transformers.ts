/**
 * The transformer rows of `npm run bench`: perplexity evaluation against PyTorch, cached vs naive
 * sweeps, Wanda/SparseGPT against PyTorch, and how a sweep's cost grows with depth. Each comparison
 * runs both sides in the same process run, alternating, and checks their numbers agree before timing
 * counts. The models are random-weight folders written to a temporary directory.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { kernelToMatrix, unitLayout, type UnitLayout } from '../src/core/criteria/layout';
import { getCriterion } from '../src/core/criteria/registry';
import { randomTokenWindows } from '../src/core/removal/calibration';
import { runTransformerSweep, captureInputStats, type TransformerSweepOptions } from '../src/core/sweep/transformer-sweep';
import { TransformerModel } from '../src/core/transformer/model';
import { perplexity } from '../src/core/transformer/perplexity';
import { filesFromPath } from '../src/io/node-files';
import { openModel } from '../src/io/open';
import { tokenizeText } from '../src/io/text';
import { gpt2Config, writeBenchTransformer } from '../scripts/make-bench-transformer';
import type { TorchPeer } from './peer';

export interface BenchRow {
  row: string;
  lopper: string;
  peer: string;
  ratio: number;
  goal: string;
  met: boolean;
  agree: string;
}

const DEMO_LM = join(import.meta.dirname, '..', 'public', 'models', 'char-lm');

async function loadTransformer(folder: string): Promise<{ model: TransformerModel; tokenizer?: { json: unknown } }> {
  const opened = await openModel(await filesFromPath(folder));
  const payload = opened.transformer;
  if (payload === undefined) throw new Error(`${folder} did not open as a transformer`);
  return { model: new TransformerModel(payload.config, payload.tensors), tokenizer: payload.tokenizer };
}

async function seconds<T>(run: () => Promise<T>): Promise<{ value: T; seconds: number }> {
  const started = performance.now();
  const value = await run();
  return { value, seconds: (performance.now() - started) / 1000 };
}

/** (a) Perplexity evaluation tokens/s: Lopper (this backend) vs the torch peer, same weights and ids, same NLL. */
export async function evalRow(folder: string, peer: TorchPeer, rounds: number, tokens: number, log: (line: string) => void): Promise<BenchRow> {
  const { model } = await loadTransformer(folder);
  try {
    await peer.request({ cmd: 'load', folder });
    const ids = randomTokenWindows(model.config.vocabSize, model.contextLength, { samples: 1, length: tokens, seed: 7 }).flat();
    // Warm-up on both sides: weights packed, kernels compiled, memory grown.
    await perplexity(model, ids.slice(0, 16));
    await peer.request({ cmd: 'perplexity', ids: ids.slice(0, 16), context: model.contextLength });
    const ours: number[] = [];
    const theirs: number[] = [];
    let worst = 0;
    for (let round = 0; round < rounds; round++) {
      const lopper = await seconds(() => perplexity(model, ids));
      const torch = await peer.request<{ nll: number; tokens: number; seconds: number }>({ cmd: 'perplexity', ids, context: model.contextLength });
      if (torch.tokens !== lopper.value.tokens) throw new Error(`eval: torch scored ${torch.tokens} tokens, Lopper ${lopper.value.tokens}`);
      worst = Math.max(worst, Math.abs(lopper.value.nll - torch.nll) / torch.nll);
      ours.push(lopper.seconds);
      theirs.push(torch.seconds);
      log(`eval round ${round + 1}: Lopper ${lopper.seconds.toFixed(2)} s (nll ${lopper.value.nll.toFixed(6)}), torch ${torch.seconds.toFixed(2)} s (nll ${torch.nll.toFixed(6)})`);
    }
    const scored = tokens - 1;
    const [mine, peerBest] = [Math.min(...ours), Math.min(...theirs)];
    const ratio = mine / peerBest;
    return {
      row: `(a) eval, GPT-2-small shape (124M), ${tokens} tokens`,
      lopper: `${(scored / mine).toFixed(1)} tok/s (${mine.toFixed(2)} s)`,
      peer: `${(scored / peerBest).toFixed(1)} tok/s (${peerBest.toFixed(2)} s)`,
      ratio,
      goal: 'Lopper time ≤ 1.5 × torch',
      met: ratio <= 1.5 && worst < 1e-4,
      agree: `NLL rel. diff ${worst.toExponential(1)}`,
    };
  } finally {
    model.dispose();
  }
}

/** Cached vs naive sweep, alternating `rounds` times; best time of each; the values must be identical. */
async function sweepPair(
  model: TransformerModel,
  ids: number[],
  options: TransformerSweepOptions,
  rounds: number,
): Promise<{ cached: number; naive: number; cells: number; identical: boolean }> {
  const cached: number[] = [];
  const naive: number[] = [];
  let identical = true;
  let cells = 0;
  for (let round = 0; round < rounds; round++) {
    const fast = await seconds(() => runTransformerSweep(model, ids, { ...options, cached: true }));
    const slow = await seconds(() => runTransformerSweep(model, ids, { ...options, cached: false }));
    cached.push(fast.seconds);
    naive.push(slow.seconds);
    cells = fast.value.cells;
    identical &&= JSON.stringify(fast.value.values) === JSON.stringify(slow.value.values);
  }
  return { cached: Math.min(...cached), naive: Math.min(...naive), cells, identical };
}

function sweepRow(row: string, pair: Awaited<ReturnType<typeof sweepPair>>): BenchRow {
  const ratio = pair.cached / pair.naive;
  return {
    row,
    lopper: `cached ${pair.cached.toFixed(2)} s`,
    peer: `naive ${pair.naive.toFixed(2)} s`,
    ratio,
    goal: 'cached / naive ≤ 0.5',
    met: ratio <= 0.5 && pair.identical,
    agree: pair.identical ? `identical values, ${pair.cells} cells` : 'VALUES DIFFER',
  };
}

/** (b) Sweep cost, cached vs naive: the demo LM on its eval text, and a 12-block GPT-2-style model data-free. */
export async function sweepRows(dir: string, rounds: number, quick: boolean, log: (line: string) => void): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const sparsities = quick ? [0, 0.5, 0.9] : [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95];
  const demo = await loadTransformer(DEMO_LM);
  try {
    const text = join(DEMO_LM, 'eval.txt');
    const ids = Array.from(tokenizeText(text, await readFile(text), demo.tokenizer as { json: unknown }));
    const pair = await sweepPair(demo.model, ids, { criterion: 'magnitude', granularity: 'unstructured', sparsities, metric: 'loss' }, rounds);
    log(`demo LM sweep: cached ${pair.cached.toFixed(2)} s, naive ${pair.naive.toFixed(2)} s`);
    rows.push(sweepRow(`(b) sweep, demo LM (char-lm, 4 blocks), magnitude, ${sparsities.length} levels, 10 × 128 tokens, loss`, pair));
  } finally {
    demo.model.dispose();
  }
  const folder = join(dir, 'gpt2-12x128');
  writeBenchTransformer(folder, gpt2Config(12, 128, 1024, 128), 1);
  const deep = await loadTransformer(folder);
  try {
    const ids = randomTokenWindows(1024, 128, { samples: 2, length: 128, seed: 2 }).flat();
    const grid = quick ? [0, 0.5] : [0, 0.5, 0.9];
    const calibration = { samples: 2, length: 128 };
    const pair = await sweepPair(deep.model, ids, { criterion: 'magnitude', granularity: 'unstructured', sparsities: grid, metric: 'js', calibration }, rounds);
    log(`12-block sweep: cached ${pair.cached.toFixed(2)} s, naive ${pair.naive.toFixed(2)} s`);
    rows.push(sweepRow(`(b) sweep, 12-block GPT-2 (width 128), magnitude, ${grid.length} levels, 2 × 128 tokens, js`, pair));
  } finally {
    deep.model.dispose();
  }
  return rows;
}

/** (d) Scaling: a cached and a naive sweep of every projection at 50 % as the model deepens. */
export async function scalingRows(dir: string, depths: readonly number[], log: (line: string) => void): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  for (const blocks of depths) {
    const folder = join(dir, `gpt2-${blocks}x128`);
    writeBenchTransformer(folder, gpt2Config(blocks, 128, 512, 128), 3);
    const { model } = await loadTransformer(folder);
    try {
      const ids = randomTokenWindows(512, 128, { samples: 1, length: 128, seed: 4 }).flat();
      const pair = await sweepPair(
        model,
        ids,
        { criterion: 'magnitude', granularity: 'unstructured', sparsities: [0, 0.5], metric: 'loss', calibration: { samples: 1, length: 128 } },
        1,
      );
      log(`scaling ${blocks} blocks: cached ${pair.cached.toFixed(2)} s, naive ${pair.naive.toFixed(2)} s`);
      rows.push({ ...sweepRow(`(d) scaling, ${blocks} blocks (width 128), ${pair.cells} cells`, pair), goal: 'cost grows (cached ≈ quadratic / 2)', met: pair.identical });
    } finally {
      model.dispose();
    }
  }
  return rows;
}

/** Packs a keep-mask (1 = kept) as numpy's packbits does: 8 per byte, most significant bit first. */
function packBits(mask: Uint8Array): Uint8Array {
  const out = new Uint8Array(Math.ceil(mask.length / 8));
  for (let i = 0; i < mask.length; i++) if (mask[i]) out[i >> 3] |= 0x80 >> (i & 7);
  return out;
}

function sameBits(a: Uint8Array, b: Uint8Array, count: number): number {
  let same = 0;
  for (let i = 0; i < count; i++) same += ((a[i >> 3] >> (7 - (i & 7))) & 1) === ((b[i >> 3] >> (7 - (i & 7))) & 1) ? 1 : 0;
  return same / count;
}

/**
 * (c) Wanda and SparseGPT at 50 % on the GPT-2-small shape with 8 × 256 calibration tokens, one-shot on
 * units of block 0 from the dense model's inputs: statistics pass + pruning, Lopper vs torch, with the
 * share of mask entries that agree.
 */
export async function criteriaRows(folder: string, peer: TorchPeer, units: readonly string[], log: (line: string) => void): Promise<BenchRow[]> {
  const { model } = await loadTransformer(folder);
  const rows: BenchRow[] = [];
  try {
    await peer.request({ cmd: 'load', folder });
    const windows = randomTokenWindows(model.config.vocabSize, model.contextLength, { samples: 8, length: 256, seed: 5 });
    const batch = tf.tensor2d(windows.flat(), [8, 256], 'int32');
    const ours = await seconds(() => captureInputStats(model, [batch], units, 'gram'));
    batch.dispose();
    const theirs = await peer.request<{ seconds: number }>({ cmd: 'stats', ids: windows, units });
    log(`criteria statistics: Lopper ${ours.seconds.toFixed(2)} s, torch ${theirs.seconds.toFixed(2)} s`);
    for (const criterion of ['wanda', 'sparsegpt'] as const) {
      let mine = ours.seconds;
      let peerSeconds = theirs.seconds;
      let agreement = 1;
      for (const unit of units) {
        const info = model.units().find((u) => u.name === unit);
        if (info === undefined) throw new Error(`no unit ${unit}`);
        const layout = unitLayout('Dense', unit, info.shape) as UnitLayout;
        const kernel = model.getKernel(unit);
        const matrix = kernelToMatrix(layout, (await kernel.data()) as Float32Array);
        kernel.dispose();
        const pruned = await seconds(async () =>
          getCriterion(criterion).prune({ kind: 'dense', matrix, sparsity: 0.5, granularity: 'unstructured', seed: 0, stats: ours.value?.get(unit) }),
        );
        const torch = await peer.request<{ seconds: number; mask: string }>({ cmd: 'prune', unit, criterion, sparsity: 0.5 });
        mine += pruned.seconds;
        peerSeconds += torch.seconds;
        const share = sameBits(packBits(pruned.value.mask), new Uint8Array(Buffer.from(torch.mask, 'base64')), pruned.value.mask.length);
        agreement = Math.min(agreement, share);
        log(`${criterion} ${unit}: Lopper ${pruned.seconds.toFixed(2)} s, torch ${torch.seconds.toFixed(2)} s, masks agree on ${(100 * share).toFixed(3)} %`);
      }
      const ratio = mine / peerSeconds;
      rows.push({
        row: `(c) ${criterion} 50 %, GPT-2-small shape, 8 × 256 tokens, ${units.length} units of block 0`,
        lopper: `${mine.toFixed(2)} s`,
        peer: `${peerSeconds.toFixed(2)} s`,
        ratio,
        goal: 'Lopper time < torch, same masks',
        met: ratio < 1 && agreement === 1,
        agree: `masks agree on ≥ ${(100 * agreement).toFixed(3)} % of weights`,
      });
    }
  } finally {
    model.dispose();
  }
  return rows;
}
