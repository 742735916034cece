import { format } from 'd3-format';
import { interpolateCividis } from 'd3-scale-chromatic';
import { scaleBand, scaleSequential } from 'd3-scale';
import { select, type Selection } from 'd3-selection';
import type { Chart } from './histogram';

export interface HeatmapRow {
  /** Unit name: the `data-layer` of its cells. */
  name: string;
  /** Small print beside the name: class and parameter count. */
  detail: string;
}

export interface HeatmapData {
  rows: HeatmapRow[];
  /** Column keys (sparsity levels, greedy steps), one column each. */
  columns: number[];
  /** rows × columns; null while unknown (no cell is drawn), NaN when the row was skipped. */
  values: (number | null)[][];
  /** The dense model's metric. */
  dense: number;
  metric: string;
  /** True when a larger metric is better (accuracy); the colour shows the damage either way. */
  higherIsBetter: boolean;
  /** Cells drawn with a mark, as `${row}|${columnIndex}`. */
  marks: ReadonlySet<string>;
  /** Rows shown with a lock (pinned in the plan). */
  pinned?: ReadonlySet<string>;
  /** Axis titles: what the columns and the rows are. */
  columnTitle?: string;
  rowTitle?: string;
}

/** How cells present themselves to scripts and screen readers. */
export interface CellNaming {
  testId: string;
  rowAttribute: string;
  columnAttribute: string;
  columnValue(column: number, index: number): string;
  columnLabel(column: number, index: number): string;
}

export const SPARSITY_CELLS: CellNaming = {
  testId: 'heatmap-cell',
  rowAttribute: 'data-layer',
  columnAttribute: 'data-sparsity',
  columnValue: (sparsity) => String(sparsity),
  columnLabel: (sparsity) => `${Math.round(sparsity * 100)}%`,
};

export interface HeatmapOptions {
  onCellClick?: (row: string, column: number) => void;
  cellWidth?: number;
  cellHeight?: number;
  naming?: CellNaming;
}

interface Cell {
  row: string;
  /** Column index. */
  column: number;
  /** Column key (a sparsity, a step). */
  key: number;
  value: number;
  change: number;
}

const fmt = format('.4~g');
const labelWidth = 210;
/** Legend, column title and column labels: the band that stays in view while the rows scroll. */
const top = 92;
const bottomPad = 12;

/** Change vs dense signed so that positive is worse, whatever the metric. */
export function damage(value: number, dense: number, higherIsBetter: boolean): number {
  return higherIsBetter ? dense - value : value - dense;
}

function cellsOf(data: HeatmapData): Cell[] {
  const cells: Cell[] = [];
  data.rows.forEach((row, r) => {
    data.columns.forEach((sparsity, column) => {
      const value = data.values[r]?.[column];
      if (value === null || value === undefined || Number.isNaN(value)) return;
      cells.push({ row: row.name, column, key: sparsity, value, change: value - data.dense });
    });
  });
  return cells;
}

/**
 * Layers × sparsity heatmap: colour = damage vs dense on the cividis scale (perceptually uniform,
 * readable with colour-vision deficiencies), a legend, exact values on hover, click (or Enter)
 * on a cell to choose it. d3 owns the SVG inside `el`.
 */
export function renderHeatmap(el: HTMLElement, initial: HeatmapData, options: HeatmapOptions = {}): Chart<HeatmapData> {
  const cellWidth = options.cellWidth ?? 46;
  const cellHeight = options.cellHeight ?? 30;
  const naming = options.naming ?? SPARSITY_CELLS;
  const svg = select(el).append('svg').attr('class', 'chart heatmap').attr('role', 'group');
  const title = svg.append('title');
  const grid = svg.append('g').attr('class', 'cells');
  const left = svg.append('g').attr('class', 'sticky-left').attr('data-sticky', '');
  const leftBackground = left.append('rect').attr('class', 'sticky-background');
  const labels = left.append('g').attr('class', 'rows');
  const topBand = svg.append('g').attr('class', 'sticky-top').attr('data-sticky', '');
  const topBackground = topBand.append('rect').attr('class', 'sticky-background');
  const header = topBand.append('g').attr('class', 'columns');
  const columnTitle = topBand.append('text').attr('class', 'axis-title');
  const legend = topBand.append('g').attr('class', 'legend');
  const corner = svg.append('g').attr('class', 'sticky-corner').attr('data-sticky', '');
  corner.append('rect').attr('class', 'sticky-background').attr('width', labelWidth).attr('height', top);
  const rowTitle = corner
    .append('text')
    .attr('class', 'axis-title')
    .attr('x', 4)
    .attr('y', top - 10);
  const keys = { active: null as string | null };
  let current = initial;

  /** Keeps the header band and the row labels in view; scroll offsets are in screen pixels, the SVG may be scaled to fit. */
  const follow = () => {
    const node = svg.node();
    const drawn = node?.getBoundingClientRect().width ?? 0;
    const natural = node?.viewBox.baseVal.width ?? 0;
    const k = drawn > 0 && natural > 0 ? drawn / natural : 1;
    const down = el.scrollTop / k;
    const across = el.scrollLeft / k;
    topBand.attr('transform', `translate(0,${down})`);
    left.attr('transform', `translate(${across},0)`);
    corner.attr('transform', `translate(${across},${down})`);
  };
  el.addEventListener('scroll', follow, { passive: true });

  function draw(next: HeatmapData): void {
    current = next;
    const width = labelWidth + Math.max(next.columns.length * cellWidth, 300) + 16;
    const height = top + next.rows.length * cellHeight + bottomPad;
    svg.attr('viewBox', `0 0 ${width} ${height}`).attr('width', width).attr('height', height);
    const label = `Heatmap of ${next.metric} per ${naming.rowAttribute.replace('data-', '')} and ${naming.columnAttribute.replace('data-', '')}; dense ${fmt(next.dense)}`;
    title.text(label);
    svg.attr('aria-label', `${label}. Arrow keys move between cells, Enter chooses one.`);
    const x = scaleBand<number>()
      .domain(next.columns.map((_, i) => i))
      .range([labelWidth, labelWidth + next.columns.length * cellWidth])
      .padding(0.06);
    const y = scaleBand<string>()
      .domain(next.rows.map((r) => r.name))
      .range([top, top + next.rows.length * cellHeight])
      .padding(0.08);
    const cells = cellsOf(next);
    const worst = Math.max(1e-9, ...cells.map((c) => damage(c.value, next.dense, next.higherIsBetter)));
    const colour = scaleSequential(interpolateCividis).domain([worst, 0]);

    topBackground.attr('width', width).attr('height', top);
    leftBackground.attr('width', labelWidth).attr('height', height);
    header
      .selectAll('text')
      .data(next.columns)
      .join('text')
      .attr('x', (_, i) => (x(i) ?? 0) + x.bandwidth() / 2)
      .attr('y', top - 10)
      .attr('text-anchor', 'middle')
      .text((c, i) => naming.columnLabel(c, i));
    columnTitle
      .attr('x', labelWidth + 2)
      .attr('y', top - 30)
      .attr('text-anchor', 'start')
      .text(`${next.columnTitle ?? naming.columnAttribute.replace('data-', '')} →`);
    rowTitle.text(`${next.rowTitle ?? naming.rowAttribute.replace('data-', '')} ↓`);
    drawRowLabels(labels, next.rows, y, next.pinned);
    if (keys.active === null || !cells.some((c) => `${c.row}|${c.column}` === keys.active)) keys.active = cells[0] ? `${cells[0].row}|${cells[0].column}` : null;
    drawCells(grid, cells, next, x, y, (c) => colour(Math.max(0, damage(c.value, next.dense, next.higherIsBetter))), options, naming, keys, moveFocus);
    drawLegend(legend, colour, worst, next, 8);
    follow();
  }

  /** Moves the roving focus from `cell` by the key pressed; true when the key was a move. */
  function moveFocus(cell: Cell, key: string, ctrl: boolean): boolean {
    const rows = current.rows.map((r) => r.name);
    const r = rows.indexOf(cell.row);
    const has = (row: number, column: number) => {
      const v = current.values[row]?.[column];
      return v !== null && v !== undefined && !Number.isNaN(v);
    };
    const step = (dr: number, dc: number): [number, number] | null => {
      let row = r + dr;
      let column = cell.column + dc;
      while (row >= 0 && row < rows.length && column >= 0 && column < current.columns.length) {
        if (has(row, column)) return [row, column];
        row += dr;
        column += dc;
      }
      return null;
    };
    const edge = (row: number, fromEnd: boolean): [number, number] | null => {
      const order = current.columns.map((_, i) => i);
      if (fromEnd) order.reverse();
      const column = order.find((c) => has(row, c));
      return column === undefined ? null : [row, column];
    };
    const moves: Record<string, () => [number, number] | null> = {
      ArrowRight: () => step(0, 1),
      ArrowLeft: () => step(0, -1),
      ArrowDown: () => step(1, 0),
      ArrowUp: () => step(-1, 0),
      PageDown: () => step(Math.min(10, rows.length - 1 - r) || 1, 0) ?? step(1, 0),
      PageUp: () => step(-Math.min(10, r) || -1, 0) ?? step(-1, 0),
      Home: () => edge(ctrl ? 0 : r, false),
      End: () => edge(ctrl ? rows.length - 1 : r, true),
    };
    const move = moves[key];
    if (!move) return false;
    const target = move();
    if (target) {
      keys.active = `${rows[target[0]]}|${target[1]}`;
      grid
        .selectAll<SVGGElement, Cell>('g.cell')
        .attr('tabindex', (c) => (`${c.row}|${c.column}` === keys.active ? 0 : -1))
        .filter((c) => `${c.row}|${c.column}` === keys.active)
        .each(function () {
          this.focus();
        });
    }
    return true;
  }

  draw(initial);
  return {
    update: draw,
    destroy: () => {
      el.removeEventListener('scroll', follow);
      svg.remove();
    },
  };
}

function drawRowLabels(group: Selection<SVGGElement, unknown, null, undefined>, rows: HeatmapRow[], y: (name: string) => number | undefined, pinned?: ReadonlySet<string>): void {
  const rowGroups = group
    .selectAll<SVGGElement, HeatmapRow>('g.row')
    .data(rows, (r) => r.name)
    .join((enter) => {
      const g = enter.append('g').attr('class', 'row');
      g.append('text').attr('class', 'name');
      g.append('text').attr('class', 'detail');
      return g;
    })
    .attr('transform', (r) => `translate(0,${y(r.name) ?? 0})`);
  rowGroups
    .select('text.name')
    .attr('x', 4)
    .attr('y', 12)
    .text((r) => (pinned?.has(r.name) ? `● ${r.name}` : r.name));
  rowGroups
    .select('text.detail')
    .attr('x', 4)
    .attr('y', 25)
    .text((r) => r.detail);
}

function drawCells(
  group: Selection<SVGGElement, unknown, null, undefined>,
  cells: Cell[],
  data: HeatmapData,
  x: ReturnType<typeof scaleBand<number>>,
  y: ReturnType<typeof scaleBand<string>>,
  fill: (cell: Cell) => string,
  options: HeatmapOptions,
  naming: CellNaming,
  keys: { active: string | null },
  move: (cell: Cell, key: string, ctrl: boolean) => boolean,
): void {
  const activate = (cell: Cell) => {
    keys.active = `${cell.row}|${cell.column}`;
    options.onCellClick?.(cell.row, cell.key);
  };
  const joined = group
    .selectAll<SVGGElement, Cell>('g.cell')
    .data(cells, (c) => `${c.row}|${c.column}`)
    .join((enter) => {
      const g = enter.append('g').attr('class', 'cell').attr('role', 'button').attr('data-testid', naming.testId);
      g.append('rect');
      g.append('title');
      return g;
    })
    .attr(naming.rowAttribute, (c) => c.row)
    .attr(naming.columnAttribute, (c) => naming.columnValue(c.key, c.column))
    .attr('data-value', (c) => String(c.value))
    .attr('tabindex', (c) => (`${c.row}|${c.column}` === keys.active ? 0 : -1))
    .attr('aria-label', (c) => `${c.row} at ${naming.columnLabel(c.key, c.column)}: ${data.metric} ${fmt(c.value)}`)
    .classed('marked', (c) => data.marks.has(`${c.row}|${c.column}`))
    .on('click', (_event, c) => activate(c))
    .on('keydown', (event: KeyboardEvent, c) => {
      if (event.key === 'Enter' || event.key === ' ') {
        event.preventDefault();
        activate(c);
      } else if (move(c, event.key, event.ctrlKey || event.metaKey)) {
        event.preventDefault();
      }
    })
    .on('focus', (_event, c) => {
      keys.active = `${c.row}|${c.column}`;
    });
  joined
    .select('rect')
    .attr('x', (c) => x(c.column) ?? 0)
    .attr('y', (c) => y(c.row) ?? 0)
    .attr('width', x.bandwidth())
    .attr('height', y.bandwidth())
    .attr('rx', 3)
    .attr('fill', fill);
  joined
    .select('title')
    .text(
      (c) => `${c.row} · ${naming.columnLabel(c.key, c.column)}\n${data.metric} ${fmt(c.value)} (dense ${fmt(data.dense)}, change ${c.change >= 0 ? '+' : ''}${fmt(c.change)})`,
    );
}

function drawLegend(group: Selection<SVGGElement, unknown, null, undefined>, colour: (v: number) => string, worst: number, data: HeatmapData, y: number): void {
  const stops = 24;
  const width = 240;
  group.attr('transform', `translate(${labelWidth},${y})`);
  group
    .selectAll('rect.stop')
    .data(Array.from({ length: stops }, (_, i) => (i / (stops - 1)) * worst))
    .join('rect')
    .attr('class', 'stop')
    .attr('x', (_, i) => (i * width) / stops)
    .attr('width', width / stops + 0.5)
    .attr('height', 10)
    .attr('fill', (v) => colour(v));
  const direction = data.higherIsBetter ? 'drop' : 'rise';
  group
    .selectAll('text')
    .data([`no change (dense ${fmt(data.dense)})`, `${data.metric} ${direction} ${fmt(worst)}`, `outlined: in the plan${data.pinned && data.pinned.size > 0 ? ' · ● pinned' : ''}`])
    .join('text')
    .attr('x', (_, i) => (i === 1 ? width : 0))
    .attr('y', (_, i) => (i === 2 ? 38 : 24))
    .attr('text-anchor', (_, i) => (i === 1 ? 'end' : 'start'))
    .text((t) => t);
}
