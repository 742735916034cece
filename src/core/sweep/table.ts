import type { CriterionKey, Granularity } from '../criteria/types';
import type { SweepCell, SweepResult } from './engine';
import type { SweepMetric } from './metric';

/** A sweep's result table being filled: NaN until a cell is measured; units that cannot be pruned listed as skipped. */
export interface SweepTable {
  result: SweepResult;
  /** Records a measured cell and reports it. */
  fill(row: number, column: number, value: number): void;
}

export function sweepTable(setup: {
  criterion: CriterionKey;
  granularity: Granularity;
  metric: SweepMetric;
  grid: number[];
  units: readonly { name: string }[];
  /** Per unit: what the engine prunes, or the reason it cannot. */
  targets: readonly unknown[];
  onCell?: (cell: SweepCell) => void;
}): SweepTable {
  const { units, grid, targets } = setup;
  const result: SweepResult = {
    criterion: setup.criterion,
    granularity: setup.granularity,
    metric: setup.metric,
    sparsities: grid,
    layers: units.map((u) => u.name),
    values: units.map(() => grid.map(() => NaN)),
    dense: NaN,
    skipped: units.flatMap((unit, row) => {
      const target = targets[row];
      return typeof target === 'string' ? [{ unit: unit.name, reason: target }] : [];
    }),
    cancelled: false,
    cells: 0,
  };
  const total = units.length * grid.length;
  return {
    result,
    fill(row, column, value) {
      result.values[row][column] = value;
      setup.onCell?.({ unit: units[row].name, sparsity: grid[column], value, index: row * grid.length + column, total });
      result.cells++;
    },
  };
}
