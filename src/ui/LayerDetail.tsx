import { renderHistogram, type HistogramData } from '../charts/histogram';
import type { WeightStats } from '../core/types';
import { useLopper, type LopperState } from '../store/state';
import { formatNumber, formatPercent } from './format';
import { useChart } from './use-chart';
import { ChartExports } from './ChartExports';

const selectSelected = (s: LopperState) => s.selectedLayer;
const selectStats = (s: LopperState) => s.layerStats;

/** The histogram's counts without the exact zeros (taken from the bin that holds 0). */
function withoutZeros(stats: WeightStats): number[] {
  const { edges, counts } = stats.histogram;
  const zeros = Math.round(stats.zeros * stats.count);
  const bin = counts.findIndex((_, i) => edges[i] <= 0 && (0 < edges[i + 1] || i === counts.length - 1));
  return counts.map((c, i) => (i === bin ? Math.max(0, c - zeros) : c));
}

/** The dense histogram, with the plan's non-zero weights over it when a measured plan changes this layer. */
function histogramOf(layer: string, stats: WeightStats, pruned: WeightStats | undefined): HistogramData {
  if (!pruned) return { ...stats.histogram, label: `Histogram of ${layer} weights` };
  const zeros = Math.round(pruned.zeros * pruned.count);
  return {
    ...stats.histogram,
    name: 'dense',
    overlay: { name: 'plan, non-zero', counts: withoutZeros(pruned) },
    label: `Histogram of ${layer} weights: dense, and the plan's non-zero weights over it (its ${zeros} zeros left out)`,
  };
}

function Histogram({ data, layer }: { data: HistogramData; layer: string }) {
  const host = useChart(renderHistogram, data);
  return (
    <div>
      <div ref={host} className="chart-host" data-testid="weight-histogram" data-overlay={data.overlay ? 'plan' : undefined} />
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
  const pruned = detail?.layer === selected ? detail.pruned : undefined;
  const pair = (show: (s: WeightStats) => string | number) => (stats ? (pruned ? `${show(stats)} → ${show(pruned)}` : show(stats)) : '');
  const scope = detail && detail.units.length > 0 ? `kernel${detail.units.length > 1 ? 's' : ''} ${detail.units.join(', ')}` : 'all weights';
  return (
    <section className="panel detail" aria-labelledby="detail-title">
      <h2 id="detail-title">
        {selected} <span className="hint">{stats ? scope : 'reading…'}</span>
      </h2>
      {stats && stats.count === 0 && <p className="hint">This layer holds no weights.</p>}
      {stats && stats.count > 0 && (
        <div className="detail-body">
          <Histogram layer={selected} data={histogramOf(selected, stats, pruned)} />
          <dl className="facts stats" data-testid="weight-stats" aria-label={pruned ? 'Weight statistics: dense → plan' : 'Weight statistics'}>
            {pruned && (
              <>
                <dt>Weights</dt>
                <dd>dense → plan</dd>
              </>
            )}
            <dt>Count</dt>
            <dd>{stats.count}</dd>
            <dt>Min</dt>
            <dd>{pair((s) => formatNumber(s.min))}</dd>
            <dt>Max</dt>
            <dd>{pair((s) => formatNumber(s.max))}</dd>
            <dt>Mean</dt>
            <dd>{pair((s) => formatNumber(s.mean))}</dd>
            <dt>Std</dt>
            <dd>{pair((s) => formatNumber(s.std))}</dd>
            <dt>Zeros</dt>
            <dd data-testid="weight-zeros" data-dense={stats.zeros} data-plan={pruned?.zeros}>
              {pair((s) => formatPercent(s.zeros))}
            </dd>
            <dt>NaN / Inf</dt>
            <dd>{pair((s) => `${s.nan} / ${s.inf}`)}</dd>
          </dl>
        </div>
      )}
    </section>
  );
}
