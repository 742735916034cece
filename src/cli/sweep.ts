import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { getCriterion } from '../core/criteria/registry';
import { CRITERIA, GRANULARITIES, type CriterionKey, type Granularity, type LayerKind } from '../core/criteria/types';
import { DEFAULT_SPARSITIES, runSweep, SWEEP_METRICS, type SweepCell, type SweepFile, type SweepMetric } from '../core/sweep/engine';
import { numberOption, stringOption, UsageError, type ParsedArgs } from './args';
import { startBackend } from './backend';
import { loadData, loadModel, modelPath, type Output } from './load';

const LAYER_KINDS: readonly LayerKind[] = ['dense', 'conv', 'depthwise'];

function choiceOption<T extends string>(args: ParsedArgs, key: string, allowed: readonly T[]): T | undefined {
  const value = stringOption(args, key);
  if (value === undefined) return undefined;
  const match = allowed.find((candidate) => candidate === value);
  if (match === undefined) throw new UsageError(`--${key} must be one of ${allowed.join(', ')}, got "${value}"`);
  return match;
}

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
  return { outPath, criterion, granularity, sparsities: sparsitiesOption(args), metric: choiceOption(args, 'metric', SWEEP_METRICS), seed: seedOption(args) };
}

async function writeJson(path: string, value: SweepFile): Promise<void> {
  const target = resolve(path);
  await mkdir(dirname(target), { recursive: true });
  // JSON.stringify writes NaN (the cells of a unit the criterion skips) as null.
  await writeFile(target, `${JSON.stringify(value)}\n`);
}

/**
 * `lopper sweep <model> [--data D] [--criterion C] [--granularity G] [--sparsities …] [--metric M]
 * [--seed S] --out F`: prunes one unit at a time at each sparsity and writes the metric grid as JSON
 * (DESIGN §6). Progress goes to stderr, one line per unit.
 */
export async function sweep(args: ParsedArgs, out: Output): Promise<void> {
  const { outPath, criterion, granularity, sparsities, metric: requestedMetric, seed } = sweepArgs(args);
  const backend = await startBackend(stringOption(args, 'backend'));
  const { model } = await loadModel(modelPath(args));
  try {
    const data = await loadData(args, model);
    const metric = requestedMetric ?? (data.labels ? 'accuracy' : 'js');
    const started = performance.now();
    const onCell = rowReporter(model.units().length, started);
    const result = await runSweep(model, data, { criterion, granularity, sparsities, metric, seed, onCell });
    const seconds = (performance.now() - started) / 1000;
    const { cancelled: _cancelled, cells, skipped, ...grid } = result;
    await writeJson(outPath, { ...grid, dataHash: data.hash, backend, seconds, ...(skipped.length > 0 && { skipped }) });
    if (out.json) {
      out.print({ out: outPath, cells, seconds });
    } else {
      const skippedNote = skipped.length > 0 ? `, ${skipped.length} units skipped` : '';
      process.stderr.write(
        `lopper sweep: ${grid.layers.length} units × ${grid.sparsities.length} sparsities (${cells} cells${skippedNote}) ` +
          `in ${seconds.toFixed(1)} s; dense ${metric} ${grid.dense.toPrecision(4)}; wrote ${outPath}\n`,
      );
    }
  } finally {
    model.dispose();
  }
}
