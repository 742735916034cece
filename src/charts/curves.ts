import { axisBottom, axisLeft } from 'd3-axis';
import { format } from 'd3-format';
import { scaleLinear } from 'd3-scale';
import { select } from 'd3-selection';
import { line } from 'd3-shape';
import type { Chart } from './histogram';

export interface CurveSeries {
  name: string;
  /** [sparsity, metric] points in order; unknown points left out. */
  points: [number, number][];
}

export interface CurvesData {
  series: CurveSeries[];
  dense: number;
  metric: string;
  /** What the x axis is (sparsity by default). */
  xTitle?: string;
}

/** Okabe–Ito: distinguishable with the common colour-vision deficiencies. */
export const OKABE_ITO = ['#0072B2', '#E69F00', '#009E73', '#CC79A7', '#56B4E9', '#D55E00', '#F0E442', '#000000'];

const margin = { top: 12, right: 130, bottom: 42, left: 60 };

/** Metric vs sparsity, one line per layer, with a dashed line at the dense value. */
export function renderCurves(el: HTMLElement, initial: CurvesData, options: { width?: number; height?: number } = {}): Chart<CurvesData> {
  const width = options.width ?? 480;
  const height = options.height ?? 220;
  const innerWidth = width - margin.left - margin.right;
  const innerHeight = height - margin.top - margin.bottom;
  const svg = select(el).append('svg').attr('class', 'chart curves').attr('viewBox', `0 0 ${width} ${height}`).attr('width', width).attr('height', height).attr('role', 'img');
  const title = svg.append('title');
  const plot = svg.append('g').attr('transform', `translate(${margin.left},${margin.top})`);
  const xAxis = plot.append('g').attr('class', 'axis x').attr('transform', `translate(0,${innerHeight})`);
  const yAxis = plot.append('g').attr('class', 'axis y');
  const denseLine = plot.append('line').attr('class', 'dense').attr('stroke-dasharray', '4 3');
  const denseLabel = plot.append('text').attr('class', 'dense-label').attr('text-anchor', 'start').attr('dy', '-0.3em');
  const xTitle = plot
    .append('text')
    .attr('class', 'axis-title')
    .attr('x', innerWidth / 2)
    .attr('y', innerHeight + 34)
    .attr('text-anchor', 'middle');
  const yTitle = plot
    .append('text')
    .attr('class', 'axis-title')
    .attr('transform', `translate(${-46},${innerHeight / 2}) rotate(-90)`)
    .attr('text-anchor', 'middle');
  const lines = plot.append('g').attr('class', 'lines');
  const names = plot.append('g').attr('class', 'names');

  function draw(data: CurvesData): void {
    const label = `${data.metric} against sparsity for ${data.series.map((s) => s.name).join(', ') || 'no layer'}`;
    title.text(label);
    svg.attr('aria-label', label);
    const values = [data.dense, ...data.series.flatMap((s) => s.points.map((p) => p[1]))].filter(Number.isFinite);
    const lo = Math.min(...values);
    const hi = Math.max(...values);
    const x = scaleLinear().domain([0, 1]).range([0, innerWidth]);
    const y = scaleLinear()
      .domain(lo === hi ? [lo - 1, hi + 1] : [lo, hi])
      .nice()
      .range([innerHeight, 0]);
    xAxis.call(axisBottom(x).ticks(5, '.0%'));
    yAxis.call(axisLeft(y).ticks(5, format('.3~g')));
    denseLine.attr('x1', 0).attr('x2', innerWidth).attr('y1', y(data.dense)).attr('y2', y(data.dense));
    denseLabel
      .attr('x', 4)
      .attr('y', y(data.dense))
      .text(`dense ${format('.4~g')(data.dense)}`);
    xTitle.text(`${data.xTitle ?? 'sparsity'} (%)`);
    yTitle.text(data.metric);
    const path = line<[number, number]>()
      .x((p) => x(p[0]))
      .y((p) => y(p[1]));
    lines
      .selectAll('path')
      .data(data.series, (s) => (s as CurveSeries).name)
      .join('path')
      .attr('fill', 'none')
      .attr('stroke-width', 2)
      .attr('stroke', (_, i) => OKABE_ITO[i % OKABE_ITO.length])
      .attr('d', (s) => path(s.points) ?? '');
    names
      .selectAll('text')
      .data(data.series, (s) => (s as CurveSeries).name)
      .join('text')
      .attr('x', innerWidth + 6)
      .attr('y', (s) => y(s.points[s.points.length - 1]?.[1] ?? data.dense))
      .attr('dy', '0.35em')
      .attr('fill', (_, i) => OKABE_ITO[i % OKABE_ITO.length])
      .text((s) => s.name);
  }

  draw(initial);
  return { update: draw, destroy: () => svg.remove() };
}
