/**
 * `npm run bench [-- --quick]`: Lopper (tfjs wasm backend in Node, one thread) against the PyTorch CPU
 * peer on the same random weights, and Lopper's cached sweeps against naive ones. Prints one table and
 * writes bench/RESULTS.md (machine, date, goal beside each figure). Numbers only; it asserts nothing.
 * The default run takes about ten minutes on two cores; `--quick` fewer rounds, tokens and levels.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, totalmem, tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import * as prettier from 'prettier';
import { startBackend } from '../src/cli/backend';
import { gpt2Config, writeBenchTransformer } from '../scripts/make-bench-transformer';
import { FINERCUT_SAMPLES } from '../src/core/removal/calibration';
import { livePlanMoves, livePlanRows } from './live-plan';
import { ensureTorch, TorchPeer, type PeerInfo } from './peer';
import { streamRows } from './stream';
import { criteriaRows, evalRow, scalingRows, sweepRows, type BenchRow } from './transformers';

const quick = process.argv.includes('--quick');
const log = (line: string): void => void process.stderr.write(`${line}\n`);

function table(rows: BenchRow[]): string {
  const header = ['row', 'Lopper', 'peer', 'ratio', 'goal', 'met', 'agreement'];
  const lines = rows.map((r) => [r.row, r.lopper, r.peer, r.ratio.toFixed(2), r.goal, r.met ? 'yes' : 'no', r.agree]);
  const escape = (cell: string): string => cell.replace(/\|/g, '\\|');
  return [header, header.map(() => '---'), ...lines].map((cells) => `| ${cells.map(escape).join(' | ')} |`).join('\n');
}

const installedNote = ensureTorch(log);
const backend = await startBackend('wasm');
const peer = new TorchPeer(1);
const dir = mkdtempSync(join(tmpdir(), 'lopper-bench-'));
const rows: BenchRow[] = [];
let info: PeerInfo | undefined;
const started = performance.now();
try {
  info = await peer.request<PeerInfo>({ cmd: 'info' });
  const gpt2 = join(dir, 'gpt2-small');
  log(`bench: writing a random GPT-2-small-shaped model to ${gpt2}`);
  writeBenchTransformer(gpt2, gpt2Config(), 0);
  rows.push(await evalRow(gpt2, peer, quick ? 1 : 2, quick ? 512 : 1024, log));
  tf.disposeVariables();
  rows.push(...(await sweepRows(dir, 1, quick, log)));
  rows.push(...(await criteriaRows(gpt2, peer, quick ? ['transformer.h.0.attn.c_proj'] : ['transformer.h.0.attn.c_proj', 'transformer.h.0.mlp.c_fc'], log)));
  rows.push(...(await scalingRows(dir, quick ? [4, 8, 16] : [4, 8, 16, 32], log)));
  rows.push(...livePlanRows(await livePlanMoves(dir, quick ? 4 : 12, quick ? 2 : FINERCUT_SAMPLES, log), quick ? 2 : FINERCUT_SAMPLES));
  rows.push(...(await streamRows(dir, quick ? 30 : 60, log)));
} finally {
  peer.close();
  rmSync(dir, { recursive: true, force: true });
}

const blas = info?.blas.length ? info.blas.join(', ') : 'none found mapped';
const machine = `${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB`;
const report = [
  '# Benchmark results',
  '',
  `Written by \`npm run bench${quick ? ' -- --quick' : ''}\` on ${new Date().toISOString()} in ${((performance.now() - started) / 1000).toFixed(0)} s.`,
  '',
  `- Machine: ${machine}; Node ${process.version}; tfjs ${tf.version.tfjs}, backend ${backend} (one thread in Node).`,
  `- PyTorch peer: torch ${info?.torch ?? '?'}, ${info?.threads ?? '?'} thread(s) (as many as Lopper uses), BLAS: ${blas}.`,
  ...(installedNote ? [`- Setup: ${installedNote}.`] : []),
  '- Each comparison runs both sides in this run, alternating; the best time of each counts; figures are wall-clock seconds on a machine that may be shared.',
  '- "ratio" is Lopper / peer for (a) and (c), cached / naive for (b) and (d), now / before for (e) (the plan cache and live evaluation against every move applied from scratch with a full evaluation), the streamed prune\'s memory growth over its limit for (f).',
  '',
  table(rows),
  '',
].join('\n');
const resultsFile = join(import.meta.dirname, 'RESULTS.md');
// The sections the single-purpose benchmarks keep below the table (`## …`) stay as they were.
const kept = existsSync(resultsFile) ? /\n(## [\s\S]*)$/.exec(readFileSync(resultsFile, 'utf8'))?.[1] : undefined;
const formatted = await prettier.format(kept === undefined ? report : `${report}\n${kept}`, { ...(await prettier.resolveConfig(resultsFile)), parser: 'markdown' });
writeFileSync(resultsFile, formatted);
process.stdout.write(formatted);
