import { useMemo } from 'react';
import { useShallow } from 'zustand/react/shallow';
import { useLopper, type LopperState } from '../store/state';
import { clearFilters, GROUPINGS, setFilters, setGrouping, setSearch, useView, type ViewState } from '../store/view';
import { Choice } from './Choice';
import { filtering } from './units';

const selectModel = (s: LopperState) => s.model;
const selectToolbar = (s: ViewState) => ({ search: s.search, filters: s.filters, grouping: s.grouping });
const PRUNABLE = ['any', 'yes', 'no'] as const;

/** Finds units: a search over names, filters by class, prunable, pinned and changed, and how rows are grouped. Shared by every view that lists units. */
export function UnitToolbar() {
  const model = useLopper(selectModel);
  const { search, filters, grouping } = useView(useShallow(selectToolbar));
  const types = useMemo(() => ['', ...new Set(model?.layers.map((l) => l.type) ?? [])], [model]);
  if (!model) return null;
  return (
    <div className="unit-toolbar" role="search" aria-label="Find units">
      <label className="field search">
        <span>Find units</span>
        <input type="search" data-testid="unit-search" placeholder="e.g. layers.3 down_proj" value={search} onChange={(e) => setSearch(e.target.value)} />
      </label>
      <label className="field">
        <span>Type</span>
        <select data-testid="unit-filter-type" value={filters.type} onChange={(e) => setFilters({ type: e.target.value })}>
          {types.map((t) => (
            <option key={t} value={t}>
              {t === '' ? 'any' : t}
            </option>
          ))}
        </select>
      </label>
      <Choice label="Prunable" value={filters.prunable} options={PRUNABLE} onChange={(prunable) => setFilters({ prunable })} />
      <label className="field">
        <input type="checkbox" data-testid="unit-filter-locked" checked={filters.locked} onChange={(e) => setFilters({ locked: e.target.checked })} />
        <span>pinned</span>
      </label>
      <label className="field">
        <input type="checkbox" data-testid="unit-filter-changed" checked={filters.changed} onChange={(e) => setFilters({ changed: e.target.checked })} />
        <span>changed</span>
      </label>
      <Choice label="Group by" value={grouping} options={GROUPINGS} onChange={setGrouping} />
      {filtering(search, filters) && (
        <button type="button" className="button small secondary" onClick={clearFilters}>
          Clear
        </button>
      )}
    </div>
  );
}
