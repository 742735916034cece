import { switchToSyntheticData } from '../store/actions';
import { useLopper, type LopperState } from '../store/state';
import { formatShape } from './format';

const selectData = (s: LopperState) => s.data;
const selectHasModel = (s: LopperState) => s.model !== null;

export function DataPanel() {
  const data = useLopper(selectData);
  const hasModel = useLopper(selectHasModel);
  return (
    <section className="panel" aria-labelledby="data-title">
      <h2 id="data-title">Data</h2>
      {data ? (
        <dl className="facts">
          <dt>Source</dt>
          <dd data-testid="data-source">{data.synthetic ? 'Data-free: synthetic inputs' : data.source}</dd>
          <dt>Samples</dt>
          <dd>
            {data.samples} × {formatShape(data.shape.slice(1))}
            {data.labelled ? ', labelled' : ', unlabelled'}
          </dd>
          <dt>Hash</dt>
          <dd className="mono" title={data.hash}>
            {data.hash.length > 24 ? `${data.hash.slice(0, 12)}…` : data.hash}
          </dd>
        </dl>
      ) : (
        <p className="hint">No data yet.</p>
      )}
      {data?.synthetic && <p className="hint">Without labels the metric is the divergence from the dense model's outputs. Drop a dataset .json to see accuracy and loss.</p>}
      <button type="button" className="button secondary" disabled={!hasModel} onClick={() => void switchToSyntheticData()}>
        Use synthetic data
      </button>
    </section>
  );
}
