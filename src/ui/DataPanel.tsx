import { switchToSyntheticData } from '../store/actions';
import { useLopper, type LopperState } from '../store/state';
import { formatShape } from './format';

const selectData = (s: LopperState) => s.data;
const selectFormat = (s: LopperState) => s.model?.format ?? null;

export function DataPanel() {
  const data = useLopper(selectData);
  const format = useLopper(selectFormat);
  const hasModel = format !== null;
  const language = format === 'hf-transformer';
  return (
    <section className="panel" aria-labelledby="data-title">
      <h2 id="data-title">Data</h2>
      {data ? (
        <dl className="facts">
          <dt>Source</dt>
          <dd data-testid="data-source">{data.synthetic ? 'Data-free: synthetic inputs' : data.source}</dd>
          <dt>{language ? 'Tokens' : 'Samples'}</dt>
          <dd>
            {language ? `${data.samples} token ids` : `${data.samples} × ${formatShape(data.shape.slice(1))}`}
            {language ? (data.synthetic ? ', random' : ', text') : data.labelled ? ', labelled' : ', unlabelled'}
          </dd>
          <dt>Hash</dt>
          <dd className="mono" title={data.hash}>
            {data.hash.length > 24 ? `${data.hash.slice(0, 12)}…` : data.hash}
          </dd>
        </dl>
      ) : (
        <p className="hint">No data yet.</p>
      )}
      {data?.warnings && data.warnings.length > 0 && (
        <ul className="warnings" data-testid="data-warnings" role="status">
          {data.warnings.map((warning) => (
            <li key={warning}>{warning}</li>
          ))}
        </ul>
      )}
      {data?.synthetic && (
        <p className="hint">
          Data-free: the metric is the divergence from the dense model's outputs on seeded synthetic inputs.{' '}
          {language ? 'Drop a .txt to see loss and perplexity on real text.' : 'Drop a labelled dataset .json to see accuracy and loss.'}
        </p>
      )}
      {data && !data.synthetic && language && <p className="hint">Text: loss per token and perplexity over windows of the context length.</p>}
      <button
        type="button"
        className="button secondary"
        data-testid="use-synthetic-data"
        disabled={!hasModel || data?.synthetic === true}
        onClick={() => void switchToSyntheticData()}
      >
        Use synthetic data
      </button>
    </section>
  );
}
