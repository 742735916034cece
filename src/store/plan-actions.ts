import type { CriterionKey, Granularity } from '../core/criteria/types';
import type { AllocationKey, PruningPlan } from '../core/plan';
import type { GroupPreview } from '../core/structure';
import { CancelledError, type PlanRequest, type TransferFile } from '../worker/protocol';
import { baseUrl, client, onPlanReapply, refreshLayerDetail, runJob } from './actions';
import { useLopper, type LopperState } from './state';

const DEBOUNCE_MS = 200;
const HISTORY_LIMIT = 100;

let timer: ReturnType<typeof setTimeout> | null = null;
let inFlight: AbortController | null = null;
let scheduled = false;

function markBusy(delta: number): void {
  useLopper.setState((s) => ({ pendingWork: s.pendingWork + delta }));
}

/** Re-applies the plan in the worker after a short pause; a newer change cancels the older run. */
function scheduleEvaluation(allocate: boolean, evaluation: PlanRequest['evaluation'] = 'auto'): void {
  if (!scheduled) {
    scheduled = true;
    markBusy(1);
  }
  if (timer) clearTimeout(timer);
  inFlight?.abort();
  timer = setTimeout(() => {
    timer = null;
    void evaluateNow(allocate, evaluation);
  }, DEBOUNCE_MS);
}

async function evaluateNow(allocate: boolean, evaluation: PlanRequest['evaluation']): Promise<void> {
  const controller = new AbortController();
  inFlight = controller;
  const { plan, sweep, allocationOptions } = useLopper.getState();
  const request: PlanRequest = { plan, allocate, sweep: sweep.report ?? undefined, options: allocationOptions, evaluation };
  try {
    const result = await runJob('Applying the plan', async (_signal, onProgress) => {
      try {
        return await client.call('evaluatePlan', request, { signal: controller.signal, onProgress });
      } catch (error) {
        if (error instanceof CancelledError && controller !== inFlight) return null;
        throw error;
      }
    });
    if (result && controller === inFlight) {
      useLopper.setState((s) => ({
        planResult: result,
        evaluation: result.evaluation,
        plan: s.plan === plan ? { ...s.plan, sparsity: result.sparsity } : s.plan,
        notice: result.note ?? null,
      }));
      void refreshLayerDetail();
    }
  } finally {
    if (controller === inFlight) {
      inFlight = null;
      if (scheduled && timer === null) {
        scheduled = false;
        markBusy(-1);
      }
    }
  }
}

/** The slider being dragged: its changes between pointer down and up are one undo step. */
let drag: { key: string; recorded: boolean } | null = null;

/** A pointer went down on the control named `key` (see `changePlan`). */
export function beginDrag(key: string): void {
  drag = { key, recorded: false };
}

export function endDrag(): void {
  drag = null;
}

/** Records the current plan for undo, then applies `change` to it; the changes of one drag of the control `key` record one step. */
function changePlan(change: (plan: PruningPlan) => PruningPlan, allocate = true, key?: string): void {
  const continues = drag !== null && drag.key === key && drag.recorded;
  if (drag !== null && drag.key === key) drag.recorded = true;
  useLopper.setState((s) => ({
    plan: change(s.plan),
    history: continues ? { past: s.history.past, future: [] } : { past: [...s.history.past.slice(-HISTORY_LIMIT + 1), s.plan], future: [] },
  }));
  scheduleEvaluation(allocate);
}

onPlanReapply((allocate) => scheduleEvaluation(allocate));

/**
 * The current plan measured on all of the data, with its gzipped size: a large model's live
 * evaluation runs on the calibration subset (the plan summary says so), this one on request.
 */
export function evaluatePlanFully(): void {
  scheduleEvaluation(false, 'full');
}

export function setGlobalTarget(target: number): void {
  changePlan((p) => ({ ...p, target: Math.max(0, Math.min(1, target)) }), true, 'global');
}

/** A per-layer slider or a heatmap click: that unit's sparsity, locked so the allocation keeps it. */
export function setUnitSparsity(unit: string, sparsity: number): void {
  setUnitsSparsity([unit], sparsity, `unit:${unit}`);
}

/** A group slider: every unit of the group at `sparsity`, each locked; one undo step. */
export function setUnitsSparsity(units: readonly string[], sparsity: number, key = `group:${units.join(',')}`): void {
  if (units.length === 0) return;
  changePlan(
    (p) => {
      const sparsities = { ...p.sparsity };
      for (const unit of units) sparsities[unit] = sparsity;
      const locked = new Set(p.locked);
      return { ...p, sparsity: sparsities, locked: [...p.locked, ...units.filter((u) => !locked.has(u))] };
    },
    true,
    key,
  );
}

/** Releases pinned units: the allocation sets them again from the global target. */
export function releaseUnits(units: readonly string[]): void {
  const release = new Set(units);
  if (!useLopper.getState().plan.locked.some((u) => release.has(u))) return;
  changePlan((p) => ({ ...p, locked: p.locked.filter((u) => !release.has(u)) }));
}

export function toggleLock(unit: string): void {
  changePlan((p) => ({ ...p, locked: p.locked.includes(unit) ? p.locked.filter((u) => u !== unit) : [...p.locked, unit] }));
}

export function setAllocation(allocation: AllocationKey): void {
  changePlan((p) => ({ ...p, allocation }));
}

export function setCriterion(criterion: CriterionKey): void {
  changePlan((p) => ({ ...p, criterion }));
}

export function setGranularity(granularity: Granularity): void {
  changePlan((p) => ({ ...p, granularity }));
}

export function setAllocationOption(patch: Partial<LopperState['allocationOptions']>): void {
  useLopper.setState((s) => ({ allocationOptions: { ...s.allocationOptions, ...patch } }));
  scheduleEvaluation(true);
}

/** The removal slider's choice, as part of the plan (not an undo step of its own). */
/** The removals the removal slider chose go into the plan, and the whole plan is measured again (`evaluation` covers removals too). */
export function setPlanRemoved(removed: string[]): void {
  const before = useLopper.getState().plan.removed;
  if (before.length === removed.length && before.every((name, i) => name === removed[i])) return;
  useLopper.setState((s) => ({ plan: { ...s.plan, removed } }));
  scheduleEvaluation(true);
}

export function undo(): void {
  const { history, plan } = useLopper.getState();
  const previous = history.past[history.past.length - 1];
  if (!previous) return;
  useLopper.setState({ plan: previous, history: { past: history.past.slice(0, -1), future: [plan, ...history.future] } });
  scheduleEvaluation(false);
}

export function redo(): void {
  const { history, plan } = useLopper.getState();
  const next = history.future[0];
  if (!next) return;
  useLopper.setState({ plan: next, history: { past: [...history.past, plan], future: history.future.slice(1) } });
  scheduleEvaluation(false);
}

export function saveSnapshot(name: string): void {
  useLopper.setState((s) => ({ snapshots: [...s.snapshots, { name: name.trim() || `Plan ${s.snapshots.length + 1}`, plan: s.plan, result: s.planResult }] }));
}

export function restoreSnapshot(index: number): void {
  const snapshot = useLopper.getState().snapshots[index];
  if (snapshot) changePlan(() => snapshot.plan, false);
}

export function removeSnapshot(index: number): void {
  useLopper.setState((s) => ({ snapshots: s.snapshots.filter((_, i) => i !== index) }));
}

export function setExportFloat16(float16: boolean): void {
  useLopper.setState((s) => ({ exporting: { ...s.exporting, float16 } }));
}

/**
 * Writes the pruned model and its recipe as a zip; the worker reloads the export and checks it
 * reproduces the in-app evaluation first. A mismatch is reported, and nothing is returned to save.
 */
export async function exportPlan(): Promise<{ fileName: string; zip: Uint8Array } | null> {
  const { plan, exporting, sweep } = useLopper.getState();
  useLopper.setState((s) => ({ exporting: { ...s.exporting, status: 'running', result: null } }));
  const report = sweep.report !== null && sweep.report.dataHash === plan.dataHash ? sweep.report : undefined;
  const result = await runJob('Exporting', (signal, onProgress) =>
    client.call('exportModel', { plan, float16: exporting.float16, ...(report && { sweep: report }) }, { signal, onProgress }),
  );
  if (!result) {
    useLopper.setState((s) => ({ exporting: { ...s.exporting, status: 'failed' } }));
    return null;
  }
  const { zip, ...rest } = result;
  useLopper.setState((s) => ({ exporting: { ...s.exporting, status: result.check.ok ? 'done' : 'failed', result: rest } }));
  if (!result.check.ok) {
    useLopper.setState({
      error: {
        message: `The export did not reproduce the in-app evaluation (${result.check.metric} ${result.check.inApp} in the app, ${result.check.reloaded} reloaded); it was not saved.`,
      },
    });
    return null;
  }
  return { fileName: result.fileName, zip };
}

/** Whether the browser can save into a folder (File System Access API). */
export const canSaveToFolder = (): boolean => typeof (globalThis as { showDirectoryPicker?: unknown }).showDirectoryPicker === 'function';

/** Channel dependency groups of the open model (what shrinks together), for the plan panel. */
export async function loadChannelGroups(): Promise<GroupPreview[]> {
  return (await runJob('Reading channel groups', () => client.call('channelGroups', {}), false)) ?? [];
}

/** Loads the base model of a delta-pruning pair: a demo by name, or dropped/picked files. */
export async function loadBaseModel(source: { demo: string } | { files: TransferFile[] }): Promise<void> {
  const args = 'demo' in source ? { demo: { name: source.demo, baseUrl: baseUrl() } } : { files: source.files };
  const base = await runJob('Loading the base model', () => client.call('loadBase', args));
  if (base) useLopper.setState((s) => ({ delta: { ...s.delta, base, search: null } }));
}

/** DARE's drop rate p and rescale q (1/q on the kept deltas; q = 1 − p is plain DARE). */
export function setDareParameters(p: number, q: number): void {
  useLopper.setState((s) => ({ delta: { ...s.delta, p, q } }));
  if (useLopper.getState().plan.dare) applyDare(true);
}

/** Turns delta pruning on or off in the plan. */
export function applyDare(on: boolean): void {
  const { delta } = useLopper.getState();
  if (on && !delta.base) return;
  changePlan((plan) => (on && delta.base ? { ...plan, dare: { base: delta.base.sha256, p: delta.p, q: delta.q } } : { ...plan, dare: undefined }), false);
}

/** DAREx-q: searches q for the current p against the loss on the data, and uses the best. */
export async function searchDareRescale(): Promise<void> {
  const { delta, plan } = useLopper.getState();
  const result = await runJob('Searching q (DAREx-q)', (signal, onProgress) => client.call('searchRescale', { p: delta.p, seed: plan.seed }, { signal, onProgress }));
  if (!result) return;
  useLopper.setState((s) => ({ delta: { ...s.delta, q: result.q, search: result } }));
  if (useLopper.getState().plan.dare) applyDare(true);
}
