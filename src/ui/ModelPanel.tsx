import { useLopper, type LopperState } from '../store/state';
import { formatCount, formatMs, formatNumber, formatPercent, formatShape } from './format';
import { InputShapes } from './InputShapes';

const selectModel = (s: LopperState) => s.model;
const selectEvaluation = (s: LopperState) => s.evaluation;
const selectData = (s: LopperState) => s.data;

function Metric({ testId, label, value, render }: { testId: string; label: string; value: number | undefined; render: (v: number) => string }) {
  if (value === undefined) return null;
  return (
    <div className="metric">
      <dt>{label}</dt>
      <dd data-testid={testId} data-value={String(value)}>
        {render(value)}
      </dd>
    </div>
  );
}

export function EvaluationView() {
  const evaluation = useLopper(selectEvaluation);
  const data = useLopper(selectData);
  if (!evaluation) return <p className="hint">No evaluation yet.</p>;
  return (
    <dl className="metrics">
      <Metric testId="eval-accuracy" label="Accuracy" value={evaluation.accuracy} render={formatPercent} />
      <Metric testId="eval-loss" label="Loss (cross-entropy)" value={evaluation.loss} render={formatNumber} />
      <Metric testId="eval-perplexity" label="Perplexity" value={evaluation.perplexity} render={formatNumber} />
      <Metric testId="eval-divergence" label="JS divergence vs dense" value={evaluation.divergence} render={formatNumber} />
      <Metric testId="eval-latency" label={`Forward pass (batch ${evaluation.batchSize ?? '?'})`} value={evaluation.latencyMs} render={formatMs} />
      {evaluation.windowLength !== undefined && (
        <div className="metric">
          <dt>Windows</dt>
          <dd
            data-testid="eval-window"
            data-value={evaluation.windowLength}
            title={evaluation.windowCappedByMemory ? 'Shorter than the context length: a longer window would not fit the memory an evaluation may take.' : undefined}
          >
            {evaluation.windowLength} tokens{evaluation.windowCappedByMemory ? ', capped by memory' : ''}
          </dd>
        </div>
      )}
      <div className="metric">
        <dt>Samples</dt>
        <dd>
          {evaluation.samples}
          {data?.synthetic ? ' synthetic' : ''}
        </dd>
      </div>
    </dl>
  );
}

const selectHasPlan = (s: LopperState) => s.planResult !== null;

export function ModelPanel() {
  const model = useLopper(selectModel);
  const hasPlan = useLopper(selectHasPlan);
  if (!model) {
    return (
      <section className="panel" aria-labelledby="model-title">
        <h2 id="model-title">Model</h2>
        <p className="hint">Loading…</p>
      </section>
    );
  }
  return (
    <section className="panel" aria-labelledby="model-title">
      <h2 id="model-title">
        Model{' '}
        <span className="model-name" data-testid="model-name">
          {model.name}
        </span>
      </h2>
      <dl className="facts">
        <dt>Format</dt>
        <dd>{model.format}</dd>
        <dt>Input → output</dt>
        <dd>
          {formatShape(model.inputShape)} → {formatShape(model.outputShape)}
        </dd>
        <dt>Parameters</dt>
        <dd data-testid="total-params" data-value={model.totalParams}>
          {formatCount(model.totalParams)} ({formatCount(model.prunableParams)} prunable)
        </dd>
        <dt>FLOPs / sample</dt>
        <dd>{formatCount(model.totalFlops)}</dd>
        <dt>Sparsity</dt>
        <dd>{formatPercent(model.sparsity)}</dd>
        <dt>SHA-256</dt>
        <dd className="mono" title={model.sha256}>
          {model.sha256.slice(0, 12)}…
        </dd>
      </dl>
      {model.inputs && model.inputs.length > 0 && <InputShapes inputs={model.inputs} />}
      {model.warnings && model.warnings.length > 0 && (
        <ul className="warnings" data-testid="model-warnings" role="status">
          {model.warnings.map((warning) => (
            <li key={warning}>{warning}</li>
          ))}
        </ul>
      )}
      <h3>{hasPlan ? 'Evaluation with the plan' : 'Dense evaluation'}</h3>
      <EvaluationView />
    </section>
  );
}
