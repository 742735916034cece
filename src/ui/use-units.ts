import { useMemo } from 'react';
import { useShallow } from 'zustand/react/shallow';
import type { LayerInfo } from '../core/types';
import { useLopper, type LopperState } from '../store/state';
import { useView, type ViewState } from '../store/view';
import { groupUnits, layerIndex, passes, type FilterContext } from './units';

export type UnitListRow = { kind: 'group'; key: string; units: string[]; shown: string[] } | { kind: 'unit'; unit: string; group: string };

const selectModel = (s: LopperState) => s.model;
const selectPlan = (s: LopperState) => s.plan;
const selectFiltering = (s: ViewState) => ({ search: s.search, filters: s.filters, grouping: s.grouping, collapsed: s.collapsed });

/** The search, filters and plan as a context for `passes`. */
export function useFilterContext(): FilterContext {
  const plan = useLopper(selectPlan);
  const { search, filters } = useView(useShallow(selectFiltering));
  return useMemo(() => ({ search, filters, locked: new Set(plan.locked), planned: plan.sparsity }), [search, filters, plan.locked, plan.sparsity]);
}

/** Maps units and layer names to their layer row. */
export function useLayerIndex(): Map<string, LayerInfo> {
  const model = useLopper(selectModel);
  return useMemo(() => (model ? layerIndex(model.layers, model.units) : new Map<string, LayerInfo>()), [model]);
}

/** The model's units grouped (by block or role), filtered by the search and filters, with folded groups' units left out. */
export function useUnitRows(): { rows: UnitListRow[]; shownUnits: string[]; groups: { key: string; units: string[]; shown: string[] }[] } {
  const model = useLopper(selectModel);
  const { grouping, collapsed } = useView(useShallow(selectFiltering));
  const context = useFilterContext();
  const index = useLayerIndex();
  return useMemo(() => {
    if (!model) return { rows: [], shownUnits: [], groups: [] };
    const typeOf = (unit: string) => index.get(unit)?.type ?? '';
    const folded = new Set(collapsed);
    const groups = groupUnits(model.units, grouping, typeOf).map((g) => ({ ...g, shown: g.units.filter((u) => passes(u, typeOf(u), true, context)) }));
    const rows: UnitListRow[] = [];
    const shownUnits: string[] = [];
    for (const g of groups) {
      if (g.shown.length === 0) continue;
      rows.push({ kind: 'group', key: g.key, units: g.units, shown: g.shown });
      shownUnits.push(...g.shown);
      if (!folded.has(g.key)) for (const unit of g.shown) rows.push({ kind: 'unit', unit, group: g.key });
    }
    return { rows, shownUnits, groups };
  }, [model, grouping, collapsed, context, index]);
}
