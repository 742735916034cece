import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { getCriterion } from '../core/criteria/registry';
import { CRITERIA, GRANULARITIES, type CriterionKey, type Granularity, type LayerKind } from '../core/criteria/types';
import type { PipelineData } from '../core/pipeline/data';
import { DEFAULT_SPARSITIES, SWEEP_METRICS, sweepGrid, type SweepCell, type SweepFile, type SweepMetric, type SweepResult } from '../core/sweep/engine';
import { TRANSFORMER_SWEEP_METRICS } from '../core/sweep/transformer-sweep';
import type { JobContext } from '../session/session';
import { choiceOption, numberOption, stringOption, UsageError, type ParsedArgs } from './args';
import { startBackend } from './backend';
import { modelPath, type Output } from './load';
import { openSession } from './session';

const LAYER_KINDS: readonly LayerKind[] = ['dense', 'conv', 'depthwise'];

function sparsitiesOption(args: ParsedArgs): readonly number[] {
  const value = stringOption(args, 'sparsities');
  if (value === undefined) return DEFAULT_SPARSITIES;
  const list = value.split(',').map((item) => item.trim());
  const numbers = list.map(Number);
  const bad = list.findIndex((item, i) => item === '' || !Number.isFinite(numbers[i]) || numbers[i] < 0 || numbers[i] > 1);
  if (bad >= 0) throw new UsageError(`--sparsities takes numbers in [0, 1] separated by commas, got "${list[bad]}" in "${value}"`);
  return numbers;
}

function seedOption(args: ParsedArgs): number {
  const seed = numberOption(args, 'seed', 0);
  if (!Number.isInteger(seed)) throw new UsageError(`--seed expects an integer, got ${seed}`);
  return seed;
}

/** Progress on stderr: one line per unit once its row is done. */
function rowReporter(units: number, started: number): (cell: SweepCell) => void {
  return (cell) => {
    const columns = cell.total / units;
    if ((cell.index + 1) % columns !== 0) return;
    const row = (cell.index + 1) / columns;
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    process.stderr.write(`lopper sweep: ${row}/${units} ${cell.unit} (${seconds} s)\n`);
  };
}

interface SweepArgs {
  outPath: string;
  /** `--shard i/n`: only the cells whose unit-major index ≡ i (mod n). */
  shard?: { i: number; n: number };
  criterion: CriterionKey;
  granularity: Granularity;
  sparsities: readonly number[];
  metric?: SweepMetric;
  seed: number;
}

/** Reads and checks the options before anything is loaded; a combination no layer allows is refused. */
function sweepArgs(args: ParsedArgs): SweepArgs {
  const outPath = stringOption(args, 'out');
  if (outPath === undefined) throw new UsageError('lopper sweep: --out <file> is required (the JSON result goes there)');
  const criterion = choiceOption(args, 'criterion', CRITERIA) ?? 'magnitude';
  const granularity = choiceOption(args, 'granularity', GRANULARITIES) ?? 'unstructured';
  const refusals = LAYER_KINDS.map((kind) => getCriterion(criterion).supports(kind, granularity)).filter((r): r is string => r !== true);
  if (refusals.length === LAYER_KINDS.length) throw new UsageError(refusals[0]);
  return { outPath, criterion, granularity, sparsities: sparsitiesOption(args), metric: choiceOption(args, 'metric', SWEEP_METRICS), seed: seedOption(args), ...shardOption(args) };
}

function shardOption(args: ParsedArgs): { shard?: { i: number; n: number } } {
  const value = stringOption(args, 'shard');
  if (value === undefined) return {};
  const match = /^(\d+)\/(\d+)$/.exec(value.trim());
  const i = Number(match?.[1]);
  const n = Number(match?.[2]);
  if (match === null || !(n >= 1) || !(i < n)) throw new UsageError(`--shard expects i/n with 0 ≤ i < n (e.g. 0/4), got "${value}"`);
  return { shard: { i, n } };
}

/**
 * One shard's cells, run unit by unit on the columns that fall to it (cell values do not depend on
 * the other cells of a sweep), placed into the full grid with null elsewhere.
 */
async function runShard(
  prepared: PreparedSweep,
  grid: number[],
  shard: { i: number; n: number },
  onCell: (cell: SweepCell) => void,
): Promise<SweepResult & { computed: boolean[][] }> {
  const rows = prepared.unitNames.length;
  const columns = grid.length;
  const computed = prepared.unitNames.map(() => grid.map(() => false));
  let merged: (SweepResult & { computed: boolean[][] }) | undefined;
  for (const [row, unit] of prepared.unitNames.entries()) {
    const wanted = grid.map((_, column) => column).filter((column) => (row * columns + column) % shard.n === shard.i);
    if (wanted.length === 0) continue;
    const part = await prepared.run(onCell, { units: [unit], sparsities: wanted.map((column) => grid[column]) });
    merged ??= { ...part, sparsities: grid, layers: [...prepared.unitNames], values: prepared.unitNames.map(() => grid.map(() => NaN)), skipped: [], cells: 0, computed };
    for (const [k, column] of wanted.entries()) {
      const index = part.sparsities.indexOf(grid[column]);
      merged.values[row][column] = part.values[0][index >= 0 ? index : k];
      computed[row][column] = true;
    }
    merged.skipped.push(...part.skipped);
    merged.cells += wanted.length;
  }
  if (merged === undefined) throw new UsageError(`--shard ${shard.i}/${shard.n} holds no cell of a ${rows} × ${columns} sweep`);
  return merged;
}

async function writeJson(path: string, value: SweepFile): Promise<void> {
  const target = resolve(path);
  await mkdir(dirname(target), { recursive: true });
  // JSON.stringify writes NaN (the cells of a unit the criterion skips) as null.
  await writeFile(target, `${JSON.stringify(value)}\n`);
}

/** A loaded model with its data, ready to sweep. */
interface PreparedSweep {
  unitNames: string[];
  metric: SweepMetric;
  dataHash: string;
  run(onCell: (cell: SweepCell) => void, select?: SweepSelection): Promise<SweepResult>;
  dispose(): void;
}

/** A restriction of a sweep to some units and sparsities (one shard's share). */
interface SweepSelection {
  units: readonly string[];
  sparsities: readonly number[];
}

/** The metric asked for, or the one that fits the data: accuracy with labels, loss on text, js data-free; a metric the data cannot give is refused. */
function sweepMetric(requested: SweepMetric | undefined, data: PipelineData): SweepMetric {
  const labelled = data.kind === 'samples' ? data.labels !== undefined : !data.synthetic;
  if (data.kind === 'tokens') {
    if (requested === 'accuracy') throw new UsageError(`--metric accuracy needs class labels; a language model sweeps ${TRANSFORMER_SWEEP_METRICS.join(', ')}`);
    if (requested === 'loss' && !labelled) throw new UsageError('the loss metric needs text (--data <file.txt>); without it use kl or js (divergence from the dense model)');
    return requested ?? (labelled ? 'loss' : 'js');
  }
  if ((requested === 'accuracy' || requested === 'loss') && !labelled) {
    throw new UsageError(`the ${requested} metric needs labelled data; without labels use kl or js (divergence from the dense model)`);
  }
  return requested ?? (labelled ? 'accuracy' : 'js');
}

/** The model with `--data` (a dataset .json, or text for a language model) or seeded synthetic data, swept through the page's session. */
async function prepareSweep(args: ParsedArgs, options: SweepArgs): Promise<PreparedSweep> {
  const session = await openSession(args, modelPath(args));
  try {
    const capabilities = session.kind.capabilities;
    if (!capabilities.granularities.includes(options.granularity)) {
      throw new UsageError(`--granularity ${options.granularity}: ${capabilities.unavailable[options.granularity] ?? `not available for a ${session.opened.format}`}`);
    }
    const metric = sweepMetric(options.metric, session.data);
    const { criterion, granularity, sparsities, seed } = options;
    const unitNames = session.summary.units;
    return {
      unitNames,
      metric,
      dataHash: session.data.hash,
      run: async (onCell, select) => {
        const grid = select?.sparsities ?? sparsities;
        const job: JobContext = {
          progress: (_label, done, total, event) => {
            if (event?.cell) onCell({ ...event.cell, index: done - 1, total });
          },
          cancelled: () => false,
        };
        const report = await session.sweep({ criterion, granularity, sparsities: [...grid], metric, seed }, job, select?.units);
        const values = report.values.map((row) => row.map((v) => (v === null ? NaN : v)));
        const skipped = report.skipped ?? [];
        const columns = report.sparsities.length;
        const cells = values.flat().filter((v) => !Number.isNaN(v)).length + skipped.length * columns;
        return {
          criterion: report.criterion,
          granularity: report.granularity,
          metric: report.metric,
          sparsities: report.sparsities,
          layers: report.layers,
          values,
          dense: report.dense,
          skipped,
          cancelled: report.cancelled,
          cells,
        };
      },
      dispose: () => session.dispose(),
    };
  } catch (error) {
    session.dispose();
    throw error;
  }
}

/**
 * `lopper sweep <model> [--data D] [--criterion C] [--granularity G] [--sparsities …] [--metric M]
 * [--seed S] --out F`: prunes one unit at a time at each sparsity and writes the metric grid as JSON
 * (DESIGN §6). `<model>` is a LayersModel, a GraphModel or an HF transformer folder (its projections are the
 * units; `--data` a .txt). Progress goes to stderr, one line per unit.
 */
export async function sweep(args: ParsedArgs, out: Output): Promise<void> {
  const options = sweepArgs(args);
  const backend = await startBackend(stringOption(args, 'backend'));
  const prepared = await prepareSweep(args, options);
  try {
    const { metric, dataHash } = prepared;
    const started = performance.now();
    const reporter = rowReporter(prepared.unitNames.length, started);
    const columns = sweepGrid(options.granularity, options.sparsities);
    const result = options.shard ? await runShard(prepared, columns, options.shard, () => undefined) : await prepared.run(reporter);
    const seconds = (performance.now() - started) / 1000;
    const { cancelled: _cancelled, cells, skipped, ...fields } = result;
    const grid = {
      criterion: fields.criterion,
      granularity: fields.granularity,
      metric: fields.metric,
      sparsities: fields.sparsities,
      layers: fields.layers,
      values: fields.values,
      dense: fields.dense,
    };
    const file: SweepFile = { ...grid, dataHash, backend, seconds, ...(skipped.length > 0 && { skipped }) };
    if (options.shard && 'computed' in result) {
      const computed = (result as { computed: boolean[][] }).computed;
      file.values = grid.values.map((row, r) => row.map((v, c) => (computed[r][c] ? v : null)));
      (file as SweepFile & { shard: { i: number; n: number } }).shard = options.shard;
    }
    await writeJson(options.outPath, file);
    if (out.json) {
      out.print({ out: options.outPath, cells, seconds });
    } else {
      const skippedNote = skipped.length > 0 ? `, ${skipped.length} units skipped` : '';
      process.stderr.write(
        `lopper sweep: ${grid.layers.length} units × ${grid.sparsities.length} sparsities (${cells} cells${skippedNote}) ` +
          `in ${seconds.toFixed(1)} s; dense ${metric} ${grid.dense.toPrecision(4)}; wrote ${options.outPath}\n`,
      );
    }
  } finally {
    prepared.dispose();
  }
}
