import { useMemo, useState } from 'react';
import { renderCurves, type CurvesData } from '../charts/curves';
import { renderHeatmap, type HeatmapData } from '../charts/heatmap';
import { CRITERIA, GRANULARITIES } from '../core/criteria/types';
import { cancelSweep } from '../store/actions';
import { useLopper, type LopperState } from '../store/state';
import { openSweepFile, runSweep, setPlanSparsity, setSweepConfig, sweepAsCsv, sweepAsJson, sweepGrid, toggleCurve } from '../store/sweep-actions';
import type { SweepReport } from '../worker/protocol';
import { downloadText } from './download';
import { formatCount, formatPercent } from './format';
import { releaseUnits } from '../store/plan-actions';
import { passes } from './units';
import { useFilterContext, useLayerIndex } from './use-units';
import { ChartExports } from './ChartExports';
import { useSteadyEta } from './eta';
import { LockIcon } from './LockIcon';
import { useChart } from './use-chart';
import { Choice } from './Choice';
import { SWEEP_METRICS, type SweepMetric } from '../core/options';

const selectSweep = (s: LopperState) => s.sweep;
const selectModel = (s: LopperState) => s.model;
const selectData = (s: LopperState) => s.data;
const selectPlan = (s: LopperState) => s.plan.sparsity;
const selectLocked = (s: LopperState) => s.plan.locked;
const selectJobs = (s: LopperState) => s.jobs;
const selectBase = (s: LopperState) => s.delta.base;
const selectLanguage = (s: LopperState) => s.model?.format === 'hf-transformer';

/** The metric a sweep will really measure: loss for a language model's accuracy, a divergence without labels. */
function effectiveMetric(metric: SweepMetric, labelled: boolean, language: boolean): SweepMetric {
  if (!labelled && (metric === 'accuracy' || metric === 'loss')) return 'js';
  return language && metric === 'accuracy' ? 'loss' : metric;
}

function parseGrid(text: string): number[] | string {
  const values = text
    .split(/[\s,]+/)
    .filter(Boolean)
    .map(Number);
  if (values.length === 0) return 'Give at least one sparsity';
  const bad = values.find((v) => !Number.isFinite(v) || v < 0 || v > 1);
  if (bad !== undefined) return `Sparsities are numbers in [0, 1]; got ${bad}`;
  return [...new Set(values)].sort((a, b) => a - b);
}

function Controls() {
  const sweep = useLopper(selectSweep);
  const data = useLopper(selectData);
  const jobs = useLopper(selectJobs);
  const [gridText, setGridText] = useState(sweep.config.sparsities.join(', '));
  const grid = parseGrid(gridText);
  const running = sweep.status === 'running';
  const nm = sweep.config.granularity === '2:4' || sweep.config.granularity === '4:8';
  const labelled = data?.labelled ?? false;
  const language = useLopper(selectLanguage);
  const unsupported = sweep.config.criterion === 'sparsegpt' && sweep.config.granularity === 'channels' ? 'SparseGPT does not prune whole channels' : null;
  const sweepJob = sweep.jobId === undefined ? undefined : jobs.find((j) => j.id === sweep.jobId);
  const base = useLopper(selectBase);
  const model = useLopper(selectModel);
  const deltaUnavailable = model && !model.capabilities.delta ? (model.capabilities.unavailable['delta'] ?? 'delta pruning is not available for this model') : null;
  const delta = sweep.config.delta === true && base !== null && deltaUnavailable === null;
  return (
    <div className="sweep-controls">
      <Choice
        label="Criterion"
        ariaLabel="Sweep criterion"
        value={sweep.config.criterion}
        options={CRITERIA}
        disabled={running}
        onChange={(criterion) => setSweepConfig({ criterion })}
      />
      <Choice
        label="Granularity"
        ariaLabel="Sweep granularity"
        value={sweep.config.granularity}
        options={GRANULARITIES}
        disabled={running}
        unavailable={(g) => (model && !model.capabilities.granularities.includes(g) ? (model.capabilities.unavailable[g] ?? `${g} is not available for this model`) : undefined)}
        onChange={(granularity) => setSweepConfig({ granularity })}
      />
      <Choice
        label="Metric"
        ariaLabel="Sweep metric"
        value={effectiveMetric(sweep.config.metric, labelled, language)}
        options={SWEEP_METRICS}
        disabled={running}
        unavailable={(m) =>
          language && m === 'accuracy'
            ? 'a language model is scored by its loss on the text'
            : !labelled && (m === 'accuracy' || m === 'loss')
              ? 'needs labelled data (or text)'
              : undefined
        }
        onChange={(metric) => setSweepConfig({ metric })}
      />
      <label className="field grid-field">
        <span>Sparsities</span>
        <input
          type="text"
          aria-label="Sweep sparsities"
          value={nm ? `0, ${sweepGrid(sweep.config.granularity, []).slice(1).join(', ')} (N:M)` : gridText}
          disabled={running || nm}
          aria-invalid={typeof grid === 'string'}
          onChange={(e) => {
            setGridText(e.target.value);
            const parsed = parseGrid(e.target.value);
            if (typeof parsed !== 'string') setSweepConfig({ sparsities: parsed });
          }}
        />
      </label>
      <label className="field">
        <input
          type="checkbox"
          data-testid="sweep-delta"
          checked={delta}
          disabled={running || base === null || deltaUnavailable !== null}
          onChange={(e) => setSweepConfig({ delta: e.target.checked, ...(e.target.checked ? { granularity: 'unstructured' } : {}) })}
        />
        <span title={deltaUnavailable ?? (base ? `against ${base.name}` : 'load a base model in the plan first')}>Delta sensitivity (columns: DARE drop rate p)</span>
      </label>
      <button type="button" className="button" data-testid="sweep-run" disabled={running || typeof grid === 'string' || unsupported !== null} onClick={() => void runSweep()}>
        Run sweep
      </button>
      <button type="button" className="button secondary" data-testid="sweep-cancel" disabled={!running || !sweepJob} onClick={cancelSweep}>
        Cancel
      </button>
      <label className="button secondary small file-button" title="A sweep saved by lopper sweep, lopper merge or the JSON export below">
        Open a sweep file…
        <input
          type="file"
          accept=".json,application/json"
          data-testid="sweep-open"
          disabled={running}
          className="visually-hidden"
          onChange={(e) => {
            const file = e.target.files?.[0];
            e.target.value = '';
            if (file) void openSweepFile(file);
          }}
        />
      </label>
      {typeof grid === 'string' && <span className="field-error">{grid}</span>}
      {unsupported && <span className="field-error">{unsupported}</span>}
      {!labelled && <span className="hint">No labels: the metric is the divergence from the dense outputs.</span>}
      {labelled && language && <span className="hint">Text: each cell is the loss per token on the evaluation text (perplexity = e^loss).</span>}
    </div>
  );
}

function Progress() {
  const sweep = useLopper(selectSweep);
  const eta = useSteadyEta(sweep.done, sweep.total, sweep.startedAt, sweep.status === 'running');
  if (sweep.status === 'idle') return null;
  const label = sweep.status === 'running' ? 'Sweeping' : sweep.status === 'cancelled' ? 'Cancelled' : sweep.status === 'failed' ? 'Failed' : 'Done';
  return (
    <div className="sweep-progress">
      <progress data-testid="sweep-progress" max={sweep.total || 1} value={sweep.done} aria-label="Sweep progress" data-status={sweep.status} />
      <span>
        {label}: {sweep.done}/{sweep.total} cells{eta}
        {sweep.report && sweep.status !== 'running' ? ` · ${sweep.report.seconds.toFixed(1)} s on ${sweep.report.backend}` : ''}
      </span>
    </div>
  );
}

function Exports({ report, heatmapHost }: { report: SweepReport; heatmapHost: HTMLElement | null }) {
  const base = `sweep-${report.criterion}-${report.granularity}-${report.metric}`;
  const title = `Sensitivity of each unit (${report.criterion}, ${report.granularity}): ${report.metric}, dense ${Number.isNaN(report.dense) ? '—' : report.dense.toPrecision(4)}`;
  return (
    <div className="buttons exports" aria-label="Export the sweep" role="group">
      <button type="button" className="button small" data-testid="sweep-export-json" onClick={() => downloadText(`${base}.json`, sweepAsJson(report), 'application/json')}>
        JSON
      </button>
      <button type="button" className="button small" data-testid="sweep-export-csv" onClick={() => downloadText(`${base}.csv`, sweepAsCsv(report), 'text/csv')}>
        CSV
      </button>
      <ChartExports host={heatmapHost} name={base} title={title} />
    </div>
  );
}

const renderClickableHeatmap = (el: HTMLElement, data: HeatmapData) => renderHeatmap(el, data, { onCellClick: setPlanSparsity });

/** The units a heatmap click (or a slider) pinned, each with a way to release it. */
function Pins() {
  const locked = useLopper(selectLocked);
  const plan = useLopper(selectPlan);
  if (locked.length === 0) return null;
  const shown = locked.slice(-6);
  return (
    <div className="pins" data-testid="heatmap-pins" role="status">
      <span className="hint">Pinned (kept against the target):</span>
      {shown.map((unit) => (
        <span key={unit} className="pin" data-layer={unit}>
          <LockIcon locked /> {unit} {formatPercent(plan[unit] ?? 0)}{' '}
          <button type="button" className="link" data-testid="pin-release" data-layer={unit} onClick={() => releaseUnits([unit])} aria-label={`Release ${unit}`}>
            release
          </button>
        </span>
      ))}
      {locked.length > shown.length && <span className="hint">and {locked.length - shown.length} more</span>}
      {locked.length > 1 && (
        <button type="button" className="button small secondary" onClick={() => releaseUnits(locked)}>
          Release all
        </button>
      )}
    </div>
  );
}

/** The most curve toggles offered at once; a search narrows a larger model's list. */
const MAX_TOGGLES = 48;

/** Toggles for the curves chart: one Tab stop, arrow keys move between them. */
function CurveToggles({ units: all, drawn }: { units: string[]; drawn: string[] }) {
  const units = all.length > MAX_TOGGLES ? [...new Set([...drawn.filter((u) => all.includes(u)), ...all])].slice(0, MAX_TOGGLES) : all;
  const [active, setActive] = useState(0);
  const current = Math.min(active, Math.max(0, units.length - 1));
  return (
    <div
      className="buttons curve-toggles"
      role="toolbar"
      aria-label="Layers to draw as curves"
      onKeyDown={(e) => {
        const step = e.key === 'ArrowRight' || e.key === 'ArrowDown' ? 1 : e.key === 'ArrowLeft' || e.key === 'ArrowUp' ? -1 : 0;
        if (step === 0) return;
        e.preventDefault();
        const next = (current + step + units.length) % units.length;
        setActive(next);
        (e.currentTarget.querySelectorAll('button')[next] as HTMLButtonElement | undefined)?.focus();
      }}
    >
      {units.map((unit, i) => (
        <button
          key={unit}
          type="button"
          className="button small secondary"
          tabIndex={i === current ? 0 : -1}
          aria-pressed={drawn.includes(unit)}
          onFocus={() => setActive(i)}
          onClick={() => toggleCurve(unit)}
        >
          {unit}
        </button>
      ))}
      {all.length > units.length && <span className="hint">and {all.length - units.length} more: find them with the search above</span>}
    </div>
  );
}

export function SweepPanel() {
  const sweep = useLopper(selectSweep);
  const model = useLopper(selectModel);
  const plan = useLopper(selectPlan);
  const locked = useLopper(selectLocked);
  const context = useFilterContext();
  const index = useLayerIndex();
  const report = sweep.report;
  const [fit, setFit] = useState(false);
  const shownRows = useMemo(
    () => (report ? report.layers.map((unit, i) => ({ unit, i })).filter(({ unit }) => passes(unit, index.get(unit)?.type ?? '', true, context)) : []),
    [report, context, index],
  );
  const heatmapData = useMemo<HeatmapData | null>(() => {
    if (!report || !model) return null;
    const rows = shownRows.map(({ unit }) => {
      const layer = index.get(unit);
      return { name: unit, detail: layer ? `${layer.type} · ${formatCount(layer.params)} params` : '' };
    });
    const dense = Number.isNaN(report.dense) ? (report.values.flat().find((v) => v !== null) ?? 0) : report.dense;
    const marks = new Set(
      Object.entries(plan)
        .filter(([, s]) => s > 0)
        .map(([unit, s]) => `${unit}|${report.sparsities.indexOf(s)}`),
    );
    const metric = report.metric === 'accuracy' ? 'accuracy' : report.metric === 'loss' ? 'loss' : `${report.metric} divergence`;
    return {
      rows,
      columns: report.sparsities,
      values: shownRows.map(({ i }) => report.values[i]),
      dense,
      metric,
      higherIsBetter: report.metric === 'accuracy',
      marks,
      pinned: new Set(locked),
      columnTitle: report.delta ? 'DARE drop rate p' : `sparsity (${report.criterion}, ${report.granularity})`,
      rowTitle: 'unit',
      fit,
    };
  }, [report, model, plan, locked, shownRows, index, fit]);
  const curvesData = useMemo<CurvesData | null>(() => {
    if (!report || sweep.curves.length === 0) return null;
    const series = sweep.curves
      .filter((unit) => report.layers.includes(unit))
      .map((unit) => {
        const row = report.values[report.layers.indexOf(unit)];
        const points = report.sparsities.flatMap((s, i): [number, number][] => (row[i] === null ? [] : [[s, row[i] as number]]));
        return { name: unit, points };
      });
    return { series, dense: Number.isNaN(report.dense) ? 0 : report.dense, metric: report.metric, xTitle: report.delta ? 'DARE drop rate p' : 'sparsity of the one pruned unit' };
  }, [report, sweep.curves]);
  const heatmapHost = useChart(renderClickableHeatmap, heatmapData);
  const curvesHost = useChart(renderCurves, curvesData);
  if (!model) return null;
  return (
    <section className="panel sweep" aria-labelledby="sweep-title">
      <h2 id="sweep-title">Sensitivity sweep</h2>
      <p className="hint">
        Prunes one unit at a time at each sparsity, every other unit dense, and measures the model. Click a cell (or move to it with the arrow keys and press Enter) to pin that
        unit at that sparsity in the plan.
      </p>
      <Controls />
      <Progress />
      {report && (
        <div className="sweep-body">
          <div className="heatmap-column">
            <Pins />
            {shownRows.length < report.layers.length && (
              <p className="hint">
                {shownRows.length} of {report.layers.length} units shown (search and filters above).
              </p>
            )}
            <label className="field">
              <input type="checkbox" checked={fit} onChange={(e) => setFit(e.target.checked)} />
              <span>Fit the columns to the width</span>
            </label>
            <div className="heatmap-host" data-testid="sweep-heatmap" ref={heatmapHost} />
          </div>
          <div className="curves">
            <CurveToggles units={shownRows.map((r) => r.unit)} drawn={sweep.curves} />
            {curvesData ? <div className="chart-host" data-testid="sweep-curves" ref={curvesHost} /> : <p className="hint">Pick layers above to compare their curves.</p>}
            {curvesData && <ChartExports host={curvesHost.current} name={`curves-${report.metric}`} title={`${report.metric} against sparsity`} label="curves" />}
          </div>
          {report.skipped.length > 0 && (
            <ul className="hint">
              {report.skipped.map((s) => (
                <li key={s.unit}>
                  {s.unit}: {s.reason}
                </li>
              ))}
            </ul>
          )}
          {sweep.status !== 'running' && <Exports report={report} heatmapHost={heatmapHost.current} />}
        </div>
      )}
    </section>
  );
}
