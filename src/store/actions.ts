import { CancelledError, type BackendName, type RequestKind, type Requests, type TransferFile } from '../worker/protocol';
import { WorkerClient, WorkerCrashedError, WorkerError, WorkerStoppedError, type CallOptions, type ComputeClient, type Progress } from '../worker/client';
import { fetchDemoIndex, type DemoEntry } from '../worker/demo';
import { densePlan } from '../core/plan';
import {
  forgetSources,
  indexedDbSessionStore,
  readSession,
  recordSources,
  restoredWork,
  sessionSources,
  startPersisting,
  type ModelSource,
  type Persister,
  type SessionSources,
  type SessionStore,
} from './persist';
import { idleRemoval, useLopper, type JobState, type LopperState } from './state';

/** `?watchdog=<seconds>`: how long the worker may leave a heartbeat unanswered (twice that during a job; a job may stay at one step three times that) before it is restarted. */
function watchdogSeconds(): number | undefined {
  const value = Number(typeof window === 'undefined' ? NaN : new URLSearchParams(window.location.search).get('watchdog'));
  return Number.isFinite(value) && value > 0 ? value : undefined;
}

function createWorkerClient(): ComputeClient {
  const seconds = watchdogSeconds();
  return new WorkerClient(
    () => new Worker(new URL('../worker/worker.ts', import.meta.url), { type: 'module', name: 'lopper-compute' }),
    seconds ? { unresponsiveMs: seconds * 1000, busyUnresponsiveMs: 2 * seconds * 1000, jobStallMs: 3 * seconds * 1000 } : {},
  );
}

let compute: ComputeClient | null = null;

/**
 * Puts `next` behind every store action (tests give one that needs no Worker). A new client is a
 * new worker with nothing open, so what was recorded as open is forgotten.
 */
export function setComputeClient(next: ComputeClient): void {
  compute = next;
  next.onTensorCount = (count) => useLopper.setState({ workerTensors: count });
  next.onRestart = (reason) => void recoverAfterRestart(reason);
  next.onStopped = (reason) => workerStopped(reason);
  forgetSources();
}

function currentClient(): ComputeClient {
  if (!compute) setComputeClient(createWorkerClient());
  return compute as ComputeClient;
}

/** What a finished call leaves open in the worker, to reopen it after a restart or a reload. */
function record<K extends RequestKind>(kind: K, args: Requests[K]['args']): void {
  const a = args as Record<string, unknown>;
  if (kind === 'openDemo') recordSources({ model: { kind: 'demo', name: a.name as string }, data: null, base: null, inputShapes: undefined });
  else if (kind === 'openFiles') recordSources({ model: { kind: 'files', files: a.files as TransferFile[] }, data: null, base: null, inputShapes: undefined });
  else if (kind === 'setInputShapes') recordSources({ inputShapes: a.shapes as Record<string, number[]> });
  else if (kind === 'openDataset') recordSources({ data: { kind: 'files', files: a.files as TransferFile[] } });
  else if (kind === 'useSynthetic') recordSources({ data: { kind: 'synthetic', samples: a.samples as number, seed: a.seed as number } });
  else if (kind === 'setBackend') recordSources({ backend: a.backend as BackendName });
  else if (kind === 'loadBase') {
    const demo = a.demo as { name: string } | undefined;
    recordSources({ base: demo ? { kind: 'demo', name: demo.name } : { kind: 'files', files: (a.files as TransferFile[] | undefined) ?? [] } });
  }
}

/** The calls store actions make; what each successful call opens is recorded. */
export const client = {
  async call<K extends RequestKind>(kind: K, args: Requests[K]['args'], options?: CallOptions): Promise<Requests[K]['result']> {
    const result = await currentClient().call(kind, args, options);
    record(kind, args);
    return result;
  },
};

let nextJobId = 1;
const controllers = new Map<number, AbortController>();

export const baseUrl = (): string => new URL(import.meta.env.BASE_URL, typeof window === 'undefined' ? 'http://localhost/' : window.location.href).href;

function describeError(error: unknown): { message: string; file?: string } {
  if (error instanceof WorkerError) return { message: error.message, file: error.file };
  if (error instanceof Error) return { message: error.message };
  return { message: String(error) };
}

/** Runs one worker job with progress, Cancel and busy tracking; errors land in the store, the open model stays. */
export async function runJob<T>(
  label: string,
  work: (signal: AbortSignal, onProgress: (p: Progress) => void) => Promise<T>,
  cancellable = true,
  onStart?: (id: number) => void,
): Promise<T | null> {
  const id = nextJobId++;
  const controller = new AbortController();
  controllers.set(id, controller);
  const job: JobState = { id, label, done: 0, total: 0, startedAt: performance.now(), cancellable };
  useLopper.setState((s) => ({ jobs: [...s.jobs, job] }));
  onStart?.(id);
  const onProgress = (p: Progress) => useLopper.setState((s) => ({ jobs: s.jobs.map((j) => (j.id === id ? { ...j, label: p.label || label, done: p.done, total: p.total } : j)) }));
  try {
    return await work(controller.signal, onProgress);
  } catch (error) {
    if (error instanceof CancelledError) useLopper.setState({ notice: `${label}: cancelled` });
    else if (error instanceof WorkerCrashedError || error instanceof WorkerStoppedError) useLopper.setState({ notice: `${label}: interrupted by the worker restart` });
    else useLopper.setState({ error: describeError(error) });
    return null;
  } finally {
    controllers.delete(id);
    useLopper.setState((s) => ({ jobs: s.jobs.filter((j) => j.id !== id) }));
  }
}

/** Marks the page busy for the whole of `work`, from before its first await (a drop, a pick). */
export async function trackWork<T>(work: () => Promise<T>): Promise<T> {
  useLopper.setState((s) => ({ pendingWork: s.pendingWork + 1 }));
  try {
    return await work();
  } finally {
    useLopper.setState((s) => ({ pendingWork: s.pendingWork - 1 }));
  }
}

export function cancelJob(id: number): void {
  controllers.get(id)?.abort();
}

export function dismissError(): void {
  useLopper.setState({ error: null });
}

function requestedBackend(): BackendName | null {
  const wanted = typeof window === 'undefined' ? null : new URLSearchParams(window.location.search).get('backend');
  return wanted === 'webgpu' || wanted === 'webgl' || wanted === 'wasm' || wanted === 'cpu' ? wanted : null;
}

export async function loadDemoIndex(): Promise<DemoEntry[]> {
  try {
    return await fetchDemoIndex(baseUrl());
  } catch (error) {
    useLopper.setState({ error: describeError(error) });
    return [];
  }
}

async function initBackend(backend: BackendName | 'auto'): Promise<void> {
  const state = await client.call('init', { backend });
  useLopper.setState({ backend: state });
}

type OpenResult = Requests['openFiles']['result'];

function applyOpened(result: OpenResult): void {
  useLopper.setState({
    model: result.model,
    data: result.data,
    evaluation: result.evaluation,
    denseEvaluation: result.evaluation,
    backend: result.backend,
    plan: densePlan(result.model.units, result.data.hash),
    planResult: null,
    history: { past: [], future: [] },
    snapshots: [],
    delta: { base: null, p: 0.5, q: 0.5, search: null },
    exporting: { ...useLopper.getState().exporting, status: 'idle', result: null },
    selectedLayer: null,
    layerStats: null,
    error: null,
    sweep: { ...useLopper.getState().sweep, status: 'idle', report: null, done: 0, total: 0, curves: [] },
    removal: idleRemoval(),
  });
}

let defaultDemoName = '';
let persister: Persister | null = null;

/**
 * Starts the worker and opens the saved session where there is one (its files, data, plan,
 * history, snapshots and results); otherwise the demo that `?model=` names, or `defaultDemo`.
 * A `?model=` other than the saved session's model opens that model instead.
 */
export function startApp(defaultDemo: string, store: SessionStore | null = indexedDbSessionStore()): Promise<void> {
  defaultDemoName = defaultDemo;
  return trackWork(async () => {
    const saved = store ? await readSession(store) : { sources: null, work: null };
    const wanted = typeof window === 'undefined' ? null : new URLSearchParams(window.location.search).get('model');
    const model = saved.sources?.model ?? null;
    const restore = saved.sources !== null && model !== null && (wanted === null || (model.kind === 'demo' && model.name === wanted)) ? saved.sources : null;
    await runJob('Starting the compute backend', () => initBackend(requestedBackend() ?? restore?.backend ?? 'auto'), false);
    if (restore) {
      const reopened = await runJob('Restoring the saved session', () => reopen(restore), false);
      if (reopened) applySavedWork(reopened, saved.work);
      else {
        const why = useLopper.getState().error?.message ?? 'unknown error';
        await openDemo(defaultDemo);
        useLopper.setState({ error: { message: `The saved session could not be reopened (${why}); the demo was opened instead.` } });
      }
    } else {
      await openDemo(wanted ?? defaultDemo);
    }
    persister?.stop();
    persister = store ? startPersisting(store) : null;
  });
}

/** Writes of the session still under way; resolves when they are done (tests, New session). */
export function sessionSaved(): Promise<void> {
  return persister?.flushed() ?? Promise.resolve();
}

/** Clears the saved session and everything done in this one, and opens the default demo. Only ever on request. */
export async function newSession(): Promise<void> {
  await trackWork(async () => {
    await persister?.clear();
    useLopper.setState({ recovery: null, error: null });
    await openDemo(defaultDemoName);
  });
}

export async function openDemo(name: string): Promise<void> {
  const result = await runJob(`Opening ${name}`, (signal, onProgress) => client.call('openDemo', { name, baseUrl: baseUrl() }, { signal, onProgress }));
  if (result) {
    applyOpened(result);
    useLopper.setState({ demoName: name });
  }
}

export async function openFiles(files: TransferFile[]): Promise<void> {
  if (files.length === 0) return;
  const label = files.length === 1 ? `Opening ${files[0].path}` : `Opening ${files.length} files`;
  const result = await runJob(label, (signal, onProgress) => client.call('openFiles', { files }, { signal, onProgress }));
  if (result) {
    applyOpened(result);
    useLopper.setState({ demoName: null });
  }
}

/** A drop of only dataset files goes to the open model; anything else is opened as a model. */
export async function openDrop(files: TransferFile[]): Promise<void> {
  const isData = (path: string) => /\.txt$/i.test(path) || (/\.json$/i.test(path) && !/(^|\/)(model|config|tokenizer|char-tokenizer)\.json$/i.test(path));
  const onlyData = files.length > 0 && files.every((f) => isData(f.path));
  if (onlyData && useLopper.getState().model) await openDataset(files);
  else await openFiles(files);
}

export async function openDataset(files: TransferFile[]): Promise<void> {
  const result = await runJob('Loading evaluation data', (signal, onProgress) => client.call('openDataset', { files }, { signal, onProgress }));
  if (!result) return;
  useLopper.setState({ ...(result.model && { model: result.model }), data: result.data, evaluation: result.evaluation, denseEvaluation: result.evaluation, error: null });
  if (result.model) showPlanEvaluation(result.evaluation);
}

/** Rebuilds the model with these per-sample shapes for its dynamic input dimensions (`{}`: the defaults) and measures the plan again on it. */
export async function setInputShapes(shapes: Record<string, number[]>): Promise<void> {
  const result = await runJob('Resizing the model inputs', (signal, onProgress) => client.call('setInputShapes', { shapes }, { signal, onProgress }));
  if (!result) return;
  useLopper.setState({ model: result.model, data: result.data, evaluation: result.evaluation, denseEvaluation: result.evaluation, error: null });
  showPlanEvaluation(result.evaluation);
}

export async function switchToSyntheticData(samples = 32, seed = 0): Promise<void> {
  const result = await runJob('Generating synthetic inputs', (signal, onProgress) => client.call('useSynthetic', { samples, seed }, { signal, onProgress }));
  if (result) useLopper.setState({ data: result.data, evaluation: result.evaluation, denseEvaluation: result.evaluation });
}

export async function reevaluate(): Promise<void> {
  const evaluation = await runJob('Evaluating', (signal, onProgress) => client.call('evaluate', {}, { signal, onProgress }));
  if (evaluation) useLopper.setState({ evaluation });
}

let reapplyPlan: ((allocate: boolean) => void) | null = null;

/** How the plan is measured again, allocating first or not (set by plan-actions, which depends on this module). */
export function onPlanReapply(reapply: (allocate: boolean) => void): void {
  reapplyPlan = reapply;
}

/** True when the plan changes the model: some sparsity, a removal or DARE. */
function planIsApplied(): boolean {
  const { plan } = useLopper.getState();
  return plan.removed.length > 0 || plan.dare !== undefined || Object.values(plan.sparsity).some((s) => s > 0);
}

/**
 * Shows the plan's evaluation: measured again when the plan changes the model, the dense one
 * otherwise. `allocate`: the allocation runs first (after a restart or a reload, whose last
 * allocation may never have come back; it gives the same sparsities when it did).
 */
function showPlanEvaluation(dense: LopperState['evaluation'], allocate = false): void {
  const { plan } = useLopper.getState();
  if ((planIsApplied() || (allocate && plan.target > 0)) && reapplyPlan) reapplyPlan(allocate);
  else if (dense) useLopper.setState({ evaluation: dense });
}

/**
 * Switches the worker to another backend. The model is rebuilt there; with a plan applied the
 * evaluation shown is that of the plan, measured again on the new backend, never the dense one.
 */
export async function switchBackend(backend: BackendName): Promise<void> {
  useLopper.setState({ backendPending: backend });
  const result = await runJob(`Switching to ${backend}`, (signal, onProgress) => client.call('setBackend', { backend }, { signal, onProgress }), false);
  useLopper.setState({ backendPending: null });
  if (!result) return;
  useLopper.setState({ backend: result.backend });
  showPlanEvaluation(result.evaluation);
}

export async function selectLayer(layer: string | null): Promise<void> {
  useLopper.setState({ selectedLayer: layer, layerStats: null });
  if (layer) await readLayerDetail(layer);
}

async function readLayerDetail(layer: string): Promise<void> {
  const detail = await runJob(`Reading ${layer}`, () => client.call('layerDetail', { layer }), false);
  if (detail && useLopper.getState().selectedLayer === layer) useLopper.setState({ layerStats: detail });
}

/** Reads the selected layer's detail again after a plan was measured (its pruned kernels changed); the shown one stays until then. */
export async function refreshLayerDetail(): Promise<void> {
  const layer = useLopper.getState().selectedLayer;
  if (layer) await readLayerDetail(layer);
}

/** Flat outputs of the first samples of the current data: used by tests that compare backends. */
export function predictSamples(samples: number): Promise<{ outputs: Float32Array; shape: number[] }> {
  return client.call('predict', { samples });
}

/** Cancels the running sweep or removal search by its job id. */
export function cancelSweep(): void {
  const { jobId } = useLopper.getState().sweep;
  if (jobId !== undefined) cancelJob(jobId);
}

export function cancelRemoval(): void {
  const { jobId } = useLopper.getState().removal;
  if (jobId !== undefined) cancelJob(jobId);
}

interface Reopened {
  opened: OpenResult;
  data: OpenResult['data'];
  evaluation: OpenResult['evaluation'];
  base: Requests['loadBase']['result'] | null;
  problems: string[];
}

async function openSource(source: ModelSource, signal?: AbortSignal): Promise<OpenResult> {
  return source.kind === 'demo'
    ? currentClient().call('openDemo', { name: source.name, baseUrl: baseUrl() }, { signal })
    : currentClient().call('openFiles', { files: source.files }, { signal });
}

/**
 * Opens in the worker what `sources` says was open: the model, then the data given after it and
 * the base model. A model that does not open fails the whole; data or a base that does not is a
 * problem reported beside what was restored.
 */
async function reopen(sources: SessionSources): Promise<Reopened> {
  let opened = await openSource(sources.model ?? { kind: 'demo', name: defaultDemoName });
  let data = opened.data;
  let evaluation = opened.evaluation;
  const problems: string[] = [];
  if (sources.inputShapes) {
    try {
      const resized = await currentClient().call('setInputShapes', { shapes: sources.inputShapes });
      ({ data, evaluation } = resized);
      opened = { ...opened, model: resized.model };
    } catch (error) {
      if (error instanceof WorkerCrashedError) throw error;
      problems.push(`the input sizes could not be set again (${describeError(error).message})`);
    }
  }
  try {
    if (sources.data?.kind === 'files') {
      const loaded = await currentClient().call('openDataset', { files: sources.data.files });
      ({ data, evaluation } = loaded);
      if (loaded.model) opened = { ...opened, model: loaded.model };
    } else if (sources.data?.kind === 'synthetic') ({ data, evaluation } = await currentClient().call('useSynthetic', { samples: sources.data.samples, seed: sources.data.seed }));
  } catch (error) {
    if (error instanceof WorkerCrashedError) throw error;
    problems.push(`the dataset could not be loaded again (${describeError(error).message})`);
  }
  let base: Reopened['base'] = null;
  if (sources.base) {
    const args = sources.base.kind === 'demo' ? { demo: { name: sources.base.name, baseUrl: baseUrl() } } : { files: sources.base.files };
    try {
      base = await currentClient().call('loadBase', args);
    } catch (error) {
      if (error instanceof WorkerCrashedError) throw error;
      problems.push(`the base model could not be loaded again (${describeError(error).message})`);
    }
  }
  recordSources({ ...sources, data: problems.some((p) => p.startsWith('the dataset')) ? null : sources.data, base: base ? sources.base : null });
  return { opened, data, evaluation, base, problems };
}

/** A reload: the reopened model with the work saved for it (when it is the same model). */
function applySavedWork(reopened: Reopened, work: Parameters<typeof restoredWork>[0] | null): void {
  applyOpened(reopened.opened);
  useLopper.setState({
    data: reopened.data,
    evaluation: reopened.evaluation,
    denseEvaluation: reopened.evaluation,
    demoName: sessionSources().model?.kind === 'demo' ? (sessionSources().model as { name: string }).name : null,
  });
  const restored = work ? restoredWork(work, useLopper.getState()) : null;
  if (restored) {
    useLopper.setState({ ...restored, delta: { ...restored.delta, base: reopened.base } });
  }
  if (reopened.problems.length > 0) useLopper.setState({ error: { message: `The saved session was restored, but ${reopened.problems.join('; ')}.` } });
  showPlanEvaluation(reopened.evaluation, true);
}

function summary(s: LopperState): string {
  const parts = ['the model', 'its data'];
  const steps = s.history.past.length + s.history.future.length;
  if (planIsApplied() || steps > 0) parts.push(`the plan${steps > 0 ? ` with its ${steps} undo step${steps === 1 ? '' : 's'}` : ''}`);
  if (s.snapshots.length > 0) parts.push(`${s.snapshots.length} snapshot${s.snapshots.length === 1 ? '' : 's'}`);
  const cells = s.sweep.report?.values.flat().filter((v) => v !== null).length ?? 0;
  if (s.sweep.report) parts.push(cells === s.sweep.total || s.sweep.status === 'done' ? 'the sweep' : `the sweep's ${cells} finished cells of ${s.sweep.total}`);
  if (s.removal.report) parts.push('the removal search results');
  if (s.delta.base) parts.push('the base model');
  return `${parts.slice(0, -1).join(', ')} and ${parts[parts.length - 1]}`;
}

let recoveries = 0;

/**
 * After the worker was replaced: the page reopens the model, its data and base model in the new
 * worker, keeps the plan, history, snapshots and (partial) results it holds, and measures the plan
 * again. What happened stays on screen until dismissed.
 */
async function recoverAfterRestart(reason: string, on?: BackendName): Promise<void> {
  const generation = ++recoveries;
  const before = useLopper.getState();
  const sources = sessionSources();
  const backend = on ?? before.backend?.name ?? requestedBackend() ?? 'auto';
  useLopper.setState({ recovery: { reason, status: 'restoring', detail: 'Reopening the model in a new worker…' } });
  if (!sources.model) {
    await runJob('Restarting the compute backend', () => initBackend(backend), false);
    if (generation === recoveries) useLopper.setState({ recovery: { reason, status: 'restored', detail: 'A new worker was started; nothing was open.' } });
    return;
  }
  const reopened = await runJob(
    'Restoring after the worker restart',
    async () => {
      await initBackend(backend);
      return reopen(sources);
    },
    false,
  );
  if (generation !== recoveries) return;
  if (!reopened) {
    useLopper.setState({
      recovery: { reason, status: 'failed', detail: `The model could not be opened again; the plan and results are kept. ${useLopper.getState().error?.message ?? ''}`.trim() },
    });
    return;
  }
  const s = useLopper.getState();
  useLopper.setState({
    model: reopened.opened.model,
    data: reopened.data,
    denseEvaluation: reopened.evaluation,
    backend: reopened.opened.backend,
    delta: { ...s.delta, base: reopened.base },
  });
  showPlanEvaluation(reopened.evaluation, true);
  const problems = reopened.problems.length > 0 ? ` But ${reopened.problems.join('; ')}.` : '';
  const interrupted =
    before.sweep.status === 'running' || before.removal.status === 'running' ? ' An interrupted sweep or search keeps what it finished; run it again for the rest.' : '';
  useLopper.setState({
    recovery: { reason, status: 'restored', detail: `Restored ${summary(useLopper.getState())} on ${reopened.opened.backend.name}.${problems}${interrupted}` },
  });
}

function workerStopped(reason: string): void {
  recoveries += 1;
  useLopper.setState({
    recovery: {
      reason,
      status: 'stopped',
      detail: 'It stopped again each time it was restarted, so it was left stopped. The plan and results are kept; pick a backend to start it anew.',
    },
  });
}

/** Continues on `backend` after a restart: a new worker if the old one was left stopped, else a backend switch. */
export async function continueOnBackend(backend: BackendName): Promise<void> {
  const active = currentClient();
  if (useLopper.getState().recovery?.status === 'stopped' && active.revive) {
    active.revive();
    await recoverAfterRestart(`it was started again on ${backend} on request`, backend);
    return;
  }
  await switchBackend(backend);
}

export function dismissRecovery(): void {
  useLopper.setState({ recovery: null });
}
