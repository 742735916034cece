import { useMemo } from 'react';
import { renderHeatmap, type CellNaming, type HeatmapData } from '../charts/heatmap';
import { cancelRemoval } from '../store/actions';
import { candidatesIn, defaultCandidateSet, defaultSteps, removalCost, runRemoval, setRemovalConfig, setRemovalCount } from '../store/removal-actions';
import { useLopper, type LopperState } from '../store/state';
import type { RemovalReport } from '../worker/protocol';
import { formatCount, formatMs, formatNumber, formatPercent } from './format';
import { useChart } from './use-chart';
import { useSteadyEta } from './eta';
import { ChartExports } from './ChartExports';
import { Choice } from './Choice';
import { speedNote } from '../io/ecosystem/notes';
import { CANDIDATE_SETS, OUTPUT_CHANGE_METRICS } from '../core/options';

const selectRemoval = (s: LopperState) => s.removal;
const selectModel = (s: LopperState) => s.model;
const selectDense = (s: LopperState) => s.denseEvaluation;
const selectJobs = (s: LopperState) => s.jobs;

const REMOVAL_CELLS: CellNaming = {
  testId: 'removal-cell',
  rowAttribute: 'data-candidate',
  columnAttribute: 'data-step',
  columnValue: (_step, index) => String(index),
  columnLabel: (_step, index) => `step ${index + 1}`,
};

const renderRemovalHeatmap = (el: HTMLElement, data: HeatmapData) => renderHeatmap(el, data, { naming: REMOVAL_CELLS, cellWidth: 40, cellHeight: 30 });

/** Candidates × greedy steps: the output change of removing each candidate at each step. */
function heatmapOf(report: RemovalReport): HeatmapData {
  const columns = report.steps.map((_, i) => i);
  const values = report.candidates.map((candidate) => report.steps.map((step) => step.scores[candidate] ?? null));
  const marks = new Set(report.steps.flatMap((step, i) => (step.removed ? [`${step.removed}|${i}`] : [])));
  const rows = report.candidates.map((name) => ({ name, detail: /attn|attention/.test(name) ? 'attention' : /mlp/.test(name) ? 'FFN' : 'layer / branch' }));
  return { rows, columns, values, dense: 0, metric: `${report.metric} change`, higherIsBetter: false, marks, columnTitle: 'greedy step', rowTitle: 'candidate' };
}

function Influence({ report }: { report: RemovalReport }) {
  if (report.blockInfluence.length === 0) return null;
  const ranked = [...report.blockInfluence].sort((a, b) => a.influence - b.influence);
  return (
    <div className="influence">
      <h3>ShortGPT Block Influence (one-shot, lowest first)</h3>
      <ol data-testid="block-influence">
        {ranked.map((b) => (
          <li key={b.block}>
            {b.block} <span className="hint">{formatNumber(b.influence)}</span>
          </li>
        ))}
      </ol>
    </div>
  );
}

function Effect() {
  const removal = useLopper(selectRemoval);
  const model = useLopper(selectModel);
  const dense = useLopper(selectDense);
  const applied = removal.applied;
  if (!model || !removal.report) return null;
  const completed = removal.report.steps.filter((s) => s.removed !== '').length;
  return (
    <div className="removal-effect">
      <label className="field">
        <span>Remove</span>
        <input
          type="range"
          data-testid="removal-count"
          min={0}
          max={completed}
          step={1}
          value={removal.count}
          disabled={completed === 0 || removal.status === 'running'}
          aria-valuetext={`${removal.count} sublayers removed`}
          onChange={(e) => setRemovalCount(Number(e.target.value))}
        />
        <span>
          {removal.count} of {removal.report.candidates.length} sublayers
        </span>
      </label>
      <small className="hint">{speedNote('removal', model.format).text}</small>
      {applied && applied.count === removal.count && (
        <dl className="facts" data-testid="removal-effect">
          {applied.evaluation.perplexity !== undefined && (
            <>
              <dt>Perplexity</dt>
              <dd data-testid="removal-perplexity" data-value={String(applied.evaluation.perplexity)}>
                {formatNumber(applied.evaluation.perplexity)} (dense {dense?.perplexity !== undefined ? formatNumber(dense.perplexity) : '—'})
              </dd>
            </>
          )}
          {applied.evaluation.accuracy !== undefined && (
            <>
              <dt>Accuracy</dt>
              <dd data-testid="removal-accuracy" data-value={String(applied.evaluation.accuracy)}>
                {formatPercent(applied.evaluation.accuracy)} (dense {dense?.accuracy !== undefined ? formatPercent(dense.accuracy) : '—'})
              </dd>
            </>
          )}
          {applied.evaluation.divergence !== undefined && (
            <>
              <dt>JS divergence vs dense</dt>
              <dd data-testid="removal-divergence">{formatNumber(applied.evaluation.divergence)}</dd>
            </>
          )}
          <dt>Parameters</dt>
          <dd data-testid="removal-params" data-value={String(applied.params)}>
            {formatCount(applied.params)} of {formatCount(model.totalParams)} ({formatPercent(applied.params / model.totalParams)})
          </dd>
        </dl>
      )}
    </div>
  );
}

export function RemovalPanel() {
  const removal = useLopper(selectRemoval);
  const model = useLopper(selectModel);
  const jobs = useLopper(selectJobs);
  const report = removal.report;
  const data = useMemo(() => (report && report.steps.length > 0 ? heatmapOf(report) : null), [report]);
  const host = useChart(renderRemovalHeatmap, data);
  const eta = useSteadyEta(removal.done, removal.total, removal.startedAt, removal.status === 'running');
  const denseEvaluation = useLopper(selectDense);
  if (!model) return null;
  const running = removal.status === 'running';
  const job = removal.jobId === undefined ? undefined : jobs.find((j) => j.id === removal.jobId);
  const set = removal.config.candidates ?? defaultCandidateSet(model);
  const candidates = candidatesIn(model, set);
  const none = candidates.length === 0;
  const steps = Math.min(removal.config.steps ?? defaultSteps(candidates.length), candidates.length);
  const cost = removalCost(candidates.length, steps, denseEvaluation?.latencyMs);
  const kinds = model.removalKinds;
  return (
    <section className="panel removal" aria-labelledby="removal-title">
      <h2 id="removal-title">Layer removal (FinerCut)</h2>
      <p className="hint">
        Greedy: at each step every remaining {model.format === 'hf-transformer' ? 'attention and FFN sublayer' : 'residual branch or shape-preserving layer'} is removed in turn on
        top of the earlier removals; the one that changes the outputs least goes.{' '}
        {model.removalCandidates.length === 0 ? 'This model has no removal candidates.' : `${candidates.length} of ${model.removalCandidates.length} candidates.`}
      </p>
      <div className="sweep-controls">
        <Choice label="Output change" value={removal.config.metric} options={OUTPUT_CHANGE_METRICS} disabled={running} onChange={(metric) => setRemovalConfig({ metric })} />
        {kinds !== undefined && (
          <Choice
            label="Candidates"
            testId="removal-candidates"
            value={set}
            options={CANDIDATE_SETS}
            disabled={running}
            unavailable={(option) =>
              candidatesIn(model, option).length === 0 ? `this model has no ${option === 'branches' ? 'residual branches' : 'shape-preserving layers'}` : undefined
            }
            onChange={(candidatesSet) => setRemovalConfig({ candidates: candidatesSet, steps: undefined })}
          />
        )}
        <label className="field">
          <span>Steps</span>
          <input
            type="number"
            min={1}
            max={Math.max(1, candidates.length)}
            value={steps}
            disabled={running || none}
            onChange={(e) => setRemovalConfig({ steps: Math.max(1, Math.min(candidates.length, Number(e.target.value) || 1)) })}
          />
        </label>
        <button type="button" className="button" data-testid="removal-run" disabled={running || none} onClick={() => void runRemoval()}>
          Run removal search
        </button>
        <button type="button" className="button secondary" data-testid="removal-cancel" disabled={!running || !job} onClick={cancelRemoval}>
          Cancel
        </button>
      </div>
      {!running && !none && (
        <p className="hint" data-testid="removal-estimate">
          {formatCount(cost.evaluations)} forward passes ({candidates.length} candidates, {steps} steps)
          {cost.seconds !== undefined ? `, about ${formatMs(cost.seconds * 1000)} at the measured ${formatMs(denseEvaluation?.latencyMs ?? 0)} per pass` : ''}.
        </p>
      )}
      {removal.status !== 'idle' && (
        <div className="sweep-progress">
          <progress data-testid="removal-progress" data-status={removal.status} max={removal.total || 1} value={removal.done} aria-label="Removal search progress" />
          <span>
            {removal.status}: {removal.done}/{removal.total} evaluations{eta}
            {report && !running ? ` · ${report.seconds.toFixed(1)} s` : ''}
          </span>
        </div>
      )}
      {report && (
        <div className="sweep-body">
          <div className="heatmap-column">
            <div className="heatmap-host" data-testid="removal-heatmap" ref={host} />
            <ChartExports
              host={host.current}
              name={`removal-${report.metric}`}
              title={`FinerCut greedy removal: ${report.metric} change per candidate and step`}
              label="removal heatmap"
            />
          </div>
          <div className="curves">
            <Effect />
            <Influence report={report} />
          </div>
        </div>
      )}
    </section>
  );
}
