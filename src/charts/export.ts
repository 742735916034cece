const SVG_NS = 'http://www.w3.org/2000/svg';
const TITLE_HEIGHT = 28;
const PAD = 12;
/** Styles that CSS gives the charts on the page: written onto each element so the file looks the same anywhere. */
const INLINED = ['fill', 'fill-opacity', 'stroke', 'stroke-width', 'stroke-dasharray', 'opacity', 'visibility', 'font-family', 'font-size', 'font-weight'] as const;

export interface ExportedSvg {
  markup: string;
  width: number;
  height: number;
}

function sizeOf(svg: SVGSVGElement): { width: number; height: number } {
  const box = svg.viewBox.baseVal;
  if (box && box.width > 0 && box.height > 0) return { width: box.width, height: box.height };
  return { width: svg.width.baseVal.value || 480, height: svg.height.baseVal.value || 240 };
}

/**
 * A chart's SVG as a standalone document: a title above it, an opaque background, and the page's
 * computed colours and fonts written onto every element (axes, legend and labels look as on screen).
 * Groups marked `data-sticky` (headers that follow scrolling) are put back in place.
 */
export function exportableSvg(svg: SVGSVGElement, title: string, background = '#ffffff', foreground = '#1d1f21'): ExportedSvg {
  const { width, height } = sizeOf(svg);
  const clone = svg.cloneNode(true) as SVGSVGElement;
  const originals = [svg, ...svg.querySelectorAll('*')];
  const copies = [clone, ...clone.querySelectorAll('*')];
  const view = svg.ownerDocument.defaultView;
  originals.forEach((original, i) => {
    const copy = copies[i];
    if (!view || !(copy instanceof SVGElement)) return;
    const computed = view.getComputedStyle(original);
    const style = INLINED.map((name) => `${name}: ${computed.getPropertyValue(name)}`).join('; ');
    copy.setAttribute('style', style);
    if (copy.hasAttribute('data-sticky')) copy.removeAttribute('transform');
  });
  const out = svg.ownerDocument.createElementNS(SVG_NS, 'svg');
  const fullWidth = width + 2 * PAD;
  const fullHeight = height + TITLE_HEIGHT + PAD;
  out.setAttribute('xmlns', SVG_NS);
  out.setAttribute('viewBox', `0 0 ${fullWidth} ${fullHeight}`);
  out.setAttribute('width', String(fullWidth));
  out.setAttribute('height', String(fullHeight));
  const rect = svg.ownerDocument.createElementNS(SVG_NS, 'rect');
  rect.setAttribute('width', String(fullWidth));
  rect.setAttribute('height', String(fullHeight));
  rect.setAttribute('fill', background);
  const heading = svg.ownerDocument.createElementNS(SVG_NS, 'text');
  heading.setAttribute('x', String(PAD));
  heading.setAttribute('y', String(PAD + 8));
  heading.setAttribute('style', `fill: ${foreground}; font-family: system-ui, sans-serif; font-size: 14px; font-weight: 600`);
  heading.textContent = title;
  const body = svg.ownerDocument.createElementNS(SVG_NS, 'g');
  body.setAttribute('transform', `translate(${PAD},${TITLE_HEIGHT})`);
  clone.setAttribute('x', '0');
  clone.setAttribute('y', '0');
  clone.setAttribute('width', String(width));
  clone.setAttribute('height', String(height));
  body.append(clone);
  out.append(rect, heading, body);
  return { markup: new XMLSerializer().serializeToString(out), width: fullWidth, height: fullHeight };
}
