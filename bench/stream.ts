/**
 * Row (f) of `npm run bench`, also `npm run bench:stream [-- --blocks N]`: a streamed prune of a
 * generated GPT-2-shaped model three times larger than `--max-memory`, against the in-memory prune of
 * the same plan. Both run as `lopper prune` child processes under `/usr/bin/time -v`; the outputs are
 * compared byte for byte before the memory figures count. Numbers only; it asserts nothing.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gpt2Config, writeBenchTransformer } from '../scripts/make-bench-transformer';
import type { BenchRow } from './transformers';

const LOPPER = join(import.meta.dirname, '..', 'bin', 'lopper.js');
const MiB = 2 ** 20;

interface Run {
  /** Maximum resident set size of the whole process, bytes. */
  peakRss: number;
  seconds: number;
  printed: { stream?: { baselineRss: number; peakRss: number; estimatedBytes: number } };
}

async function prune(model: string, out: string, extra: string[]): Promise<Run> {
  const started = performance.now();
  const args = ['-v', process.execPath, LOPPER, 'prune', model, '--sparsity', '0.5', '--criterion', 'wanda', '--samples', '2', '--out', out, '--json', ...extra];
  const { stdout, stderr } = await promisify(execFile)('/usr/bin/time', args, { maxBuffer: 16 * MiB });
  const kbytes = /Maximum resident set size \(kbytes\): (\d+)/.exec(stderr);
  return { peakRss: Number(kbytes?.[1] ?? NaN) * 1024, seconds: (performance.now() - started) / 1000, printed: JSON.parse(stdout) as Run['printed'] };
}

function sameFiles(a: string, b: string): string {
  const files = readdirSync(a).sort();
  if (readdirSync(b).sort().join() !== files.join()) return 'different file lists';
  const differing = files.filter((file) => Buffer.compare(readFileSync(join(a, file)), readFileSync(join(b, file))) !== 0);
  return differing.length === 0 ? `identical files (${files.length})` : `differ: ${differing.join(', ')}`;
}

export async function streamRows(dir: string, blocks: number, log: (line: string) => void): Promise<BenchRow[]> {
  const model = join(dir, `stream-${blocks}`);
  log(`bench: writing a ${blocks}-block GPT-2-shaped model (width 384) for the streamed prune`);
  writeBenchTransformer(model, gpt2Config(blocks, 384, 256, 64), 5);
  const size = statSync(join(model, 'model.safetensors')).size;
  const limit = Math.floor(size / 3);
  log(`bench: in-memory prune of ${(size / MiB).toFixed(0)} MiB`);
  const memory = await prune(model, join(dir, 'stream-memory'), []);
  log(`bench: streamed prune, --max-memory ${(limit / MiB).toFixed(0)} MiB`);
  const streamed = await prune(model, join(dir, 'stream-out'), ['--stream', '--max-memory', String(limit)]);
  const agree = sameFiles(join(dir, 'stream-memory'), join(dir, 'stream-out'));
  const stream = streamed.printed.stream ?? { baselineRss: NaN, peakRss: NaN, estimatedBytes: NaN };
  const growth = stream.peakRss - stream.baselineRss;
  const mib = (bytes: number): string => `${(bytes / MiB).toFixed(0)} MiB`;
  return [
    {
      row: `(f) streamed prune, wanda 50 %, ${blocks} blocks (${mib(size)} float32), --max-memory ${mib(limit)}`,
      lopper: `streamed: +${mib(growth)} over the runtime's ${mib(stream.baselineRss)} (peak RSS ${mib(streamed.peakRss)}, ${streamed.seconds.toFixed(1)} s)`,
      peer: `in memory: peak RSS ${mib(memory.peakRss)} (${memory.seconds.toFixed(1)} s)`,
      ratio: growth / limit,
      goal: 'growth / limit ≤ 1 on a model ≥ 3 × the limit',
      met: growth <= limit && size >= 3 * limit && agree.startsWith('identical'),
      agree,
    },
  ];
}

if (process.argv[1]?.endsWith('stream.ts')) {
  const index = process.argv.indexOf('--blocks');
  const blocks = index >= 0 ? Number(process.argv[index + 1]) : 60;
  const dir = mkdtempSync(join(tmpdir(), 'lopper-bench-stream-'));
  try {
    for (const row of await streamRows(dir, blocks, (line) => void process.stderr.write(`${line}\n`))) {
      process.stdout.write(`${row.row}\n  ${row.lopper}\n  ${row.peer}\n  ratio ${row.ratio.toFixed(2)} (${row.goal}): ${row.met ? 'met' : 'not met'}; ${row.agree}\n`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
