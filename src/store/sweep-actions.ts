import type { Granularity } from '../core/criteria/types';
import { CancelledError, type SweepConfig, type SweepReport } from '../worker/protocol';
import { frameBatch } from './frame-batch';
import { client, runJob } from './actions';
import { setUnitSparsity } from './plan-actions';
import { useLopper, type SweepState } from './state';
import { parseSweepFile, SweepFileError } from './sweep-file';

/** The columns a sweep fills: N:M has only [0, N/M] (DESIGN §6). */
export function sweepGrid(granularity: Granularity, sparsities: number[]): number[] {
  const nm = /^(\d+):(\d+)$/.exec(granularity);
  return nm ? [0, Number(nm[1]) / Number(nm[2])] : sparsities;
}

function setSweep(patch: Partial<SweepState>): void {
  useLopper.setState((s) => ({ sweep: { ...s.sweep, ...patch } }));
}

export function setSweepConfig(patch: Partial<SweepConfig>): void {
  useLopper.setState((s) => ({ sweep: { ...s.sweep, config: { ...s.sweep.config, ...patch } } }));
}

function emptyReport(config: SweepConfig, units: string[], dataHash: string): SweepReport {
  const sparsities = sweepGrid(config.granularity, config.sparsities);
  return {
    criterion: config.criterion,
    granularity: config.granularity,
    metric: config.metric,
    sparsities,
    layers: units,
    values: units.map(() => sparsities.map(() => null)),
    dense: NaN,
    dataHash,
    backend: useLopper.getState().backend?.name ?? '',
    seconds: 0,
    cancelled: false,
    skipped: [],
  };
}

/** Runs a sweep in the worker; cells land in the store as they arrive, a cancel keeps them. */
export async function runSweep(): Promise<void> {
  const { model, data, sweep } = useLopper.getState();
  if (!model || !data || sweep.status === 'running') return;
  const chosen = sweep.config.metric;
  // Without labels only divergences apply; a language model scores text by its loss, not accuracy.
  const metric = !data.labelled && (chosen === 'accuracy' || chosen === 'loss') ? 'js' : model.format === 'hf-transformer' && chosen === 'accuracy' ? 'loss' : chosen;
  const delta = sweep.config.delta === true && useLopper.getState().delta.base !== null;
  const config = { ...sweep.config, metric, delta, ...(delta ? { granularity: 'unstructured' as const } : {}) };
  const report = emptyReport(config, model.units, data.hash);
  const total = model.units.length * report.sparsities.length;
  setSweep({ status: 'running', config, report, done: 0, total, startedAt: performance.now() });
  let cancelled = false;
  // Cells land in the store once per frame: one copy of the grid and one redraw for all that came in.
  const cells = frameBatch<{ unit: string; sparsity: number; value: number; done: number }>((batch) =>
    useLopper.setState((s) => {
      const current = s.sweep.report;
      if (!current) return {};
      const values = current.values.map((row) => [...row]);
      let dense = current.dense;
      for (const { unit, sparsity, value } of batch) {
        const row = current.layers.indexOf(unit);
        const column = current.sparsities.indexOf(sparsity);
        if (row < 0 || column < 0) continue;
        values[row][column] = value;
        if (sparsity === 0 && Number.isNaN(dense)) dense = value;
      }
      return { sweep: { ...s.sweep, done: batch[batch.length - 1].done, report: { ...current, values, dense } } };
    }),
  );
  const result = await runJob(
    'Sensitivity sweep',
    async (signal, onProgress) => {
      try {
        return await client.call('sweep', config, {
          signal,
          onProgress: (p) => {
            onProgress(p);
            if (p.cell) cells.push({ ...p.cell, done: p.done });
          },
        });
      } catch (error) {
        if (error instanceof CancelledError) cancelled = true;
        throw error;
      } finally {
        cells.flush();
      }
    },
    true,
    (jobId) => setSweep({ jobId }),
  );
  if (result) setSweep({ status: result.cancelled ? 'cancelled' : 'done', report: result, done: result.values.flat().filter((v) => v !== null).length, jobId: undefined });
  else setSweep({ status: cancelled ? 'cancelled' : 'failed', jobId: undefined });
}

/** Shows a saved sweep of the open model (the CLI's or the page's JSON) as if it had just run here. */
export async function openSweepFile(file: { name: string; text(): Promise<string> }): Promise<void> {
  const { model, sweep } = useLopper.getState();
  if (!model || sweep.status === 'running') return;
  try {
    const report = parseSweepFile(await file.text(), file.name, model.units);
    const done = report.values.flat().filter((v) => v !== null).length;
    setSweep({ status: 'done', report, done, total: report.layers.length * report.sparsities.length, jobId: undefined });
    useLopper.setState({ error: null });
  } catch (error) {
    if (!(error instanceof SweepFileError)) throw error;
    useLopper.setState({ error: { message: error.message, file: error.file } });
  }
}

export function toggleCurve(unit: string): void {
  useLopper.setState((s) => {
    const curves = s.sweep.curves.includes(unit) ? s.sweep.curves.filter((u) => u !== unit) : [...s.sweep.curves, unit];
    return { sweep: { ...s.sweep, curves } };
  });
}

/** A heatmap click: that unit's sparsity in the plan, locked against the allocation. */
export const setPlanSparsity = setUnitSparsity;

export function sweepAsJson(report: SweepReport): string {
  const { cancelled: _cancelled, skipped, ...schema } = report;
  return `${JSON.stringify(skipped.length > 0 ? { ...schema, skipped } : schema, null, 2)}\n`;
}

export function sweepAsCsv(report: SweepReport): string {
  const lines = [['layer', ...report.sparsities.map(String)].join(',')];
  report.layers.forEach((unit, i) => lines.push([unit, ...report.values[i].map((v) => (v === null ? '' : String(v)))].join(',')));
  return `${lines.join('\n')}\n`;
}
