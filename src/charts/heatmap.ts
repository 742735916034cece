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
const labelWidth = 190;
const top = 34;
const legendHeight = 46;

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
  const cellHeight = options.cellHeight ?? 26;
  const naming = options.naming ?? SPARSITY_CELLS;
  const svg = select(el).append('svg').attr('class', 'chart heatmap').attr('role', 'group');
  const title = svg.append('title');
  const header = svg.append('g').attr('class', 'columns');
  const labels = svg.append('g').attr('class', 'rows');
  const grid = svg.append('g').attr('class', 'cells');
  const legend = svg.append('g').attr('class', 'legend');

  function draw(next: HeatmapData): void {
    const width = labelWidth + next.columns.length * cellWidth + 16;
    const height = top + next.rows.length * cellHeight + legendHeight;
    svg.attr('viewBox', `0 0 ${width} ${height}`).attr('width', width).attr('height', height);
    const label = `Heatmap of ${next.metric} per ${naming.rowAttribute.replace('data-', '')} and ${naming.columnAttribute.replace('data-', '')}; dense ${fmt(next.dense)}`;
    title.text(label);
    svg.attr('aria-label', label);
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

    header
      .selectAll('text')
      .data(next.columns)
      .join('text')
      .attr('x', (_, i) => (x(i) ?? 0) + x.bandwidth() / 2)
      .attr('y', top - 10)
      .attr('text-anchor', 'middle')
      .text((c, i) => naming.columnLabel(c, i));
    drawRowLabels(labels, next.rows, y);
    drawCells(grid, cells, next, x, y, (c) => colour(Math.max(0, damage(c.value, next.dense, next.higherIsBetter))), options, naming);
    drawLegend(legend, colour, worst, next, top + next.rows.length * cellHeight + 14);
  }

  draw(initial);
  return {
    update: draw,
    destroy: () => svg.remove(),
  };
}

function drawRowLabels(group: Selection<SVGGElement, unknown, null, undefined>, rows: HeatmapRow[], y: (name: string) => number | undefined): void {
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
    .attr('y', 11)
    .text((r) => r.name);
  rowGroups
    .select('text.detail')
    .attr('x', 4)
    .attr('y', 22)
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
): void {
  const activate = (cell: Cell) => options.onCellClick?.(cell.row, cell.key);
  const joined = group
    .selectAll<SVGGElement, Cell>('g.cell')
    .data(cells, (c) => `${c.row}|${c.column}`)
    .join((enter) => {
      const g = enter.append('g').attr('class', 'cell').attr('tabindex', 0).attr('role', 'button').attr('data-testid', naming.testId);
      g.append('rect');
      g.append('title');
      return g;
    })
    .attr(naming.rowAttribute, (c) => c.row)
    .attr(naming.columnAttribute, (c) => naming.columnValue(c.key, c.column))
    .attr('data-value', (c) => String(c.value))
    .attr('aria-label', (c) => `${c.row} at ${naming.columnLabel(c.key, c.column)}: ${data.metric} ${fmt(c.value)}`)
    .classed('marked', (c) => data.marks.has(`${c.row}|${c.column}`))
    .on('click', (_event, c) => activate(c))
    .on('keydown', (event: KeyboardEvent, c) => {
      if (event.key === 'Enter' || event.key === ' ') {
        event.preventDefault();
        activate(c);
      }
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
  const width = 180;
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
    .data([`no change`, `${data.metric} ${direction} ${fmt(worst)}`])
    .join('text')
    .attr('x', (_, i) => (i === 0 ? 0 : width))
    .attr('y', 24)
    .attr('text-anchor', (_, i) => (i === 0 ? 'start' : 'end'))
    .text((t) => t);
}
