import { useMemo, useState } from 'react';
import { renderCurves, type CurvesData } from '../charts/curves';
import { renderHeatmap, type HeatmapData } from '../charts/heatmap';
import { CRITERIA, GRANULARITIES } from '../core/criteria/types';
import { cancelJob } from '../store/actions';
import { useLopper, type LopperState } from '../store/state';
import { runSweep, setPlanSparsity, setSweepConfig, sweepAsCsv, sweepAsJson, sweepGrid, toggleCurve } from '../store/sweep-actions';
import type { SweepReport } from '../worker/protocol';
import { downloadBlob, downloadText, svgMarkup, svgToPng } from './download';
import { formatCount, formatMs } from './format';
import { useChart } from './use-chart';
import { Choice } from './Choice';
import { SWEEP_METRICS } from '../core/options';

const selectSweep = (s: LopperState) => s.sweep;
const selectModel = (s: LopperState) => s.model;
const selectData = (s: LopperState) => s.data;
const selectPlan = (s: LopperState) => s.plan.sparsity;
const selectJobs = (s: LopperState) => s.jobs;
const selectBase = (s: LopperState) => s.delta.base;

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
  const unsupported = sweep.config.criterion === 'sparsegpt' && sweep.config.granularity === 'channels' ? 'SparseGPT does not prune whole channels' : null;
  const sweepJob = jobs.find((j) => j.label === 'Sensitivity sweep' || j.label.startsWith('Sweeping'));
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
        value={sweep.config.metric}
        options={SWEEP_METRICS}
        disabled={running}
        isOptionDisabled={(m) => !labelled && (m === 'accuracy' || m === 'loss')}
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
      <button type="button" className="button secondary" data-testid="sweep-cancel" disabled={!running || !sweepJob} onClick={() => sweepJob && cancelJob(sweepJob.id)}>
        Cancel
      </button>
      {typeof grid === 'string' && <span className="field-error">{grid}</span>}
      {unsupported && <span className="field-error">{unsupported}</span>}
      {!labelled && <span className="hint">No labels: the metric is the divergence from the dense outputs.</span>}
    </div>
  );
}

function Progress() {
  const sweep = useLopper(selectSweep);
  if (sweep.status === 'idle') return null;
  const elapsed = performance.now() - sweep.startedAt;
  const eta = sweep.done > 0 && sweep.status === 'running' ? ` · about ${formatMs((elapsed / sweep.done) * (sweep.total - sweep.done))} left` : '';
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
  const svg = () => (heatmapHost ? svgMarkup(heatmapHost) : null);
  return (
    <div className="buttons exports" aria-label="Export the sweep">
      <button type="button" className="button small" data-testid="sweep-export-json" onClick={() => downloadText(`${base}.json`, sweepAsJson(report), 'application/json')}>
        JSON
      </button>
      <button type="button" className="button small" data-testid="sweep-export-csv" onClick={() => downloadText(`${base}.csv`, sweepAsCsv(report), 'text/csv')}>
        CSV
      </button>
      <button
        type="button"
        className="button small"
        onClick={() => {
          const markup = svg();
          if (markup) downloadText(`${base}.svg`, markup, 'image/svg+xml');
        }}
      >
        SVG
      </button>
      <button
        type="button"
        className="button small"
        onClick={() => {
          const markup = svg();
          const box = heatmapHost?.querySelector('svg');
          if (markup && box) void svgToPng(markup, box.width.baseVal.value, box.height.baseVal.value).then((png) => downloadBlob(`${base}.png`, png));
        }}
      >
        PNG
      </button>
    </div>
  );
}

const renderClickableHeatmap = (el: HTMLElement, data: HeatmapData) => renderHeatmap(el, data, { onCellClick: setPlanSparsity });

export function SweepPanel() {
  const sweep = useLopper(selectSweep);
  const model = useLopper(selectModel);
  const plan = useLopper(selectPlan);
  const report = sweep.report;
  const heatmapData = useMemo<HeatmapData | null>(() => {
    if (!report || !model) return null;
    const rows = report.layers.map((unit) => {
      const layer = model.layers.find((l) => unit === l.name) ?? model.layers.find((l) => unit.startsWith(`${l.name}/`));
      return { name: unit, detail: layer ? `${layer.type} · ${formatCount(layer.params)} params` : '' };
    });
    const dense = Number.isNaN(report.dense) ? (report.values.flat().find((v) => v !== null) ?? 0) : report.dense;
    const marks = new Set(
      Object.entries(plan)
        .filter(([, s]) => s > 0)
        .map(([unit, s]) => `${unit}|${report.sparsities.indexOf(s)}`),
    );
    return { rows, columns: report.sparsities, values: report.values, dense, metric: report.metric, higherIsBetter: report.metric === 'accuracy', marks };
  }, [report, model, plan]);
  const curvesData = useMemo<CurvesData | null>(() => {
    if (!report || sweep.curves.length === 0) return null;
    const series = sweep.curves
      .filter((unit) => report.layers.includes(unit))
      .map((unit) => {
        const row = report.values[report.layers.indexOf(unit)];
        const points = report.sparsities.flatMap((s, i): [number, number][] => (row[i] === null ? [] : [[s, row[i] as number]]));
        return { name: unit, points };
      });
    return { series, dense: Number.isNaN(report.dense) ? 0 : report.dense, metric: report.metric };
  }, [report, sweep.curves]);
  const heatmapHost = useChart(renderClickableHeatmap, heatmapData);
  const curvesHost = useChart(renderCurves, curvesData);
  if (!model) return null;
  return (
    <section className="panel sweep" aria-labelledby="sweep-title">
      <h2 id="sweep-title">Sensitivity sweep</h2>
      <p className="hint">Prunes one layer at a time at each sparsity, every other layer dense, and measures the model. Click a cell to put that sparsity in the plan.</p>
      <Controls />
      <Progress />
      {report && (
        <div className="sweep-body">
          <div className="heatmap-host" data-testid="sweep-heatmap" ref={heatmapHost} />
          <div className="curves">
            <div className="buttons" role="group" aria-label="Layers to draw as curves">
              {report.layers.map((unit) => (
                <button key={unit} type="button" className="button small secondary" aria-pressed={sweep.curves.includes(unit)} onClick={() => toggleCurve(unit)}>
                  {unit}
                </button>
              ))}
            </div>
            {curvesData ? <div className="chart-host" data-testid="sweep-curves" ref={curvesHost} /> : <p className="hint">Pick layers above to compare their curves.</p>}
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
