import { useCallback, type ReactNode } from 'react';
import type { RowWindow } from './use-window';
import { useRovingRows } from './use-window';

/** The scrolling box of a windowed table with roving focus over its rows (see `useRovingRows`). */
export function RowScroller({ list, roving, children }: { list: RowWindow; roving: ReturnType<typeof useRovingRows>; children: ReactNode }) {
  const { attach } = list;
  const { container } = roving;
  const ref = useCallback(
    (el: HTMLDivElement | null) => {
      attach(el);
      container.current = el;
    },
    [attach, container],
  );
  return (
    <div className="table-scroll tall" ref={ref} onKeyDown={roving.onKeyDown} onFocus={roving.onFocus}>
      {children}
    </div>
  );
}

/** Stands in for the rows above or below the window. */
export function SpacerRow({ height }: { height: number }) {
  return height > 0 ? <tr aria-hidden="true" className="spacer" style={{ height }} /> : null;
}
