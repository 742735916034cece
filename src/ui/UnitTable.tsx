import { releaseUnits, setUnitSparsity, setUnitsSparsity, toggleLock } from '../store/plan-actions';
import { useLopper, type LopperState } from '../store/state';
import { toggleGroup, useView, type ViewState } from '../store/view';
import { formatPercent } from './format';
import { LockIcon } from './LockIcon';
import { SparsitySlider } from './SparsitySlider';
import { useUnitRows, type UnitListRow } from './use-units';
import { RowScroller, SpacerRow } from './RowScroller';
import { useRovingRows, useRowWindow } from './use-window';

const ROW_HEIGHT = 34;
const selectPlan = (s: LopperState) => s.plan;
const selectResult = (s: LopperState) => s.planResult;
const selectCollapsed = (s: ViewState) => s.collapsed;

const mean = (values: number[]): number => (values.length === 0 ? 0 : values.reduce((a, b) => a + b, 0) / values.length);

function GroupRow({ row, index, active, folded }: { row: Extract<UnitListRow, { kind: 'group' }>; index: number; active: boolean; folded: boolean }) {
  const plan = useLopper(selectPlan);
  const result = useLopper(selectResult);
  const values = row.shown.map((u) => plan.sparsity[u] ?? 0);
  const value = mean(values);
  const uniform = values.every((v) => v === values[0]);
  const pinned = row.shown.filter((u) => plan.locked.includes(u));
  const achieved = result ? mean(row.shown.map((u) => result.achieved[u] ?? 0)) : null;
  const subset = row.shown.length < row.units.length ? ` (${row.shown.length} shown of ${row.units.length})` : '';
  return (
    <tr className="group-row" data-row-index={index} data-testid="unit-group" data-group={row.key}>
      <th scope="row">
        <button
          type="button"
          className="group-toggle"
          data-roving=""
          tabIndex={active ? 0 : -1}
          aria-expanded={!folded}
          onClick={() => toggleGroup(row.key)}
          onKeyDown={(e) => {
            if ((e.key === 'ArrowRight' && folded) || (e.key === 'ArrowLeft' && !folded)) {
              e.preventDefault();
              toggleGroup(row.key);
            }
          }}
        >
          <span aria-hidden="true" className="fold">
            {folded ? '▸' : '▾'}
          </span>
          <span>{row.key}</span>
          <small>
            {row.units.length} unit{row.units.length === 1 ? '' : 's'}
            {subset}
          </small>
        </button>
      </th>
      <td>
        <SparsitySlider
          testId="group-sparsity"
          group={row.key}
          dragKey={`group:${row.key}`}
          tabIndex={active ? 0 : -1}
          label={`Sparsity of every shown unit in ${row.key}`}
          valueText={uniform ? formatPercent(value) : `mixed, mean ${formatPercent(value)}`}
          value={value}
          onChange={(v) => setUnitsSparsity(row.shown, v, `group:${row.key}`)}
        />
      </td>
      <td className="num">{uniform ? formatPercent(value) : `mean ${formatPercent(value)}`}</td>
      <td className="num">{achieved === null ? '' : formatPercent(achieved)}</td>
      <td>
        {pinned.length > 0 && (
          <button
            type="button"
            className="link"
            tabIndex={active ? 0 : -1}
            onClick={() => releaseUnits(pinned)}
            aria-label={`Release the ${pinned.length} pinned units of ${row.key}`}
          >
            <LockIcon locked /> {pinned.length} pinned · release
          </button>
        )}
      </td>
    </tr>
  );
}

function UnitRow({ unit, index, active }: { unit: string; index: number; active: boolean }) {
  const plan = useLopper(selectPlan);
  const result = useLopper(selectResult);
  const value = plan.sparsity[unit] ?? 0;
  const locked = plan.locked.includes(unit);
  return (
    <tr className={locked ? 'unit-row pinned' : 'unit-row'} data-row-index={index}>
      <th scope="row" className="unit-name" title={unit}>
        {unit}
      </th>
      <td>
        <SparsitySlider
          testId="layer-sparsity"
          layer={unit}
          roving
          dragKey={`unit:${unit}`}
          tabIndex={active ? 0 : -1}
          label={`Sparsity of ${unit}`}
          value={value}
          onChange={(v) => setUnitSparsity(unit, v)}
        />
      </td>
      <td className="num">{formatPercent(value)}</td>
      <td className="num">{result?.achieved[unit] !== undefined ? formatPercent(result.achieved[unit]) : ''}</td>
      <td>
        <label className="lock" title={locked ? 'Pinned: the allocation keeps this value. Uncheck to release.' : 'Pin this value against the allocation'}>
          <input
            type="checkbox"
            data-testid="layer-lock"
            data-layer={unit}
            tabIndex={active ? 0 : -1}
            checked={locked}
            aria-label={`Pin ${unit}`}
            onChange={() => toggleLock(unit)}
          />
          <LockIcon locked={locked} />
          {locked && <span className="pinned-word">pinned</span>}
        </label>
      </td>
    </tr>
  );
}

/** One slider per unit, grouped by block or role with a slider per group; only the rows in view are drawn. */
export function UnitTable() {
  const { rows, shownUnits } = useUnitRows();
  const collapsed = useView(selectCollapsed);
  const list = useRowWindow(rows.length, ROW_HEIGHT);
  const roving = useRovingRows(rows.length, list);
  const units = rows.filter((r) => r.kind === 'unit').length;
  return (
    <div className="unit-table">
      <p className="hint" data-testid="unit-count">
        {shownUnits.length} units shown{units < shownUnits.length ? `, ${shownUnits.length - units} in folded groups` : ''}. Moving a unit's or a group's slider pins those units;
        the target applies to the others. ↑/↓ move between rows, ←/→ change a slider or fold a group.
      </p>
      <RowScroller list={list} roving={roving}>
        <table className="unit-sliders" aria-rowcount={rows.length + 1} aria-label="Sparsity per unit">
          <thead>
            <tr>
              <th scope="col">Unit</th>
              <th scope="col">Sparsity</th>
              <th scope="col" className="num">
                Planned
              </th>
              <th scope="col" className="num">
                Achieved
              </th>
              <th scope="col">Pinned</th>
            </tr>
          </thead>
          <tbody>
            <SpacerRow height={list.before} />
            {rows.slice(list.start, list.end).map((row, i) => {
              const index = list.start + i;
              return row.kind === 'group' ? (
                <GroupRow key={`g:${row.key}`} row={row} index={index} active={index === roving.active} folded={collapsed.includes(row.key)} />
              ) : (
                <UnitRow key={`u:${row.unit}`} unit={row.unit} index={index} active={index === roving.active} />
              );
            })}
            <SpacerRow height={list.after} />
          </tbody>
        </table>
      </RowScroller>
    </div>
  );
}
