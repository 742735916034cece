import { useRef, type KeyboardEvent, type ReactNode } from 'react';
import { showView, useView, VIEW_TITLES, VIEWS, type ViewName, type ViewState } from '../store/view';

const selectView = (s: ViewState) => s.view;

export const tabId = (view: ViewName): string => `tab-${view}`;
export const panelId = (view: ViewName): string => `view-${view}`;

/** The views as an ARIA tablist: one Tab stop, ←/→/Home/End move between tabs and show the view. */
export function ViewTabs() {
  const current = useView(selectView);
  const tabs = useRef<(HTMLButtonElement | null)[]>([]);
  const move = (e: KeyboardEvent<HTMLDivElement>) => {
    const index = VIEWS.indexOf(current);
    const next = e.key === 'ArrowRight' ? index + 1 : e.key === 'ArrowLeft' ? index - 1 : e.key === 'Home' ? 0 : e.key === 'End' ? VIEWS.length - 1 : null;
    if (next === null) return;
    e.preventDefault();
    const view = VIEWS[(next + VIEWS.length) % VIEWS.length];
    showView(view);
    tabs.current[VIEWS.indexOf(view)]?.focus();
  };
  return (
    <div className="tabs" role="tablist" aria-label="Views" onKeyDown={move}>
      {VIEWS.map((view, i) => (
        <button
          key={view}
          ref={(el) => {
            tabs.current[i] = el;
          }}
          type="button"
          role="tab"
          id={tabId(view)}
          aria-selected={view === current}
          aria-controls={panelId(view)}
          tabIndex={view === current ? 0 : -1}
          className="tab"
          data-view={view}
          onClick={() => showView(view)}
        >
          {VIEW_TITLES[view]}
        </button>
      ))}
    </div>
  );
}

/** A view's panel: kept mounted while hidden, so that its charts and state stay. */
export function ViewPanel({ view, children }: { view: ViewName; children: ReactNode }) {
  const current = useView(selectView);
  return (
    <div role="tabpanel" id={panelId(view)} aria-labelledby={tabId(view)} hidden={view !== current} className={`view view-${view}`}>
      {children}
    </div>
  );
}
