import { useEffect, useRef } from 'react';
import type { Chart } from '../charts/histogram';

/** Creates the chart when its data first appears, updates it after, destroys it when the data goes away. */
export function useChart<T>(render: (el: HTMLElement, data: T) => Chart<T>, data: T | null) {
  const el = useRef<HTMLDivElement>(null);
  const chart = useRef<{ host: HTMLElement; chart: Chart<T> } | null>(null);
  useEffect(() => {
    const host = el.current;
    if (chart.current && (!data || chart.current.host !== host)) {
      chart.current.chart.destroy();
      chart.current = null;
    }
    if (!host || !data) return;
    if (chart.current) chart.current.chart.update(data);
    else chart.current = { host, chart: render(host, data) };
  }, [render, data]);
  useEffect(
    () => () => {
      chart.current?.chart.destroy();
      chart.current = null;
    },
    [],
  );
  return el;
}
