import { renderHistogram, type HistogramData } from '../charts/histogram';
import { useLopper, type LopperState } from '../store/state';
import { formatNumber, formatPercent } from './format';
import { useChart } from './use-chart';
import { ChartExports } from './ChartExports';

const selectSelected = (s: LopperState) => s.selectedLayer;
const selectStats = (s: LopperState) => s.layerStats;

function Histogram({ data, layer }: { data: HistogramData; layer: string }) {
  const host = useChart(renderHistogram, data);
  return (
    <div>
      <div ref={host} className="chart-host" data-testid="weight-histogram" />
      <ChartExports host={host.current} name={`histogram-${layer.replace(/[^\w.-]+/g, '_')}`} title={data.label} label="histogram" />
    </div>
  );
}

export function LayerDetail() {
  const selected = useLopper(selectSelected);
  const detail = useLopper(selectStats);
  if (!selected) {
    return (
      <section className="panel detail" aria-label="Layer detail">
        <p className="hint">Select a layer to see its weight histogram and statistics.</p>
      </section>
    );
  }
  const stats = detail?.layer === selected ? detail.stats : null;
  const scope = detail && detail.units.length > 0 ? `kernel${detail.units.length > 1 ? 's' : ''} ${detail.units.join(', ')}` : 'all weights';
  return (
    <section className="panel detail" aria-labelledby="detail-title">
      <h2 id="detail-title">
        {selected} <span className="hint">{stats ? scope : 'reading…'}</span>
      </h2>
      {stats && stats.count === 0 && <p className="hint">This layer holds no weights.</p>}
      {stats && stats.count > 0 && (
        <div className="detail-body">
          <Histogram layer={selected} data={{ ...stats.histogram, label: `Histogram of ${selected} weights` }} />
          <dl className="facts stats" data-testid="weight-stats">
            <dt>Count</dt>
            <dd>{stats.count}</dd>
            <dt>Min</dt>
            <dd>{formatNumber(stats.min)}</dd>
            <dt>Max</dt>
            <dd>{formatNumber(stats.max)}</dd>
            <dt>Mean</dt>
            <dd>{formatNumber(stats.mean)}</dd>
            <dt>Std</dt>
            <dd>{formatNumber(stats.std)}</dd>
            <dt>Zeros</dt>
            <dd>{formatPercent(stats.zeros)}</dd>
            <dt>NaN / Inf</dt>
            <dd>
              {stats.nan} / {stats.inf}
            </dd>
          </dl>
        </div>
      )}
    </section>
  );
}
