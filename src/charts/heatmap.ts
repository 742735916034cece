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
  /** Narrows the columns to the scroller's width (down to a minimum), text and legend at their usual size. */
  fit?: boolean;
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
/** Rows drawn above and below the view, and rows drawn while the scroller has no size yet (a hidden tab). */
const OVERSCAN = 6;
const UNMEASURED_ROWS = 40;
/** The narrowest column a fitted heatmap draws; below it the heatmap scrolls sideways. */
const MIN_FIT_WIDTH = 12;
/** Room one column label needs; narrower columns label every n-th column. */
const LABEL_ROOM = 34;
/** The grid's least width: room for the legend beside few columns. */
const MIN_GRID_WIDTH = 380;

/** Change vs dense signed so that positive is worse, whatever the metric. */
export function damage(value: number, dense: number, higherIsBetter: boolean): number {
  return higherIsBetter ? dense - value : value - dense;
}

/** Whether cell (row, column) has a value to draw. */
function known(data: HeatmapData, row: number, column: number): boolean {
  const v = data.values[row]?.[column];
  return v !== null && v !== undefined && !Number.isNaN(v);
}

function cellsOf(data: HeatmapData, rows: readonly number[]): Cell[] {
  const cells: Cell[] = [];
  for (const r of rows) {
    const row = data.rows[r];
    data.columns.forEach((sparsity, column) => {
      if (!known(data, r, column)) return;
      const value = data.values[r][column] as number;
      cells.push({ row: row.name, column, key: sparsity, value, change: value - data.dense });
    });
  }
  return cells;
}

/** The rows `[start, end)` in a scroller's view, in row indices; `scale` is drawn pixels per SVG unit. */
export function visibleRows(count: number, scrollTop: number, clientHeight: number, cellHeight: number, scale = 1): { start: number; end: number } {
  if (clientHeight <= 0) return { start: 0, end: Math.min(count, UNMEASURED_ROWS) };
  const down = scrollTop / scale;
  const start = Math.max(0, Math.floor((down - top) / cellHeight) - OVERSCAN);
  const end = Math.min(count, Math.ceil((down + clientHeight / scale - top) / cellHeight) + OVERSCAN);
  return { start: Math.min(start, count), end: Math.max(end, Math.min(start, count)) };
}

/**
 * Layers × sparsity heatmap: colour = damage vs dense on the cividis scale (perceptually uniform,
 * readable with colour-vision deficiencies), a legend, exact values on hover, click (or Enter)
 * on a cell to choose it. Only the rows in the scroller's view (and the row of the focusable
 * cell) are drawn; the header band, the legend and the row labels stay in view while it scrolls.
 * `el` is the scroller; d3 owns the SVG inside it.
 */
export function renderHeatmap(el: HTMLElement, initial: HeatmapData, options: HeatmapOptions = {}): Chart<HeatmapData> {
  const naturalWidth = options.cellWidth ?? 46;
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
  const legendHolder = topBand.append('g').attr('class', 'legend-holder').attr('data-sticky', '');
  const legend = legendHolder.append('g').attr('class', 'legend');
  const corner = svg.append('g').attr('class', 'sticky-corner').attr('data-sticky', '');
  corner.append('rect').attr('class', 'sticky-background').attr('width', labelWidth).attr('height', top);
  const rowTitle = corner
    .append('text')
    .attr('class', 'axis-title')
    .attr('x', 4)
    .attr('y', top - 10);
  const keys = { active: null as string | null };
  let current = initial;
  let layout = { width: 0, height: 0, cellWidth: naturalWidth, worst: 1e-9 };
  let drawn = { start: -1, end: -1, active: null as string | null, all: false };

  /** Drawn pixels per SVG unit (1 unless CSS scales the SVG). */
  const scale = () => {
    const node = svg.node();
    const width = node?.getBoundingClientRect().width ?? 0;
    return width > 0 && layout.width > 0 ? width / layout.width : 1;
  };

  /** Keeps the header band, the legend and the row labels in view. */
  const follow = () => {
    const k = scale();
    const down = el.scrollTop / k;
    const across = el.scrollLeft / k;
    topBand.attr('transform', `translate(0,${down})`);
    legendHolder.attr('transform', `translate(${across},0)`);
    left.attr('transform', `translate(${across},0)`);
    corner.attr('transform', `translate(${across},${down})`);
  };

  const x = () =>
    scaleBand<number>()
      .domain(current.columns.map((_, i) => i))
      .range([labelWidth, labelWidth + current.columns.length * layout.cellWidth])
      .padding(0.06);
  const rowTop = (index: number) => top + index * cellHeight;
  /** The active cell's row and column indices. */
  const activeCell = (): [number, number] | null => {
    if (keys.active === null) return null;
    const bar = keys.active.lastIndexOf('|');
    const row = rowIndex.get(keys.active.slice(0, bar));
    return row === undefined ? null : [row, Number(keys.active.slice(bar + 1))];
  };

  /** Draws the row labels and cells of the rows in view (all rows when `all`), plus the active cell's row. */
  function drawRows(all = false): void {
    const view = all ? { start: 0, end: current.rows.length } : visibleRows(current.rows.length, el.scrollTop, el.clientHeight, cellHeight, scale());
    if (!all && !drawn.all && drawn.start === view.start && drawn.end === view.end && drawn.active === keys.active) return;
    drawn = { ...view, active: keys.active, all };
    const indices: number[] = [];
    for (let i = view.start; i < view.end; i++) indices.push(i);
    const active = activeCell()?.[0] ?? -1;
    if (active >= 0 && (active < view.start || active >= view.end)) indices.push(active);
    const xs = x();
    const y = (name: string) => {
      const index = rowIndex.get(name) ?? 0;
      return rowTop(index) + cellHeight * 0.04;
    };
    const band = cellHeight * 0.92;
    const colour = scaleSequential(interpolateCividis).domain([layout.worst, 0]);
    drawRowLabels(
      labels,
      indices.map((i) => current.rows[i]),
      (name) => rowTop(rowIndex.get(name) ?? 0),
      current.pinned,
    );
    drawCells(
      grid,
      cellsOf(current, indices),
      current,
      xs,
      y,
      band,
      (c) => colour(Math.max(0, damage(c.value, current.dense, current.higherIsBetter))),
      options,
      naming,
      keys,
      moveFocus,
    );
  }
  let rowIndex = new Map<string, number>();

  function draw(next: HeatmapData): void {
    current = next;
    rowIndex = new Map(next.rows.map((r, i) => [r.name, i]));
    const columns = Math.max(1, next.columns.length);
    const room = el.clientWidth - labelWidth - 16;
    const cellWidth = next.fit && room > 0 ? Math.max(MIN_FIT_WIDTH, Math.min(naturalWidth * 2, room / columns)) : naturalWidth;
    const width = labelWidth + Math.max(next.columns.length * cellWidth, MIN_GRID_WIDTH) + 16;
    const height = top + next.rows.length * cellHeight + bottomPad;
    let worst = 1e-9;
    next.values.forEach((row, r) =>
      row.forEach((v, c) => {
        if (known(next, r, c)) worst = Math.max(worst, damage(v as number, next.dense, next.higherIsBetter));
      }),
    );
    layout = { width, height, cellWidth, worst };
    svg.attr('viewBox', `0 0 ${width} ${height}`).attr('width', width).attr('height', height);
    const label = `Heatmap of ${next.metric} per ${naming.rowAttribute.replace('data-', '')} and ${naming.columnAttribute.replace('data-', '')}; dense ${fmt(next.dense)}`;
    title.text(label);
    svg
      .attr('aria-label', `${label}. ${next.rows.length} rows; arrow keys move between cells, Enter chooses one.`)
      .attr('data-rows', next.rows.length)
      .attr('data-columns', next.columns.length);
    const xs = x();
    const every = Math.max(1, Math.ceil(LABEL_ROOM / cellWidth));
    topBackground.attr('width', width).attr('height', top);
    leftBackground.attr('width', labelWidth).attr('height', height);
    header
      .selectAll('text')
      .data(next.columns)
      .join('text')
      .attr('x', (_, i) => (xs(i) ?? 0) + xs.bandwidth() / 2)
      .attr('y', top - 10)
      .attr('text-anchor', 'middle')
      .text((c, i) => (i % every === 0 ? naming.columnLabel(c, i) : ''));
    columnTitle
      .attr('x', labelWidth + 2)
      .attr('y', top - 30)
      .attr('text-anchor', 'start')
      .text(`${next.columnTitle ?? naming.columnAttribute.replace('data-', '')} →`);
    rowTitle.text(`${next.rowTitle ?? naming.rowAttribute.replace('data-', '')} ↓`);
    if (keys.active === null || !activeKnown()) keys.active = firstKnown();
    drawLegend(legend, scaleSequential(interpolateCividis).domain([worst, 0]), worst, next, 8);
    drawn = { start: -1, end: -1, active: null, all: false };
    drawRows();
    follow();
  }

  const activeKnown = () => {
    const cell = activeCell();
    return cell !== null && known(current, cell[0], cell[1]);
  };
  const firstKnown = (): string | null => {
    for (let r = 0; r < current.rows.length; r++) for (let c = 0; c < current.columns.length; c++) if (known(current, r, c)) return `${current.rows[r].name}|${c}`;
    return null;
  };

  /** Scrolls so that cell (row, column) is clear of the sticky header band and row labels. */
  function reveal(row: number, column: number): void {
    const k = scale();
    const y0 = rowTop(row) * k;
    const y1 = y0 + cellHeight * k;
    const band = top * k;
    if (y0 < el.scrollTop + band) el.scrollTop = Math.max(0, y0 - band);
    else if (y1 > el.scrollTop + el.clientHeight) el.scrollTop = y1 - el.clientHeight;
    const x0 = (labelWidth + column * layout.cellWidth) * k;
    const x1 = x0 + layout.cellWidth * k;
    const side = labelWidth * k;
    if (x0 < el.scrollLeft + side) el.scrollLeft = Math.max(0, x0 - side);
    else if (x1 > el.scrollLeft + el.clientWidth) el.scrollLeft = x1 - el.clientWidth;
  }

  /** Moves the roving focus from `cell` by the key pressed; true when the key was a move. */
  function moveFocus(cell: Cell, key: string, ctrl: boolean): boolean {
    const count = current.rows.length;
    const r = rowIndex.get(cell.row) ?? 0;
    const step = (dr: number, dc: number): [number, number] | null => {
      let row = r + dr;
      let column = cell.column + dc;
      while (row >= 0 && row < count && column >= 0 && column < current.columns.length) {
        if (known(current, row, column)) return [row, column];
        row += dr;
        column += dc;
      }
      return null;
    };
    const edge = (row: number, fromEnd: boolean): [number, number] | null => {
      const order = current.columns.map((_, i) => i);
      if (fromEnd) order.reverse();
      const column = order.find((c) => known(current, row, c));
      return column === undefined ? null : [row, column];
    };
    const moves: Record<string, () => [number, number] | null> = {
      ArrowRight: () => step(0, 1),
      ArrowLeft: () => step(0, -1),
      ArrowDown: () => step(1, 0),
      ArrowUp: () => step(-1, 0),
      PageDown: () => step(Math.min(10, count - 1 - r) || 1, 0) ?? step(1, 0),
      PageUp: () => step(-Math.min(10, r) || -1, 0) ?? step(-1, 0),
      Home: () => edge(ctrl ? 0 : r, false),
      End: () => edge(ctrl ? count - 1 : r, true),
    };
    const move = moves[key];
    if (!move) return false;
    const target = move();
    if (target) {
      keys.active = `${current.rows[target[0]].name}|${target[1]}`;
      reveal(target[0], target[1]);
      drawRows();
      follow();
      grid
        .selectAll<SVGGElement, Cell>('g.cell')
        .filter((c) => `${c.row}|${c.column}` === keys.active)
        .each(function () {
          this.focus({ preventScroll: true });
        });
    }
    return true;
  }

  const onScroll = () => {
    follow();
    drawRows();
  };
  el.addEventListener('scroll', onScroll, { passive: true });
  let width = el.clientWidth;
  let height = el.clientHeight;
  const resize =
    typeof ResizeObserver === 'undefined'
      ? null
      : new ResizeObserver(() => {
          if (el.clientWidth === width && el.clientHeight === height) return;
          width = el.clientWidth;
          height = el.clientHeight;
          if (current.fit) draw(current);
          else drawRows();
        });
  resize?.observe(el);
  drawAllRows.set(el, (fn) => {
    drawRows(true);
    try {
      return fn();
    } finally {
      drawRows();
    }
  });

  draw(initial);
  return {
    update: draw,
    destroy: () => {
      el.removeEventListener('scroll', onScroll);
      resize?.disconnect();
      drawAllRows.delete(el);
      svg.remove();
    },
  };
}

/** Heatmaps by their scroller: runs `fn` with every row drawn (for an export), then back to the window. */
const drawAllRows = new WeakMap<Element, <T>(fn: () => T) => T>();

/** Runs `fn` while the chart in `host` has every row drawn, where it draws only a window of them. */
export function withEveryRow<T>(host: Element, fn: () => T): T {
  const drawer = drawAllRows.get(host);
  return drawer ? drawer(fn) : fn();
}

function drawRowLabels(group: Selection<SVGGElement, unknown, null, undefined>, rows: HeatmapRow[], y: (name: string) => number, pinned?: ReadonlySet<string>): void {
  const rowGroups = group
    .selectAll<SVGGElement, HeatmapRow>('g.row')
    .data(rows, (r) => r.name)
    .join((enter) => {
      const g = enter
        .append('g')
        .attr('class', 'row')
        .attr('data-row', (r) => r.name);
      g.append('text').attr('class', 'name');
      g.append('text').attr('class', 'detail');
      return g;
    })
    .attr('transform', (r) => `translate(0,${y(r.name) + 2})`);
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
  y: (row: string) => number,
  band: number,
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
    .attr('y', (c) => y(c.row))
    .attr('width', x.bandwidth())
    .attr('height', band)
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
  group.attr('transform', `translate(${labelWidth + 2},${y})`);
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
    .attr('x', (_, i) => (i === 1 ? width + 6 : 0))
    .attr('y', (_, i) => (i === 0 ? 24 : i === 1 ? 9 : 38))
    .attr('text-anchor', 'start')
    .text((t) => t);
}
