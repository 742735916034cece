import { useMemo } from 'react';
import { useShallow } from 'zustand/react/shallow';
import { damage } from '../charts/heatmap';
import { renderStructure, type StructureChartData } from '../charts/structure';
import { selectLayer } from '../store/actions';
import { useLopper, type LopperState } from '../store/state';
import { OVERLAY_TITLES, OVERLAYS, setOverlay, setOverlaySparsity, useView, type Overlay, type ViewState } from '../store/view';
import type { ModelSummary, RemovalReport, SweepReport } from '../worker/protocol';
import { formatNumber, formatPercent } from './format';
import { structureOf } from './structure-layout';
import { useFilterContext, useLayerIndex } from './use-units';
import { useChart } from './use-chart';
import { passes } from './units';

const selectInputs = (s: LopperState) => ({ model: s.model, plan: s.plan.sparsity, sweep: s.sweep.report, removal: s.removal.report, selected: s.selectedLayer });
const selectOverlay = (s: ViewState) => ({ overlay: s.overlay, overlaySparsity: s.overlaySparsity });

const renderSelectable = (el: HTMLElement, data: StructureChartData) => renderStructure(el, data, { onSelect: (layer) => void selectLayer(layer) });

/** The column of `sweep` nearest to `sparsity`. */
function nearestColumn(sweep: SweepReport, sparsity: number): number {
  let best = 0;
  sweep.sparsities.forEach((s, i) => {
    if (Math.abs(s - sparsity) < Math.abs(sweep.sparsities[best] - sparsity)) best = i;
  });
  return best;
}

/** The greedy step at which a unit's sublayer or branch was removed. */
function removalStep(report: RemovalReport, unit: string): number | null {
  const step = report.steps.findIndex((s) => s.removed !== '' && (unit === s.removed || unit.startsWith(`${s.removed}.`) || unit.startsWith(`${s.removed}/`)));
  return step < 0 ? null : step;
}

interface OverlayValues {
  value: (unit: string) => number | null;
  domain: [number, number];
  tick: (v: number) => string;
  describe: (v: number | null) => string;
  note?: string;
}

function overlayValues(
  overlay: Overlay,
  model: ModelSummary,
  plan: Record<string, number>,
  sweep: SweepReport | null,
  removal: RemovalReport | null,
  sparsity: number,
  paramsOf: (unit: string) => number,
): OverlayValues {
  if (overlay === 'planned') return { value: (u) => plan[u] ?? 0, domain: [0, 1], tick: formatPercent, describe: (v) => `planned sparsity ${v === null ? '—' : formatPercent(v)}` };
  if (overlay === 'sensitivity') {
    if (!sweep)
      return {
        value: () => null,
        domain: [0, 1],
        tick: formatNumber,
        describe: () => 'no sweep yet',
        note: 'Run a sweep in the Sensitivity view to colour the units by their damage.',
      };
    const column = nearestColumn(sweep, sparsity);
    const dense = Number.isNaN(sweep.dense) ? (sweep.values.flat().find((v) => v !== null) ?? 0) : sweep.dense;
    const higher = sweep.metric === 'accuracy';
    const rows = new Map(sweep.layers.map((u, i) => [u, i]));
    const value = (u: string) => {
      const v = sweep.values[rows.get(u) ?? -1]?.[column];
      return v === null || v === undefined || Number.isNaN(v) ? null : Math.max(0, damage(v, dense, higher));
    };
    const worst = Math.max(1e-9, ...sweep.layers.map((u) => value(u) ?? 0));
    return {
      value,
      domain: [0, worst],
      tick: formatNumber,
      describe: (v) => `${sweep.metric} ${higher ? 'drop' : 'rise'} at ${formatPercent(sweep.sparsities[column])}: ${v === null ? '—' : formatNumber(v)}`,
    };
  }
  if (overlay === 'removal') {
    if (!removal || removal.steps.every((s) => s.removed === ''))
      return {
        value: () => null,
        domain: [0, 1],
        tick: String,
        describe: () => 'not removed',
        note: 'Run the removal search in the Removal view to colour units by the step that removes them.',
      };
    const last = Math.max(1, removal.steps.length - 1);
    return { value: (u) => removalStep(removal, u), domain: [0, last], tick: (v) => `step ${v + 1}`, describe: (v) => (v === null ? 'not removed' : `removed at step ${v + 1}`) };
  }
  const total = Math.max(1, model.totalParams);
  const worst = Math.max(1e-9, ...model.units.map((u) => paramsOf(u) / total));
  return { value: (u) => paramsOf(u) / total, domain: [0, worst], tick: formatPercent, describe: (v) => `${v === null ? '—' : formatPercent(v)} of the parameters` };
}

/** The model's structure (a block × sublayer grid for transformers, the layer DAG otherwise), coloured by a chosen overlay; a click selects the layer. */
export function StructureView() {
  const { model, plan, sweep, removal, selected } = useLopper(useShallow(selectInputs));
  const { overlay, overlaySparsity } = useView(useShallow(selectOverlay));
  const context = useFilterContext();
  const index = useLayerIndex();
  const chartData = useMemo<StructureChartData | null>(() => {
    if (!model) return null;
    const paramsOf = (unit: string) => {
      const layer = index.get(unit);
      const share = layer ? model.units.filter((u) => index.get(u) === layer).length : 1;
      return (layer?.params ?? 0) / share;
    };
    const values = overlayValues(overlay, model, plan, sweep, removal, overlaySparsity, paramsOf);
    const shown = new Set(model.units.filter((u) => passes(u, index.get(u)?.type ?? '', true, context)));
    const structure = structureOf({
      layers: model.layers,
      units: model.units,
      edges: model.edges,
      value: values.value,
      layerValue: overlay === 'params' ? (layer) => layer.params / Math.max(1, model.totalParams) : undefined,
      describe: (unit, v) => `${unit}: ${values.describe(v)}`,
      selected,
      layerOf: (unit) => index.get(unit)?.name ?? unit,
      shown,
    });
    return { ...structure, overlay: OVERLAY_TITLES[overlay], domain: values.domain, tick: values.tick };
  }, [model, plan, sweep, removal, selected, overlay, overlaySparsity, context, index]);
  const host = useChart(renderSelectable, chartData);
  if (!model) return null;
  const note = overlayValues(overlay, model, plan, sweep, removal, overlaySparsity, () => 0).note;
  const kind = chartData?.layout === 'grid' ? 'blocks × sublayers' : model.edges && model.edges.length > 0 ? 'layer graph' : 'layers in order';
  return (
    <section className="panel structure" aria-labelledby="structure-title">
      <h2 id="structure-title">Structure</h2>
      <div className="sweep-controls">
        <label className="field">
          <span>Colour by</span>
          <select data-testid="structure-overlay" value={overlay} onChange={(e) => setOverlay(OVERLAYS.find((o) => o === e.target.value) ?? 'planned')}>
            {OVERLAYS.map((o) => (
              <option key={o} value={o}>
                {OVERLAY_TITLES[o]}
              </option>
            ))}
          </select>
        </label>
        {overlay === 'sensitivity' && sweep && (
          <label className="field">
            <span>at sparsity</span>
            <select value={String(sweep.sparsities[nearestColumn(sweep, overlaySparsity)])} onChange={(e) => setOverlaySparsity(Number(e.target.value))}>
              {sweep.sparsities.map((s) => (
                <option key={s} value={String(s)}>
                  {formatPercent(s)}
                </option>
              ))}
            </select>
          </label>
        )}
        <span className="hint">
          {model.units.length} units · {kind} · arrow keys move, Enter selects
        </span>
      </div>
      {note && <p className="hint">{note}</p>}
      <div className="structure-host" data-testid="structure-view" ref={host} />
    </section>
  );
}
