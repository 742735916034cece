import { useCallback, useEffect, useRef, useState, type KeyboardEvent } from 'react';

/** Rows drawn while the scroller has no size yet (a hidden tab): enough for a small model, bounded for a large one. */
const UNMEASURED_ROWS = 40;
const OVERSCAN = 8;

export interface RowWindow {
  /** The scrolling element. */
  ref: React.RefObject<HTMLDivElement | null>;
  /** The scroller's callback ref: sets `ref` and measures the element it is given. */
  attach(el: HTMLDivElement | null): void;
  start: number;
  end: number;
  /** Pixels above and below the drawn rows. */
  before: number;
  after: number;
  /** Scrolls so that row `index` is drawn and in view. */
  reveal(index: number): void;
}

/** Draws only the rows of a fixed-height list that are in (or near) the scroller's view. */
export function useRowWindow(count: number, rowHeight: number, offset = 0): RowWindow {
  const ref = useRef<HTMLDivElement | null>(null);
  const [view, setView] = useState({ top: 0, height: 0 });
  // The scroller can appear after the first render (a table drawn once a model is open): `attach` follows it.
  const [element, setElement] = useState<HTMLDivElement | null>(null);
  const attach = useCallback((el: HTMLDivElement | null) => {
    ref.current = el;
    setElement(el);
  }, []);
  useEffect(() => {
    const el = element;
    if (!el) return;
    const measure = () => setView({ top: el.scrollTop, height: el.clientHeight });
    measure();
    el.addEventListener('scroll', measure, { passive: true });
    const observer = new ResizeObserver(measure);
    observer.observe(el);
    return () => {
      el.removeEventListener('scroll', measure);
      observer.disconnect();
    };
  }, [element]);
  const visible = view.height > 0 ? Math.ceil(view.height / rowHeight) : UNMEASURED_ROWS;
  const first = Math.max(0, Math.floor((view.top - offset) / rowHeight) - OVERSCAN);
  const start = Math.min(first, Math.max(0, count - 1));
  const end = Math.min(count, start + visible + 2 * OVERSCAN);
  const reveal = useCallback(
    (index: number) => {
      const el = ref.current;
      if (!el) return;
      const top = offset + index * rowHeight;
      if (top < el.scrollTop + offset) el.scrollTop = top - offset;
      else if (top + rowHeight > el.scrollTop + el.clientHeight) el.scrollTop = top + rowHeight - el.clientHeight;
      setView({ top: el.scrollTop, height: el.clientHeight });
    },
    [offset, rowHeight],
  );
  return { ref, attach, start, end, before: start * rowHeight, after: Math.max(0, (count - end) * rowHeight), reveal };
}

/**
 * Roving focus over a list: one row is the Tab stop, arrow keys, Page keys, Home and End move it.
 * `focusRow` focuses the row's control once it is drawn.
 */
export function useRovingRows(count: number, list: RowWindow, page = 10) {
  const [active, setActive] = useState(0);
  const pending = useRef<number | null>(null);
  const container = useRef<HTMLElement | null>(null);
  const current = Math.min(active, Math.max(0, count - 1));
  useEffect(() => {
    if (pending.current === null) return;
    const row = container.current?.querySelector<HTMLElement>(`[data-row-index="${pending.current}"] [data-roving]`);
    if (row) {
      row.focus();
      pending.current = null;
    }
  });
  const onKeyDown = (e: KeyboardEvent<HTMLElement>) => {
    const target = e.target as HTMLElement;
    if (!target.hasAttribute('data-roving') && !target.closest('[data-row-index]')) return;
    let next: number | null = null;
    if (e.key === 'ArrowDown') next = current + 1;
    else if (e.key === 'ArrowUp') next = current - 1;
    else if (e.key === 'PageDown') next = current + page;
    else if (e.key === 'PageUp') next = current - page;
    else if (e.key === 'Home' && !(target instanceof HTMLInputElement)) next = 0;
    else if (e.key === 'End' && !(target instanceof HTMLInputElement)) next = count - 1;
    if (next === null || count === 0) return;
    e.preventDefault();
    const index = Math.max(0, Math.min(count - 1, next));
    setActive(index);
    pending.current = index;
    list.reveal(index);
  };
  const onFocus = (e: React.FocusEvent<HTMLElement>) => {
    const row = (e.target as HTMLElement).closest('[data-row-index]');
    const index = row ? Number(row.getAttribute('data-row-index')) : NaN;
    if (Number.isInteger(index) && index !== current) setActive(index);
  };
  return { active: current, setActive, onKeyDown, onFocus, container };
}
