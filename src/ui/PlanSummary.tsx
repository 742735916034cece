import { useMemo } from 'react';
import { renderSparkline, type SparklineData } from '../charts/sparkline';
import { evaluatePlanFully, redo, releaseUnits, setGlobalTarget, undo } from '../store/plan-actions';
import { selectBusy, useLopper, type LopperState } from '../store/state';
import { headlineOf, useView, type ViewState } from '../store/view';
import { formatBytes, formatCount, formatNumber, formatPercent } from './format';
import { LockIcon } from './LockIcon';
import { SparsitySlider } from './SparsitySlider';
import { useChart } from './use-chart';

const selectPlan = (s: LopperState) => s.plan;
const selectResult = (s: LopperState) => s.planResult;
const selectModel = (s: LopperState) => s.model;
const selectDense = (s: LopperState) => s.denseEvaluation;
const selectEvaluation = (s: LopperState) => s.evaluation;
const selectHistory = (s: LopperState) => s.history;
const selectRecent = (s: ViewState) => s.recent;
const selectData = (s: LopperState) => s.data;

const METRIC_LABELS: Record<string, string> = { accuracy: 'Accuracy', perplexity: 'Perplexity', divergence: 'JS divergence vs dense', loss: 'Loss' };
const showMetric = (metric: string, v: number): string => (metric === 'accuracy' ? formatPercent(v) : formatNumber(v));

function Sparkline({ data }: { data: SparklineData }) {
  const host = useChart(renderSparkline, data);
  return <span ref={host} className="sparkline-host" data-testid="plan-sparkline" />;
}

/** The pinned units: what keeps them from following the global target, and a way to release them. */
function Pinned({ locked }: { locked: string[] }) {
  if (locked.length === 0) return null;
  const names = locked.length <= 3 ? locked.join(', ') : `${locked.slice(0, 2).join(', ')} and ${locked.length - 2} more`;
  return (
    <p className="pinned-note" data-testid="pinned-note">
      <LockIcon locked /> {locked.length} pinned ({names}): they keep their own sparsity, the target applies to the rest.{' '}
      <button type="button" className="link" onClick={() => releaseUnits(locked)}>
        Release all
      </button>
    </p>
  );
}

/** What the live metric was measured on; a large model's live evaluation uses the calibration subset, the full one is a click away. */
function Scope({ result }: { result: LopperState['planResult'] }) {
  const scope = result?.scope;
  if (!scope || (!scope.subset && result.sizes.gzipBytes !== undefined)) return null;
  return (
    <small className="hint" data-testid="plan-evaluation-scope" data-subset={String(scope.subset)} data-size={scope.size} data-of={scope.of}>
      {' '}
      {scope.subset
        ? `on ${formatCount(scope.size)} of ${formatCount(scope.of)} ${scope.unit} (calibration subset)`
        : `on all ${formatCount(scope.of)} ${scope.unit}, size not yet gzipped`}{' '}
      <button type="button" className="link" data-testid="plan-full-evaluation" onClick={evaluatePlanFully}>
        Full evaluation
      </button>
    </small>
  );
}

/** Always visible above the views: the target, what the plan achieves, what is left, and the live metric against dense. */
export function PlanSummary() {
  const plan = useLopper(selectPlan);
  const result = useLopper(selectResult);
  const model = useLopper(selectModel);
  const dense = useLopper(selectDense);
  const evaluation = useLopper(selectEvaluation);
  const history = useLopper(selectHistory);
  const busy = useLopper(selectBusy);
  const data = useLopper(selectData);
  const recent = useView(selectRecent);
  const live = headlineOf(result?.evaluation ?? evaluation);
  const denseHeadline = headlineOf(dense);
  const denseValue = live && denseHeadline?.metric === live.metric ? denseHeadline.value : live?.metric === 'divergence' ? 0 : null;
  const sparkline = useMemo<SparklineData | null>(() => {
    if (!live || recent.length < 2) return null;
    const values = recent.filter((p) => p.metric === live.metric).map((p) => p.value);
    return { values, dense: denseValue, label: `${METRIC_LABELS[live.metric] ?? live.metric} of the last ${values.length} evaluations of the plan` };
  }, [recent, live, denseValue]);
  if (!model) return null;
  const nonZero = result ? Math.round(model.totalParams - model.prunableParams * result.overall) : null;
  return (
    <section className="summary" aria-label="Plan summary" data-testid="plan-summary">
      <div className="summary-target">
        <label className="field global">
          <span>Target sparsity</span>
          <SparsitySlider testId="global-sparsity" dragKey="global" label="Global sparsity" value={plan.target} onChange={setGlobalTarget} />
          <output>{formatPercent(plan.target)}</output>
        </label>
        <div className="buttons">
          <button type="button" className="button small secondary" data-testid="plan-undo" disabled={history.past.length === 0} onClick={undo} title="Undo (Ctrl+Z)">
            Undo
          </button>
          <button type="button" className="button small secondary" data-testid="plan-redo" disabled={history.future.length === 0} onClick={redo} title="Redo (Ctrl+Shift+Z)">
            Redo
          </button>
        </div>
        {result?.note && (
          <p className="field-error" role="status">
            {result.note}
          </p>
        )}
        <Pinned locked={plan.locked} />
      </div>
      <dl className="summary-facts" data-testid="plan-live" aria-busy={busy}>
        <div>
          <dt>Achieved</dt>
          <dd data-testid="plan-sparsity" data-value={String(result?.overall ?? model.sparsity)}>
            {formatPercent(result?.overall ?? model.sparsity)} <small>of {formatCount(model.prunableParams)} prunable</small>
          </dd>
        </div>
        <div>
          <dt>Parameters left</dt>
          <dd title="Stored parameters (after removals and shrunk channels) · non-zero parameters">
            {formatCount(result?.params ?? model.totalParams)} stored <small>· {formatCount(nonZero ?? model.totalParams)} non-zero</small>
          </dd>
        </div>
        <div>
          <dt>Size</dt>
          <dd data-testid="plan-sizes">
            {result ? (
              <>
                {formatBytes(result.sizes.denseBytes)} float32{' '}
                <small>· {result.sizes.gzipBytes !== undefined ? `${formatBytes(result.sizes.gzipBytes)} gzipped` : 'gzipped on full evaluation'}</small>
                {result.sizes.shrunkBytes !== undefined && <small> · {formatBytes(result.sizes.shrunkBytes)} shrunk</small>}
              </>
            ) : (
              `${formatBytes(model.totalParams * 4)} float32`
            )}
          </dd>
        </div>
        <div>
          <dt>{live ? (METRIC_LABELS[live.metric] ?? live.metric) : 'Metric'}</dt>
          <dd data-testid="plan-metric" data-value={live ? String(live.value) : undefined}>
            {live ? showMetric(live.metric, live.value) : '—'}{' '}
            <small>
              {denseValue !== null && live ? `dense ${showMetric(live.metric, denseValue)}` : ''}
              {busy ? ' · measuring…' : ''}
            </small>
            {data?.synthetic && live?.metric === 'divergence' && <small className="hint"> (data-free)</small>}
            <Scope result={result} />
          </dd>
        </div>
        {sparkline && (
          <div>
            <dt>Recent</dt>
            <dd>
              <Sparkline data={sparkline} />
            </dd>
          </div>
        )}
      </dl>
    </section>
  );
}
