import { create } from 'zustand';
import { useLopper, type LopperState } from './state';

/** The main area's views, in tab order. */
export const VIEWS = ['layers', 'structure', 'sensitivity', 'removal', 'plan', 'export'] as const;
export type ViewName = (typeof VIEWS)[number];

export const VIEW_TITLES: Record<ViewName, string> = {
  layers: 'Layers',
  structure: 'Structure',
  sensitivity: 'Sensitivity',
  removal: 'Removal',
  plan: 'Plan',
  export: 'Export',
};

/** How the unit lists group their rows: by block or stage, or by the sublayer's role across blocks (every `mlp.down_proj`). */
export const GROUPINGS = ['block', 'role'] as const;
export type Grouping = (typeof GROUPINGS)[number];

/** What colours the structure view. */
export const OVERLAYS = ['planned', 'sensitivity', 'removal', 'params'] as const;
export type Overlay = (typeof OVERLAYS)[number];

export const OVERLAY_TITLES: Record<Overlay, string> = {
  planned: 'Planned sparsity',
  sensitivity: 'Sensitivity at the chosen sparsity',
  removal: 'Removal order',
  params: 'Parameter share',
};

export interface UnitFilters {
  /** A layer class (`Conv2D`, `Linear`), or '' for any. */
  type: string;
  prunable: 'any' | 'yes' | 'no';
  /** Only units whose sparsity is locked. */
  locked: boolean;
  /** Only units whose planned sparsity is not 0. */
  changed: boolean;
}

/** One evaluation of the plan for the summary's sparkline. */
export interface EvaluationPoint {
  value: number;
  metric: string;
}

export interface ViewState {
  view: ViewName;
  search: string;
  filters: UnitFilters;
  grouping: Grouping;
  /** Group keys folded away in the unit lists. */
  collapsed: string[];
  overlay: Overlay;
  /** The sparsity whose sweep column colours the sensitivity overlay. */
  overlaySparsity: number;
  /** The latest evaluations of the plan, oldest first. */
  recent: EvaluationPoint[];
}

export const RECENT_LIMIT = 24;

export const noFilters = (): UnitFilters => ({ type: '', prunable: 'any', locked: false, changed: false });

function initialView(): ViewName {
  const wanted = typeof window === 'undefined' ? null : new URLSearchParams(window.location.search).get('view');
  return VIEWS.find((v) => v === wanted) ?? 'layers';
}

export const useView = create<ViewState>()(() => ({
  view: initialView(),
  search: '',
  filters: noFilters(),
  grouping: 'block',
  collapsed: [],
  overlay: 'planned',
  overlaySparsity: 0.5,
  recent: [],
}));

export function showView(view: ViewName): void {
  useView.setState({ view });
}

export function setSearch(search: string): void {
  useView.setState({ search });
}

export function setFilters(patch: Partial<UnitFilters>): void {
  useView.setState((s) => ({ filters: { ...s.filters, ...patch } }));
}

export function clearFilters(): void {
  useView.setState({ search: '', filters: noFilters() });
}

export function setGrouping(grouping: Grouping): void {
  useView.setState({ grouping, collapsed: [] });
}

export function toggleGroup(key: string): void {
  useView.setState((s) => ({ collapsed: s.collapsed.includes(key) ? s.collapsed.filter((k) => k !== key) : [...s.collapsed, key] }));
}

export function setCollapsed(keys: string[]): void {
  useView.setState({ collapsed: keys });
}

export function setOverlay(overlay: Overlay): void {
  useView.setState({ overlay });
}

export function setOverlaySparsity(overlaySparsity: number): void {
  useView.setState({ overlaySparsity });
}

/** The one number that says how good the model is now: accuracy with labels, perplexity on text, divergence data-free, else loss. */
export function headlineOf(e: LopperState['evaluation']): EvaluationPoint | null {
  if (!e) return null;
  if (e.accuracy !== undefined) return { value: e.accuracy, metric: 'accuracy' };
  if (e.perplexity !== undefined) return { value: e.perplexity, metric: 'perplexity' };
  if (e.divergence !== undefined) return { value: e.divergence, metric: 'divergence' };
  if (e.loss !== undefined) return { value: e.loss, metric: 'loss' };
  return null;
}

/** Every measured plan adds a point; new data starts the line again, a new model also clears the search, filters and folds. */
useLopper.subscribe((state, previous) => {
  if (state.model !== previous.model) useView.setState({ search: '', filters: noFilters(), collapsed: [] });
  if (state.model !== previous.model || state.data !== previous.data) useView.setState({ recent: [] });
  if (state.planResult && state.planResult !== previous.planResult) {
    const point = headlineOf(state.planResult.evaluation);
    if (point) useView.setState((s) => ({ recent: [...s.recent.filter((p) => p.metric === point.metric), point].slice(-RECENT_LIMIT) }));
  }
});
