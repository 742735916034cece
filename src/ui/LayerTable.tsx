import { useMemo } from 'react';
import type { LayerInfo } from '../core/types';
import { selectLayer } from '../store/actions';
import { useLopper, type LopperState } from '../store/state';
import { formatCount, formatPercent, formatShape } from './format';
import { passes } from './units';
import { useFilterContext } from './use-units';
import { RowScroller, SpacerRow } from './RowScroller';
import { useRovingRows, useRowWindow } from './use-window';

const ROW_HEIGHT = 31;
const selectModel = (s: LopperState) => s.model;
const selectSelected = (s: LopperState) => s.selectedLayer;
const selectPlan = (s: LopperState) => s.plan.sparsity;

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

/** Every layer with its class, shape, parameters and FLOPs; the search and filters apply, only the rows in view are drawn. */
export function LayerTable() {
  const model = useLopper(selectModel);
  const selected = useLopper(selectSelected);
  const plan = useLopper(selectPlan);
  const context = useFilterContext();
  const unitsOf = useMemo(() => (model ? unitsOfLayers(model.layers, model.units) : new Map<string, string[]>()), [model]);
  const rows = useMemo(
    () => (model ? model.layers.filter((layer) => passes(layer.name, layer.type, layer.prunable, context, unitsOf.get(layer.name) ?? [])) : []),
    [model, context, unitsOf],
  );
  const list = useRowWindow(rows.length, ROW_HEIGHT);
  const roving = useRovingRows(rows.length, list);
  if (!model) return null;
  const prunable = model.layers.filter((l) => l.prunable).length;
  return (
    <section className="panel layers" aria-labelledby="layers-title">
      <h2 id="layers-title">Layers</h2>
      <p className="totals" data-testid="layer-totals">
        {model.layers.length} layers · {prunable} prunable · {formatCount(model.totalParams)} parameters · {formatCount(model.totalFlops)} FLOPs per sample · sparsity{' '}
        {formatPercent(model.sparsity)}
        {rows.length < model.layers.length ? ` · ${rows.length} shown` : ''}
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
            {rows.slice(list.start, list.end).map((layer, i) => {
              const index = list.start + i;
              return (
                <tr
                  key={layer.name}
                  data-testid="layer-row"
                  data-layer={layer.name}
                  data-row-index={index}
                  aria-rowindex={index + 2}
                  aria-selected={selected === layer.name}
                  className={selected === layer.name ? 'selected' : undefined}
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
