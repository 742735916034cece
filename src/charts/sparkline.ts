import { extent } from 'd3-array';
import { scaleLinear } from 'd3-scale';
import { select } from 'd3-selection';
import { line } from 'd3-shape';
import type { Chart } from './histogram';

export interface SparklineData {
  /** Values oldest first. */
  values: number[];
  /** The dense model's value: a dashed reference line. */
  dense: number | null;
  /** Accessible description. */
  label: string;
}

const width = 120;
const height = 28;
const pad = 3;

/** A tiny line of the latest evaluations with the dense value dashed behind it; the last point is a dot. */
export function renderSparkline(el: HTMLElement, initial: SparklineData): Chart<SparklineData> {
  const svg = select(el).append('svg').attr('class', 'chart sparkline').attr('viewBox', `0 0 ${width} ${height}`).attr('width', width).attr('height', height).attr('role', 'img');
  const title = svg.append('title');
  const dense = svg.append('line').attr('class', 'dense').attr('stroke-dasharray', '3 2');
  const path = svg.append('path').attr('class', 'line').attr('fill', 'none').attr('stroke-width', 1.5);
  const dot = svg.append('circle').attr('class', 'last').attr('r', 2.5);

  function draw(data: SparklineData): void {
    title.text(data.label);
    svg.attr('aria-label', data.label);
    const all = data.dense === null ? data.values : [...data.values, data.dense];
    const [lo = 0, hi = 1] = extent(all.filter(Number.isFinite));
    const x = scaleLinear()
      .domain([0, Math.max(1, data.values.length - 1)])
      .range([pad, width - pad]);
    const y = scaleLinear()
      .domain(lo === hi ? [lo - 1, hi + 1] : [lo, hi])
      .range([height - pad, pad]);
    dense
      .attr('x1', pad)
      .attr('x2', width - pad)
      .attr('y1', data.dense === null ? -10 : y(data.dense))
      .attr('y2', data.dense === null ? -10 : y(data.dense));
    const toPath = line<number>()
      .x((_, i) => x(i))
      .y((v) => y(v));
    path.attr('d', toPath(data.values) ?? '');
    const last = data.values[data.values.length - 1];
    dot
      .attr('cx', x(data.values.length - 1))
      .attr('cy', last === undefined ? -10 : y(last))
      .attr('visibility', last === undefined ? 'hidden' : 'visible');
  }

  draw(initial);
  return { update: draw, destroy: () => svg.remove() };
}
