/**
 * Collects items that arrive faster than the page can draw them and hands them over at most once
 * per animation frame (every 16 ms where there are no frames, e.g. in Node), so that a sweep
 * streaming thousands of cells updates the store and redraws the heatmap once per frame, not once
 * per cell. `flush` hands over what is pending at once.
 */
export function frameBatch<T>(apply: (items: T[]) => void): { push(item: T): void; flush(): void } {
  let pending: T[] = [];
  let scheduled = false;
  const flush = (): void => {
    scheduled = false;
    if (pending.length === 0) return;
    const items = pending;
    pending = [];
    apply(items);
  };
  const schedule = (): void => {
    if (scheduled) return;
    scheduled = true;
    if (typeof requestAnimationFrame === 'function') requestAnimationFrame(flush);
    else setTimeout(flush, 16);
  };
  return {
    push(item) {
      pending.push(item);
      schedule();
    },
    flush,
  };
}
