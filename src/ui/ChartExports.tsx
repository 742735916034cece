import { exportableSvg } from '../charts/export';
import { withEveryRow } from '../charts/heatmap';
import { downloadBlob, downloadText, svgToPng } from './download';

/** The page's panel colours, so that an exported chart keeps its contrast in a dark theme too. */
function colours(host: Element): { background: string; foreground: string } {
  const style = getComputedStyle(host);
  const background = style.getPropertyValue('--panel').trim() || '#ffffff';
  return { background, foreground: style.color || '#1d1f21' };
}

/** The chart in `host` as a standalone SVG document with its title and an opaque background; a windowed heatmap gives every row. */
export function chartDocument(host: Element | null, title: string) {
  const svg = host?.querySelector('svg');
  if (!host || !svg) return null;
  const { background, foreground } = colours(host);
  return withEveryRow(host, () => exportableSvg(svg, title, background, foreground));
}

/** SVG and PNG downloads of the chart in `host`; `label` names the chart when a view has several. */
export function ChartExports({ host, name, title, label }: { host: HTMLElement | null; name: string; title: string; label?: string }) {
  const make = () => chartDocument(host, title);
  return (
    <div className="buttons" role="group" aria-label={label ? `Export the ${label}` : 'Export the chart'}>
      <button
        type="button"
        className="button small"
        aria-label={label ? `${label} as SVG` : undefined}
        onClick={() => {
          const doc = make();
          if (doc) downloadText(`${name}.svg`, doc.markup, 'image/svg+xml');
        }}
      >
        SVG
      </button>
      <button
        type="button"
        className="button small"
        aria-label={label ? `${label} as PNG` : undefined}
        onClick={() => {
          const doc = make();
          if (doc) void svgToPng(doc.markup, doc.width, doc.height).then((png) => downloadBlob(`${name}.png`, png));
        }}
      >
        PNG
      </button>
    </div>
  );
}
