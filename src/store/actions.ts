import { CancelledError, type BackendName, type TransferFile } from '../worker/protocol';
import { WorkerClient, WorkerError, type Progress } from '../worker/client';
import { fetchDemoIndex, type DemoEntry } from '../worker/demo';
import { densePlan } from '../core/plan';
import { idleRemoval, useLopper, type JobState } from './state';

export const client = new WorkerClient(() => new Worker(new URL('../worker/worker.ts', import.meta.url), { type: 'module', name: 'lopper-compute' }));
client.onTensorCount = (count) => useLopper.setState({ workerTensors: count });
client.onRestart = () => void restoreAfterCrash();

type Source = { kind: 'demo'; name: string } | { kind: 'files'; files: TransferFile[] };
/** What is open now, to reopen after a worker crash. Files are not plain data, so they live here, not in the store. */
let currentSource: Source | null = null;
let nextJobId = 1;
const controllers = new Map<number, AbortController>();

export const baseUrl = (): string => new URL(import.meta.env.BASE_URL, window.location.href).href;

function describeError(error: unknown): { message: string; file?: string } {
  if (error instanceof WorkerError) return { message: error.message, file: error.file };
  if (error instanceof Error) return { message: error.message };
  return { message: String(error) };
}

/** Runs one worker job with progress, Cancel and busy tracking; errors land in the store, the open model stays. */
export async function runJob<T>(label: string, work: (signal: AbortSignal, onProgress: (p: Progress) => void) => Promise<T>, cancellable = true): Promise<T | null> {
  const id = nextJobId++;
  const controller = new AbortController();
  controllers.set(id, controller);
  const job: JobState = { id, label, done: 0, total: 0, startedAt: performance.now(), cancellable };
  useLopper.setState((s) => ({ jobs: [...s.jobs, job] }));
  const onProgress = (p: Progress) => useLopper.setState((s) => ({ jobs: s.jobs.map((j) => (j.id === id ? { ...j, label: p.label || label, done: p.done, total: p.total } : j)) }));
  try {
    return await work(controller.signal, onProgress);
  } catch (error) {
    if (error instanceof CancelledError) useLopper.setState({ notice: `${label}: cancelled` });
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

function requestedBackend(): BackendName | 'auto' {
  const wanted = new URLSearchParams(window.location.search).get('backend');
  return wanted === 'webgpu' || wanted === 'webgl' || wanted === 'wasm' || wanted === 'cpu' ? wanted : 'auto';
}

export async function loadDemoIndex(): Promise<DemoEntry[]> {
  try {
    return await fetchDemoIndex(baseUrl());
  } catch (error) {
    useLopper.setState({ error: describeError(error) });
    return [];
  }
}

async function initBackend(): Promise<void> {
  const backend = await client.call('init', { backend: requestedBackend() });
  useLopper.setState({ backend });
}

function applyOpened(result: Awaited<ReturnType<typeof client.call<'openFiles'>>>): void {
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

export function startApp(defaultDemo: string): Promise<void> {
  return trackWork(async () => {
    await runJob('Starting the compute backend', () => initBackend(), false);
    const wanted = new URLSearchParams(window.location.search).get('model') ?? defaultDemo;
    await openDemo(wanted);
  });
}

export async function openDemo(name: string): Promise<void> {
  const result = await runJob(`Opening ${name}`, (signal, onProgress) => client.call('openDemo', { name, baseUrl: baseUrl() }, { signal, onProgress }));
  if (result) {
    currentSource = { kind: 'demo', name };
    applyOpened(result);
    useLopper.setState({ demoName: name });
  }
}

export async function openFiles(files: TransferFile[]): Promise<void> {
  if (files.length === 0) return;
  const label = files.length === 1 ? `Opening ${files[0].path}` : `Opening ${files.length} files`;
  const result = await runJob(label, (signal, onProgress) => client.call('openFiles', { files }, { signal, onProgress }));
  if (result) {
    currentSource = { kind: 'files', files };
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
  if (result) useLopper.setState({ data: result.data, evaluation: result.evaluation, denseEvaluation: result.evaluation, error: null });
}

export async function switchToSyntheticData(samples = 32, seed = 0): Promise<void> {
  const result = await runJob('Generating synthetic inputs', (signal, onProgress) => client.call('useSynthetic', { samples, seed }, { signal, onProgress }));
  if (result) useLopper.setState({ data: result.data, evaluation: result.evaluation, denseEvaluation: result.evaluation });
}

export async function reevaluate(): Promise<void> {
  const evaluation = await runJob('Evaluating', (signal, onProgress) => client.call('evaluate', {}, { signal, onProgress }));
  if (evaluation) useLopper.setState({ evaluation });
}

let reapplyPlan: (() => void) | null = null;

/** How the plan is measured again (set by plan-actions, which depends on this module). */
export function onPlanReapply(reapply: () => void): void {
  reapplyPlan = reapply;
}

/** True when the plan changes the model: some sparsity, a removal or DARE. */
function planIsApplied(): boolean {
  const { plan } = useLopper.getState();
  return plan.removed.length > 0 || plan.dare !== undefined || Object.values(plan.sparsity).some((s) => s > 0);
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
  if (planIsApplied() && reapplyPlan) {
    useLopper.setState({ backend: result.backend });
    reapplyPlan();
  } else {
    useLopper.setState({ backend: result.backend, ...(result.evaluation ? { evaluation: result.evaluation } : {}) });
  }
}

export async function selectLayer(layer: string | null): Promise<void> {
  useLopper.setState({ selectedLayer: layer, layerStats: null });
  if (!layer) return;
  const detail = await runJob(`Reading ${layer}`, () => client.call('layerDetail', { layer }), false);
  if (detail && useLopper.getState().selectedLayer === layer) useLopper.setState({ layerStats: detail });
}

/** Flat outputs of the first samples of the current data: used by tests that compare backends. */
export function predictSamples(samples: number): Promise<{ outputs: Float32Array; shape: number[] }> {
  return client.call('predict', { samples });
}

async function restoreAfterCrash(): Promise<void> {
  const source = currentSource;
  useLopper.setState({ error: { message: 'The compute worker stopped unexpectedly and was restarted; reopening the model.' } });
  await runJob('Restarting the compute backend', () => initBackend(), false);
  if (source?.kind === 'demo') await openDemo(source.name);
  else if (source?.kind === 'files') await openFiles(source.files);
}
