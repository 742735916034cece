/**
 * `npm run bench:load-memory [-- --models gpt2-small,llama-290m --commands open,inspect,eval,prune --before DIR --keep DIR]`:
 * the peak resident memory of the `lopper` command line on generated float32 Hugging Face folders
 * (config.json + model.safetensors, random weights), each command in a child process under
 * `/usr/bin/time -v` (its "Maximum resident set size"), divided by the model's float32 size
 * (4 bytes × parameters). Rows:
 *
 * - open: the model built as `eval` builds it before its first forward pass (`bench/open-model.ts`);
 * - inspect: `lopper inspect <model> --json`;
 * - eval: `lopper eval <model> --json --samples 1` (one synthetic window);
 * - prune: `lopper prune <model> --sparsity 0.5 --samples 1 --out <tmp> --json` (magnitude, uniform; the reload check included).
 *
 * `--before DIR` runs the same commands with the code of another checkout (e.g. an older commit
 * unpacked with `git archive`) and prints both. The goal beside each figure is the 1.5 ×
 * the float32 size. Prints a Markdown table; asserts nothing.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { gpt2Config, writeBenchTransformer } from '../scripts/make-bench-transformer';
import { SMOLLM_135M_CONFIG } from '../src/core/transformer/shapes';

const GOAL = 1.5;
const ROOT = resolve(import.meta.dirname, '..');

/** The generated shapes: GPT-2 small (124M parameters, 498 MB) and a LLaMA shape with grouped-query attention (289M, 1.16 GB). */
const MODELS: Record<string, () => Record<string, unknown>> = {
  'gpt2-small': () => gpt2Config(),
  'llama-290m': () => ({
    ...SMOLLM_135M_CONFIG,
    hidden_size: 768,
    intermediate_size: 2048,
    num_hidden_layers: 40,
    num_attention_heads: 12,
    num_key_value_heads: 4,
    torch_dtype: 'float32',
  }),
};

const COMMANDS = ['open', 'inspect', 'eval', 'prune'] as const;
type Command = (typeof COMMANDS)[number];

function listOption<T extends string>(name: string, allowed: readonly T[]): T[] {
  const at = process.argv.indexOf(`--${name}`);
  if (at < 0) return [...allowed];
  const values = (process.argv[at + 1] ?? '').split(',');
  const unknown = values.filter((v) => !allowed.includes(v as T));
  if (unknown.length > 0) throw new Error(`--${name}: unknown ${unknown.join(', ')} (expected ${allowed.join(', ')})`);
  return values as T[];
}

function stringOption(name: string): string | undefined {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? process.argv[at + 1] : undefined;
}

interface Measured {
  peakBytes: number;
  seconds: number;
}

/** Runs `args` (node's) under `/usr/bin/time -v`; its peak RSS and wall time. */
function measure(args: string[], cwd: string): Measured {
  const started = performance.now();
  const result = spawnSync('/usr/bin/time', ['-v', process.execPath, ...args], { cwd, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  const seconds = (performance.now() - started) / 1000;
  if (result.status !== 0) throw new Error(`node ${args.join(' ')} exited ${result.status}:\n${result.stderr.slice(-2000)}`);
  const peak = /Maximum resident set size \(kbytes\): (\d+)/.exec(result.stderr);
  if (peak === null) throw new Error(`no "Maximum resident set size" in the output of /usr/bin/time -v:\n${result.stderr.slice(-2000)}`);
  return { peakBytes: Number(peak[1]) * 1024, seconds };
}

function commandArgs(command: Command, root: string, model: string, out: string): string[] {
  const lopper = join(root, 'bin', 'lopper.js');
  switch (command) {
    case 'open':
      return ['--import', 'tsx', join(ROOT, 'bench', 'open-model.ts'), model, '--root', root];
    case 'inspect':
      return [lopper, 'inspect', model, '--json'];
    case 'eval':
      return [lopper, 'eval', model, '--json', '--samples', '1'];
    case 'prune':
      return [lopper, 'prune', model, '--sparsity', '0.5', '--samples', '1', '--out', out, '--json'];
  }
}

const gb = (bytes: number): string => `${(bytes / 1e9).toFixed(2)} GB`;

function cell(measured: Measured, float32Bytes: number): string {
  const ratio = measured.peakBytes / float32Bytes;
  return `${gb(measured.peakBytes)} (${ratio.toFixed(2)} ×, ${measured.seconds.toFixed(0)} s)`;
}

const models = listOption('models', Object.keys(MODELS));
const commands = listOption('commands', COMMANDS);
const before = stringOption('before');
const keep = stringOption('keep');
const work = keep === undefined ? mkdtempSync(join(tmpdir(), 'lopper-load-memory-')) : resolve(keep);
const rows: string[] = [];
try {
  for (const name of models) {
    const folder = join(work, name);
    const params = writeBenchTransformer(folder, MODELS[name](), 0);
    const float32Bytes = 4 * params;
    process.stderr.write(`${name}: ${params} parameters, ${gb(float32Bytes)} in float32\n`);
    for (const command of commands) {
      const out = join(work, `${name}-pruned`);
      const then = before === undefined ? undefined : measure(commandArgs(command, resolve(before), folder, out), resolve(before));
      const now = measure(commandArgs(command, ROOT, folder, out), ROOT);
      const met = now.peakBytes <= GOAL * float32Bytes ? 'yes' : 'no';
      const row = [name, command, ...(then ? [cell(then, float32Bytes)] : []), cell(now, float32Bytes), `≤ ${GOAL} × (${gb(GOAL * float32Bytes)})`, met];
      process.stderr.write(`  ${row.join(' | ')}\n`);
      rows.push(`| ${row.join(' | ')} |`);
    }
  }
} finally {
  if (keep === undefined) rmSync(work, { recursive: true, force: true });
}
const header = ['model', 'command', ...(before ? ['peak RSS before'] : []), 'peak RSS now', 'goal', 'met'];
process.stdout.write(
  `Peak RSS (/usr/bin/time -v) / float32 size; ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown CPU'}), ${gb(totalmem())}, Node ${process.version}, ${new Date().toISOString()}\n\n`,
);
process.stdout.write(`| ${header.join(' | ')} |\n| ${header.map(() => '---').join(' | ')} |\n${rows.join('\n')}\n`);
