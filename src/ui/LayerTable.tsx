import { useMemo } from 'react';
import { useShallow } from 'zustand/react/shallow';
import type { LayerInfo } from '../core/types';
import { selectLayer } from '../store/actions';
import { useLopper, type LopperState } from '../store/state';
import { toggleGroup, useView, type ViewState } from '../store/view';
import { formatCount, formatPercent, formatShape } from './format';
import { groupLayers, passes } from './units';
import { useFilterContext } from './use-units';
import { RowScroller, SpacerRow } from './RowScroller';
import { useRovingRows, useRowWindow } from './use-window';

const ROW_HEIGHT = 31;
const selectModel = (s: LopperState) => s.model;
const selectSelected = (s: LopperState) => s.selectedLayer;
const selectPlan = (s: LopperState) => s.plan.sparsity;
const selectGrouping = (s: ViewState) => ({ grouping: s.grouping, collapsed: s.collapsed });

/** A row of the layer table: a group of two or more layers (foldable), or one layer. */
type LayerRow = { kind: 'group'; key: string; id: string; layers: LayerInfo[]; shown: LayerInfo[]; folded: boolean } | { kind: 'layer'; layer: LayerInfo; grouped: boolean };

/** A layer's units: the row itself when it is a unit (a GraphModel's weight names hold `/`), else a Keras layer's `<layer>/…` units. */
function unitsOfLayers(layers: readonly LayerInfo[], units: readonly string[]): Map<string, string[]> {
  const byLayer = new Map<string, string[]>();
  const names = new Set(layers.map((l) => l.name));
  for (const unit of units) {
    const owner = names.has(unit) ? unit : unit.slice(0, Math.max(0, unit.lastIndexOf('/')));
    byLayer.set(owner, [...(byLayer.get(owner) ?? []), unit]);
  }
  return byLayer;
}

function plannedSparsity(plan: Record<string, number>, units: readonly string[] | undefined): string {
  if (!units || units.length === 0) return '';
  return units.map((unit) => formatPercent(plan[unit] ?? 0)).join(' / ');
}

/** The layers grouped (runs of one block, or by class) and filtered by the search and filters; a folded group's layers are left out. */
function useLayerRows(unitsOf: Map<string, string[]>): LayerRow[] {
  const model = useLopper(selectModel);
  const { grouping, collapsed } = useView(useShallow(selectGrouping));
  const context = useFilterContext();
  return useMemo(() => {
    if (!model) return [];
    const byName = new Map(model.layers.map((l) => [l.name, l]));
    const folded = new Set(collapsed);
    const rows: LayerRow[] = [];
    groupLayers(model.layers, grouping).forEach((group, i) => {
      const layers = group.units.flatMap((name) => byName.get(name) ?? []);
      const shown = layers.filter((layer) => passes(layer.name, layer.type, layer.prunable, context, unitsOf.get(layer.name) ?? []));
      if (shown.length === 0) return;
      if (layers.length === 1) {
        rows.push({ kind: 'layer', layer: shown[0], grouped: false });
        return;
      }
      const isFolded = folded.has(group.key);
      rows.push({ kind: 'group', key: group.key, id: `${group.key}#${i}`, layers, shown, folded: isFolded });
      if (!isFolded) for (const layer of shown) rows.push({ kind: 'layer', layer, grouped: true });
    });
    return rows;
  }, [model, grouping, collapsed, context, unitsOf]);
}

function GroupRow({
  row,
  index,
  active,
  plan,
  unitsOf,
}: {
  row: Extract<LayerRow, { kind: 'group' }>;
  index: number;
  active: boolean;
  plan: Record<string, number>;
  unitsOf: Map<string, string[]>;
}) {
  const sum = (pick: (l: LayerInfo) => number) => row.shown.reduce((n, l) => n + pick(l), 0);
  const prunable = row.shown.filter((l) => l.prunable).length;
  const units = row.shown.flatMap((l) => unitsOf.get(l.name) ?? []);
  const planned = units.length === 0 ? '' : `mean ${formatPercent(units.reduce((n, u) => n + (plan[u] ?? 0), 0) / units.length)}`;
  const subset = row.shown.length < row.layers.length ? ` (${row.shown.length} shown of ${row.layers.length})` : '';
  return (
    <tr className="group-row" data-row-index={index} aria-rowindex={index + 2} data-testid="layer-group" data-group={row.key}>
      <th scope="row" colSpan={3}>
        <button
          type="button"
          className="group-toggle"
          data-roving=""
          tabIndex={active ? 0 : -1}
          aria-expanded={!row.folded}
          onClick={() => toggleGroup(row.key)}
          onKeyDown={(e) => {
            if ((e.key === 'ArrowRight' && row.folded) || (e.key === 'ArrowLeft' && !row.folded)) {
              e.preventDefault();
              toggleGroup(row.key);
            }
          }}
        >
          <span aria-hidden="true" className="fold">
            {row.folded ? '▸' : '▾'}
          </span>
          <span>{row.key}</span>
          <small>
            {row.layers.length} layers{subset}
          </small>
        </button>
      </th>
      <td className="num">{formatCount(sum((l) => l.params))}</td>
      <td className="num">{formatCount(sum((l) => l.flops))}</td>
      <td>{prunable > 0 ? `${prunable} of ${row.shown.length}` : '—'}</td>
      <td className="num" />
      <td className="num">{planned}</td>
    </tr>
  );
}

/** Every layer with its class, shape, parameters and FLOPs, grouped and foldable; the search and filters apply, only the rows in view are drawn. */
export function LayerTable() {
  const model = useLopper(selectModel);
  const selected = useLopper(selectSelected);
  const plan = useLopper(selectPlan);
  const unitsOf = useMemo(() => (model ? unitsOfLayers(model.layers, model.units) : new Map<string, string[]>()), [model]);
  const rows = useLayerRows(unitsOf);
  const list = useRowWindow(rows.length, ROW_HEIGHT);
  const roving = useRovingRows(rows.length, list);
  if (!model) return null;
  const prunable = model.layers.filter((l) => l.prunable).length;
  const shown = rows.reduce((n, r) => n + (r.kind === 'group' ? r.shown.length : r.grouped ? 0 : 1), 0);
  return (
    <section className="panel layers" aria-labelledby="layers-title">
      <h2 id="layers-title">Layers</h2>
      <p className="totals" data-testid="layer-totals">
        {model.layers.length} layers · {prunable} prunable · {formatCount(model.totalParams)} parameters · {formatCount(model.totalFlops)} FLOPs per sample · sparsity{' '}
        {formatPercent(model.sparsity)}
        {shown < model.layers.length ? ` · ${shown} shown` : ''}
      </p>
      <RowScroller list={list} roving={roving}>
        <table data-testid="layer-table" aria-rowcount={rows.length + 1}>
          <thead>
            <tr>
              <th scope="col">Layer</th>
              <th scope="col">Type</th>
              <th scope="col">Output shape</th>
              <th scope="col" className="num">
                Params
              </th>
              <th scope="col" className="num">
                FLOPs
              </th>
              <th scope="col">Prunable</th>
              <th scope="col" className="num">
                Sparsity
              </th>
              <th scope="col" className="num">
                Plan
              </th>
            </tr>
          </thead>
          <tbody>
            <SpacerRow height={list.before} />
            {rows.slice(list.start, list.end).map((row, i) => {
              const index = list.start + i;
              if (row.kind === 'group') return <GroupRow key={`g:${row.id}`} row={row} index={index} active={index === roving.active} plan={plan} unitsOf={unitsOf} />;
              const { layer } = row;
              return (
                <tr
                  key={layer.name}
                  data-testid="layer-row"
                  data-layer={layer.name}
                  data-row-index={index}
                  aria-rowindex={index + 2}
                  aria-selected={selected === layer.name}
                  className={[selected === layer.name ? 'selected' : '', row.grouped ? 'in-group' : ''].filter(Boolean).join(' ') || undefined}
                  onClick={() => void selectLayer(layer.name)}
                >
                  <th scope="row">
                    <button
                      type="button"
                      className="link"
                      data-roving=""
                      tabIndex={index === roving.active ? 0 : -1}
                      onClick={(e) => (e.stopPropagation(), void selectLayer(layer.name))}
                      aria-pressed={selected === layer.name}
                    >
                      {layer.name}
                    </button>
                  </th>
                  <td>{layer.type}</td>
                  <td className="mono">{formatShape(layer.outputShape)}</td>
                  <td className="num">{formatCount(layer.params)}</td>
                  <td className="num">{formatCount(layer.flops)}</td>
                  <td>{layer.prunable ? 'yes' : '—'}</td>
                  <td className="num">{layer.prunable ? formatPercent(layer.sparsity) : ''}</td>
                  <td className="num" data-testid="layer-plan">
                    {plannedSparsity(plan, unitsOf.get(layer.name))}
                  </td>
                </tr>
              );
            })}
            <SpacerRow height={list.after} />
          </tbody>
        </table>
      </RowScroller>
    </section>
  );
}
