import { format } from 'd3-format';

const si = format('.3~s');
const fixed3 = format('.3~f');

export const formatCount = (n: number): string => (Math.abs(n) < 1000 ? String(n) : si(n).replace('G', 'B'));
export const formatPercent = (x: number): string => `${(x * 100).toFixed(x > 0 && x < 0.001 ? 3 : 1)}%`;
export const formatNumber = (x: number): string => (Number.isFinite(x) ? (Math.abs(x) >= 1e4 || (Math.abs(x) < 1e-3 && x !== 0) ? x.toExponential(2) : fixed3(x)) : String(x));
export const formatShape = (shape: (number | null)[]): string => `[${shape.map((d) => (d === null ? '?' : d)).join(', ')}]`;
export const formatMs = (ms: number): string => (ms < 1 ? `${(ms * 1000).toFixed(0)} µs` : ms < 1000 ? `${ms.toFixed(1)} ms` : `${(ms / 1000).toFixed(2)} s`);
export const formatBytes = (bytes: number): string =>
  bytes < 1024
    ? `${bytes} B`
    : bytes < 1024 ** 2
      ? `${(bytes / 1024).toFixed(1)} KiB`
      : bytes < 1024 ** 3
        ? `${(bytes / 1024 ** 2).toFixed(2)} MiB`
        : `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
