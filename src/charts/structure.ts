import { format } from 'd3-format';
import { interpolateCividis } from 'd3-scale-chromatic';
import { scaleSequential } from 'd3-scale';
import { select, type Selection } from 'd3-selection';
import type { Chart } from './histogram';

export interface StructureNode {
  id: string;
  label: string;
  /** The unit this node stands for; layers without a unit are drawn small and grey. */
  unit?: string;
  /** What selecting the node selects (the unit's layer); the node's id when absent. */
  target?: string;
  column: number;
  row: number;
  value: number | null;
  description: string;
  selected: boolean;
  /** Drawn faint: the search does not match it. */
  dimmed: boolean;
}

export interface StructureData {
  /** `grid`: block × sublayer with row and column headers; `flow`: a layer DAG (or layers in order). */
  layout: 'grid' | 'flow';
  nodes: StructureNode[];
  /** Node ids; `skip` marks an edge across rows (a residual or concat input). */
  edges: { from: string; to: string; skip: boolean }[];
  columns: string[];
  rows: string[];
}

export interface StructureChartData extends StructureData {
  /** What the colour means, for the legend and the title. */
  overlay: string;
  /** The overlay's value range; values outside are clamped. */
  domain: [number, number];
  /** Formats a value for the legend. */
  tick?: (v: number) => string;
}

export interface StructureOptions {
  onSelect?: (target: string) => void;
}

/** Node widths: a grid's columns are titled, so its nodes are narrower than a flow's. */
const flowWidth = 120;
const gridWidth = 84;
const cellHeight = 30;
const gapX = 10;
const gapY = 14;
const labelWidth = 150;
const headerHeight = 26;
const legendHeight = 44;
const fmt = format('.3~g');

function positions(data: StructureData) {
  const left = data.layout === 'grid' ? labelWidth : 8;
  const top = (data.layout === 'grid' ? headerHeight : 8) + legendHeight;
  const cellWidth = data.layout === 'grid' ? gridWidth : flowWidth;
  return {
    left,
    top,
    cellWidth,
    x: (column: number) => left + column * (cellWidth + gapX),
    y: (row: number) => top + row * (cellHeight + gapY),
  };
}

/**
 * The model drawn as its structure, each unit a node coloured by the overlay (cividis; grey when
 * unknown). One Tab stop: arrow keys move between nodes, Enter or a click selects a node's unit.
 */
export function renderStructure(el: HTMLElement, initial: StructureChartData, options: StructureOptions = {}): Chart<StructureChartData> {
  let data = initial;
  let active: string | null = null;
  const svg = select(el).append('svg').attr('class', 'chart structure').attr('role', 'group');
  const title = svg.append('title');
  const legend = svg.append('g').attr('class', 'legend');
  const headers = svg.append('g').attr('class', 'headers');
  const edges = svg.append('g').attr('class', 'edges');
  const nodes = svg.append('g').attr('class', 'nodes');

  const focusNode = (id: string) => {
    active = id;
    nodes.selectAll<SVGGElement, StructureNode>('g.node').attr('tabindex', (n) => (n.id === active ? 0 : -1));
    nodes
      .selectAll<SVGGElement, StructureNode>('g.node')
      .filter((n) => n.id === id)
      .each(function () {
        this.focus();
      });
  };

  const neighbour = (from: StructureNode, key: string): StructureNode | undefined => {
    const list = data.nodes;
    if (key === 'Home') return list[0];
    if (key === 'End') return list[list.length - 1];
    const dx = key === 'ArrowRight' ? 1 : key === 'ArrowLeft' ? -1 : 0;
    const dy = key === 'ArrowDown' ? 1 : key === 'ArrowUp' ? -1 : 0;
    if (dx === 0 && dy === 0) return undefined;
    const candidates = list.filter((n) => (dy === 0 ? n.row === from.row && Math.sign(n.column - from.column) === dx : Math.sign(n.row - from.row) === dy));
    const distance = (n: StructureNode) => Math.abs(n.row - from.row) * 1000 + Math.abs(n.column - from.column);
    return candidates.sort((a, b) => distance(a) - distance(b))[0];
  };

  function draw(next: StructureChartData): void {
    data = next;
    const p = positions(next);
    const cellWidth = p.cellWidth;
    const columns = Math.max(1, ...next.nodes.map((n) => n.column + 1), next.columns.length);
    const rows = Math.max(1, ...next.nodes.map((n) => n.row + 1));
    const width = p.left + columns * (cellWidth + gapX) + 8;
    const height = p.top + rows * (cellHeight + gapY) + 8;
    svg.attr('viewBox', `0 0 ${width} ${height}`).attr('width', width).attr('height', height);
    const label = `Model structure coloured by ${next.overlay}: ${next.nodes.filter((n) => n.unit).length} units`;
    title.text(label);
    svg.attr('aria-label', label);
    const colour = scaleSequential(interpolateCividis).domain([next.domain[1], next.domain[0]]);
    const fill = (n: StructureNode) => (n.value === null ? 'var(--node-empty, #d9dcdf)' : colour(Math.max(next.domain[0], Math.min(next.domain[1], n.value))));
    drawLegend(legend, colour, next, width);
    drawHeaders(headers, next, p);
    const byId = new Map(next.nodes.map((n) => [n.id, n]));
    edges
      .selectAll('path')
      .data(next.edges.filter((e) => byId.has(e.from) && byId.has(e.to)))
      .join('path')
      .attr('class', (e) => (e.skip ? 'edge skip' : 'edge'))
      .attr('fill', 'none')
      .attr('d', (e) => {
        const a = byId.get(e.from) as StructureNode;
        const b = byId.get(e.to) as StructureNode;
        const x1 = p.x(a.column) + cellWidth / 2;
        const y1 = p.y(a.row) + cellHeight;
        const x2 = p.x(b.column) + cellWidth / 2;
        const y2 = p.y(b.row);
        const bend = e.skip ? cellWidth * 0.7 : 0;
        return `M${x1},${y1} C${x1 + bend},${y1 + gapY * 2} ${x2 + bend},${y2 - gapY * 2} ${x2},${y2}`;
      });
    if (active === null || !byId.has(active)) active = (next.nodes.find((n) => n.selected) ?? next.nodes.find((n) => n.unit))?.id ?? null;
    const joined = nodes
      .selectAll<SVGGElement, StructureNode>('g.node')
      .data(next.nodes, (n) => n.id)
      .join((enter) => {
        const g = enter.append('g').attr('class', 'node');
        g.append('rect').attr('rx', 5);
        g.append('text').attr('class', 'label');
        g.append('title');
        return g;
      })
      .attr('transform', (n) => `translate(${p.x(n.column)},${p.y(n.row)})`)
      .attr('data-testid', (n) => (n.unit ? 'structure-node' : null))
      .attr('data-layer', (n) => n.unit ?? null)
      .attr('role', 'button')
      .attr('tabindex', (n) => (n.id === active ? 0 : -1))
      .attr('aria-label', (n) => n.description)
      .attr('aria-pressed', (n) => String(n.selected))
      .classed('unit', (n) => n.unit !== undefined)
      .classed('selected', (n) => n.selected)
      .classed('dimmed', (n) => n.dimmed)
      .on('click', (_event, n) => {
        active = n.id;
        options.onSelect?.(n.target ?? n.id);
      })
      .on('keydown', (event: KeyboardEvent, n) => {
        if (event.key === 'Enter' || event.key === ' ') {
          event.preventDefault();
          options.onSelect?.(n.target ?? n.id);
          return;
        }
        const to = neighbour(n, event.key);
        if (to) {
          event.preventDefault();
          focusNode(to.id);
        }
      });
    joined
      .select('rect')
      .attr('width', cellWidth)
      .attr('height', (n) => (n.unit ? cellHeight : cellHeight * 0.7))
      .attr('y', (n) => (n.unit ? 0 : cellHeight * 0.15))
      .attr('fill', fill);
    joined
      .select('text.label')
      .attr('x', 6)
      .attr('y', cellHeight / 2)
      .attr('dy', '0.35em')
      .attr('fill', (n) => (n.value !== null && n.value > (next.domain[0] + next.domain[1]) / 2 ? '#fff' : '#111'))
      .text((n) => {
        const room = Math.floor((cellWidth - 10) / 6.5);
        return n.label.length > room ? `${n.label.slice(0, room - 1)}…` : n.label;
      });
    joined.select('title').text((n) => n.description);
  }

  draw(initial);
  return { update: draw, destroy: () => svg.remove() };
}

function drawHeaders(group: Selection<SVGGElement, unknown, null, undefined>, data: StructureData, p: ReturnType<typeof positions>): void {
  const columns = data.layout === 'grid' ? data.columns : [];
  const rows = data.layout === 'grid' ? data.rows : [];
  group
    .selectAll('text.column')
    .data(columns)
    .join('text')
    .attr('class', 'column')
    .attr('x', (_, i) => p.x(i) + p.cellWidth / 2)
    .attr('y', p.top - 8)
    .attr('text-anchor', 'middle')
    .text((c) => c);
  group
    .selectAll('text.row')
    .data(rows)
    .join('text')
    .attr('class', 'row')
    .attr('x', p.left - 8)
    .attr('y', (_, i) => p.y(i) + cellHeight / 2)
    .attr('dy', '0.35em')
    .attr('text-anchor', 'end')
    .text((r) => r);
}

function drawLegend(group: Selection<SVGGElement, unknown, null, undefined>, colour: (v: number) => string, options: StructureChartData, width: number): void {
  const stops = 24;
  const barWidth = Math.min(220, width - 120);
  const [lo, hi] = options.domain;
  const tick = options.tick ?? fmt;
  group.attr('transform', 'translate(8,6)');
  group
    .selectAll('text.legend-title')
    .data([options.overlay])
    .join('text')
    .attr('class', 'legend-title')
    .attr('y', 10)
    .text((t) => t);
  group
    .selectAll('rect.stop')
    .data(Array.from({ length: stops }, (_, i) => lo + ((hi - lo) * i) / (stops - 1)))
    .join('rect')
    .attr('class', 'stop')
    .attr('x', (_, i) => (i * barWidth) / stops)
    .attr('y', 16)
    .attr('width', barWidth / stops + 0.5)
    .attr('height', 8)
    .attr('fill', (v) => colour(v));
  group
    .selectAll('text.tick')
    .data([tick(lo), tick(hi), 'grey: no value'])
    .join('text')
    .attr('class', 'tick')
    .attr('x', (_, i) => (i === 0 ? 0 : i === 1 ? barWidth : barWidth + 12))
    .attr('y', 36)
    .attr('text-anchor', (_, i) => (i === 1 ? 'end' : 'start'))
    .text((t) => t);
}
