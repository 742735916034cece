import { axisBottom, axisLeft } from 'd3-axis';
import { format } from 'd3-format';
import { scaleLinear } from 'd3-scale';
import { select, type Selection } from 'd3-selection';

export interface HistogramData {
  /** Bin edges, one more than `counts`. */
  edges: number[];
  counts: number[];
  /** Accessible description of the chart. */
  label: string;
  /** The legend's name for `counts`, shown when there is an overlay. */
  name?: string;
  /** A second histogram over the same edges, drawn over the first (outlined, translucent), with its legend name. */
  overlay?: { name: string; counts: number[] };
}

export interface HistogramOptions {
  width?: number;
  height?: number;
  xTitle?: string;
  yTitle?: string;
}

export interface Chart<T> {
  update(data: T): void;
  destroy(): void;
}

/** The top margin holds the legend when there is an overlay. */
const margin = { top: 24, right: 12, bottom: 40, left: 56 };

/** A weight histogram: bars over bin edges, counts on a linear axis. d3 owns the SVG inside `el`. */
export function renderHistogram(el: HTMLElement, data: HistogramData, options: HistogramOptions = {}): Chart<HistogramData> {
  const width = options.width ?? 420;
  const height = options.height ?? 180;
  const svg = select(el).append('svg').attr('class', 'chart histogram').attr('viewBox', `0 0 ${width} ${height}`).attr('width', width).attr('height', height).attr('role', 'img');
  const title = svg.append('title');
  const plot = svg.append('g').attr('transform', `translate(${margin.left},${margin.top})`);
  const bars = plot.append('g').attr('class', 'bars');
  const xAxis = plot
    .append('g')
    .attr('class', 'axis x')
    .attr('transform', `translate(0,${height - margin.top - margin.bottom})`);
  const yAxis = plot.append('g').attr('class', 'axis y');
  const overlayBars = plot.append('g').attr('class', 'bars overlay');
  const legend = plot.append('g').attr('class', 'legend');
  const innerWidth = width - margin.left - margin.right;
  const innerHeight = height - margin.top - margin.bottom;
  plot
    .append('text')
    .attr('class', 'axis-title')
    .attr('x', innerWidth / 2)
    .attr('y', innerHeight + 34)
    .attr('text-anchor', 'middle')
    .text(options.xTitle ?? 'weight value');
  plot
    .append('text')
    .attr('class', 'axis-title')
    .attr('transform', `translate(${-44},${innerHeight / 2}) rotate(-90)`)
    .attr('text-anchor', 'middle')
    .text(options.yTitle ?? 'weights (count)');

  function draw(next: HistogramData): void {
    title.text(next.label);
    svg.attr('aria-label', next.label);
    const lo = next.edges[0] ?? 0;
    const hi = next.edges[next.edges.length - 1] ?? 1;
    const x = scaleLinear()
      .domain(lo === hi ? [lo - 0.5, hi + 0.5] : [lo, hi])
      .range([0, innerWidth]);
    const y = scaleLinear()
      .domain([0, Math.max(1, ...next.counts, ...(next.overlay?.counts ?? []))])
      .nice()
      .range([innerHeight, 0]);
    const bins = next.counts.map((count, i) => ({ count, x0: next.edges[i], x1: next.edges[i + 1] }));
    joinBars(bars, bins, x, y, innerHeight);
    const overlay = next.overlay ? next.overlay.counts.map((count, i) => ({ count, x0: next.edges[i], x1: next.edges[i + 1] })) : [];
    joinBars(overlayBars, overlay, x, y, innerHeight);
    drawLegend(legend, next.overlay ? [next.name ?? 'weights', next.overlay.name] : [], innerWidth);
    xAxis.call(axisBottom(x).ticks(6, '~g'));
    yAxis.call(axisLeft(y).ticks(4, format('~s')));
  }

  draw(data);
  return {
    update: draw,
    destroy: () => svg.remove(),
  };
}

/** Swatches and names in a row above the plot: the bars first, the overlay second. */
function drawLegend(group: Selection<SVGGElement, unknown, null, undefined>, names: string[], innerWidth: number): void {
  group.attr('aria-hidden', names.length === 0 ? 'true' : null);
  const entries = group
    .selectAll<SVGGElement, string>('g.entry')
    .data(names)
    .join((enter) => {
      const g = enter.append('g').attr('class', 'entry');
      g.append('rect').attr('width', 10).attr('height', 10).attr('y', -9);
      g.append('text').attr('x', 14);
      return g;
    })
    .attr('transform', (_, i) => `translate(${(i * innerWidth) / 2},-10)`);
  entries.select('rect').attr('class', (_, i) => (i === 0 ? 'swatch' : 'swatch overlay'));
  entries.select('text').text((name) => name);
}

interface Bin {
  count: number;
  x0: number;
  x1: number;
}

function joinBars(group: Selection<SVGGElement, unknown, null, undefined>, bins: Bin[], x: (v: number) => number, y: (v: number) => number, innerHeight: number): void {
  const rects = group
    .selectAll<SVGRectElement, Bin>('rect')
    .data(bins)
    .join((enter) => {
      const rect = enter.append('rect');
      rect.append('title');
      return rect;
    })
    .attr('x', (d) => x(d.x0))
    .attr('width', (d) => Math.max(0.5, x(d.x1) - x(d.x0) - 0.5))
    .attr('y', (d) => y(d.count))
    .attr('height', (d) => innerHeight - y(d.count));
  rects.select('title').text((d) => `${d.x0.toPrecision(3)} … ${d.x1.toPrecision(3)}: ${d.count}`);
}
