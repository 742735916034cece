import { beforeEach, describe, expect, it } from 'vitest';
import { WorkerCrashedError, type CallOptions, type ComputeClient } from '../worker/client';
import { CancelledError, type ModelSummary, type PlanRequest, type RequestKind, type Requests, type SweepConfig, type TransferFile } from '../worker/protocol';
import { cancelJob, cancelSweep, continueOnBackend, newSession, openDataset, openDemo, runJob, setComputeClient, startApp, switchBackend } from './actions';
import type { SavedWork, SessionSources, SessionStore } from './persist';
import { redo, saveSnapshot, setGlobalTarget, undo } from './plan-actions';
import { initialState, selectBusy, useLopper, type LopperState } from './state';
import { runSweep } from './sweep-actions';

/**
 * Store actions against a compute client that answers like the worker does for a small model with
 * two units. A real Worker does not exist in Node: this scripted client stands in for it, and
 * answers from the requests it gets (a plan's accuracy falls with its sparsity), so what the store
 * asked for is what it shows.
 */
class ScriptedCompute implements ComputeClient {
  readonly calls: { kind: RequestKind; args: unknown }[] = [];
  /** Calls still open, failed with `WorkerCrashedError` on `restart`. */
  private readonly open = new Set<(error: Error) => void>();
  /** Sweeps hold until released: `release()` answers them with the cells sent so far. */
  private sweeps: (() => void)[] = [];
  backend: 'wasm' | 'cpu' = 'wasm';
  onTensorCount?: (count: number) => void;
  onRestart?: (reason: string) => void;
  onStopped?: (reason: string) => void;
  stopped = false;

  call<K extends RequestKind>(kind: K, args: Requests[K]['args'], options: CallOptions = {}): Promise<Requests[K]['result']> {
    this.calls.push({ kind, args });
    if (this.stopped) return Promise.reject(new Error('the worker is stopped'));
    return new Promise((resolve, reject) => {
      const fail = (error: Error) => {
        this.open.delete(fail);
        reject(error);
      };
      this.open.add(fail);
      options.signal?.addEventListener('abort', () => fail(new CancelledError()), { once: true });
      const finish = (value: unknown) => {
        if (!this.open.has(fail)) return;
        this.open.delete(fail);
        this.onTensorCount?.(6);
        resolve(value as Requests[K]['result']);
      };
      if (kind === 'sweep') {
        const config = args as SweepConfig;
        options.onProgress?.({ label: 'Sweeping', done: 1, total: 4, cell: { unit: 'dense1', sparsity: config.sparsities[0], value: 0.9 } });
        options.onProgress?.({ label: 'Sweeping', done: 2, total: 4, cell: { unit: 'dense1', sparsity: config.sparsities[1], value: 0.8 } });
        this.sweeps.push(() => finish(sweepReport(config)));
        return;
      }
      queueMicrotask(() => {
        try {
          finish(this.answer(kind, args));
        } catch (error) {
          fail(error as Error);
        }
      });
    });
  }

  release(): void {
    for (const answer of this.sweeps.splice(0)) answer();
  }

  /** The worker died: its open calls fail and the owner is told. */
  restart(reason: string): void {
    for (const fail of [...this.open]) fail(new WorkerCrashedError(reason));
    this.sweeps = [];
    this.onRestart?.(reason);
  }

  /** The worker kept dying: the client stopped restarting it. */
  stop(reason: string): void {
    for (const fail of [...this.open]) fail(new WorkerCrashedError(reason));
    this.stopped = true;
    this.onStopped?.(reason);
  }

  revive(): void {
    this.stopped = false;
  }

  kinds(): RequestKind[] {
    return this.calls.map((c) => c.kind);
  }

  private answer(kind: RequestKind, args: unknown): unknown {
    const backend = { name: this.backend, reason: 'test', available: ['wasm', 'cpu'], crossOriginIsolated: false };
    const data = (hash: string, samples: number) => ({ source: hash, hash, samples, shape: [samples, 4], labelled: true, synthetic: false });
    switch (kind) {
      case 'init':
        this.backend = (args as { backend: string }).backend === 'cpu' ? 'cpu' : 'wasm';
        return { ...backend, name: this.backend };
      case 'openDemo':
        return { model: MODEL, data: data('demo-data', 100), evaluation: { accuracy: 0.9, samples: 100 }, backend };
      case 'openDataset':
        return { data: data('dropped', 40), evaluation: { accuracy: 0.95, samples: 40 } };
      case 'setBackend':
        this.backend = (args as { backend: 'wasm' | 'cpu' }).backend;
        return { backend: { ...backend, name: this.backend }, evaluation: { accuracy: 0.9, samples: 40 } };
      case 'evaluatePlan': {
        const { plan, allocate } = args as PlanRequest;
        const sparsity = allocate ? Object.fromEntries(MODEL.units.map((u) => [u, plan.locked.includes(u) ? plan.sparsity[u] : plan.target])) : plan.sparsity;
        const overall = Object.values(sparsity).reduce((a, b) => a + b, 0) / MODEL.units.length;
        return {
          sparsity,
          achieved: sparsity,
          overall,
          evaluation: { accuracy: 0.95 - overall / 2, samples: 40 },
          params: 100,
          sizes: { denseBytes: 400, gzipBytes: 300 },
          skipped: [],
        };
      }
      default:
        throw new Error(`the scripted worker has no answer for ${kind}`);
    }
  }
}

const MODEL = {
  format: 'layers-model',
  name: 'tiny',
  sha256: 'sha-tiny',
  inputShape: [null, 4],
  outputShape: [null, 2],
  totalParams: 100,
  totalFlops: 200,
  prunableParams: 96,
  sparsity: 0,
  layers: [],
  units: ['dense1', 'dense2'],
  removalCandidates: [],
  capabilities: {},
} as unknown as ModelSummary;

function sweepReport(config: SweepConfig) {
  return {
    ...config,
    layers: MODEL.units,
    values: MODEL.units.map(() => config.sparsities.map(() => 0.5)),
    dense: 0.9,
    dataHash: 'dropped',
    backend: 'wasm',
    seconds: 1,
    cancelled: false,
    skipped: [],
  };
}

/** Resolves with the state once `predicate` holds (checked on every change). */
function until(predicate: (s: LopperState) => boolean): Promise<LopperState> {
  return new Promise((resolve) => {
    const check = (s: LopperState) => {
      if (!predicate(s)) return;
      unsubscribe();
      resolve(s);
    };
    const unsubscribe = useLopper.subscribe(check);
    check(useLopper.getState());
  });
}

const idle = (predicate: (s: LopperState) => boolean = () => true) => until((s) => !selectBusy(s) && predicate(s));

/** A session store in memory: the IndexedDB one's contract, with writes that can be made to fail. */
class MemoryStore implements SessionStore {
  sources: SessionSources | null = null;
  work: SavedWork | null = null;
  failWith: Error | null = null;
  read = async () => ({ sources: this.sources && structuredClone(this.sources), work: this.work && structuredClone(this.work) });
  async write(key: 'sources' | 'work', value: SessionSources | SavedWork): Promise<void> {
    if (this.failWith) throw this.failWith;
    if (key === 'sources') this.sources = structuredClone(value as SessionSources);
    else this.work = structuredClone(value as SavedWork);
  }
  clear = async () => {
    this.sources = null;
    this.work = null;
  };
}

const DATASET: TransferFile[] = [{ path: 'subset.json', blob: new Blob(['{}']) }];

let compute: ScriptedCompute;

beforeEach(() => {
  useLopper.setState(initialState(), true);
  compute = new ScriptedCompute();
  setComputeClient(compute);
});

/** A person's work: the demo, a dataset dropped after it, a 50 % plan, a snapshot, then 80 %. */
async function doSomeWork(): Promise<void> {
  await openDemo('tiny-demo');
  await openDataset(DATASET);
  setGlobalTarget(0.5);
  await idle((s) => s.planResult?.overall === 0.5);
  saveSnapshot('half');
  setGlobalTarget(0.8);
  await idle((s) => s.planResult?.overall === 0.8);
}

describe('jobs', () => {
  it('cancels a job by its id, not its label: two jobs with one label, the second cancelled', async () => {
    const started: number[] = [];
    const hold = (signal: AbortSignal) => new Promise<string>((_resolve, reject) => signal.addEventListener('abort', () => reject(new CancelledError())));
    const first = runJob(
      'Same label',
      (signal) => Promise.race([hold(signal), until((s) => s.notice !== null).then(() => 'first ran on')]),
      true,
      (id) => started.push(id),
    );
    const second = runJob(
      'Same label',
      (signal) => hold(signal),
      true,
      (id) => started.push(id),
    );
    expect(useLopper.getState().jobs.map((j) => j.label)).toEqual(['Same label', 'Same label']);
    cancelJob(started[1]);
    await expect(second).resolves.toBeNull();
    await expect(first).resolves.toBe('first ran on');
    expect(useLopper.getState().notice).toBe('Same label: cancelled');
  });

  it("cancels the sweep through the sweep's own job id", async () => {
    await openDemo('tiny-demo');
    const sweep = runSweep();
    await until((s) => s.sweep.jobId !== undefined && s.sweep.done === 2);
    cancelSweep();
    await sweep;
    const s = useLopper.getState();
    expect(s.sweep.status).toBe('cancelled');
    expect(s.sweep.jobId).toBeUndefined();
    expect(s.sweep.report?.values[0].slice(0, 2)).toEqual([0.9, 0.8]);
    expect(s.error).toBeNull();
  });

  it('shows the error of a failed job and keeps the open model', async () => {
    await openDemo('tiny-demo');
    await runJob('Reading', () => Promise.reject(new Error('layer "x" not found')));
    expect(useLopper.getState().error).toEqual({ message: 'layer "x" not found' });
    expect(useLopper.getState().model?.name).toBe('tiny');
  });
});

describe('after the worker restarts', () => {
  it('reopens the model and the dropped dataset, keeps plan, history, snapshot and the partial sweep, and measures the plan again', async () => {
    await doSomeWork();
    const before = useLopper.getState();
    const sweep = runSweep();
    await until((s) => s.sweep.done === 2);
    const from = compute.calls.length;
    compute.restart('it stopped answering for 30 s');
    await sweep;
    const after = await idle((s) => s.recovery?.status === 'restored');
    expect(compute.kinds().slice(from)).toEqual(['init', 'openDemo', 'openDataset', 'evaluatePlan']);
    expect(compute.calls[from].args).toEqual({ backend: 'wasm' });
    expect(compute.calls[from + 2].args).toEqual({ files: DATASET });
    expect((compute.calls[from + 3].args as PlanRequest).plan.target).toBe(0.8);
    expect(after.plan).toEqual(before.plan);
    expect(after.history).toEqual(before.history);
    expect(after.snapshots.map((s) => s.name)).toEqual(['half']);
    expect(after.data?.hash).toBe('dropped');
    expect(after.evaluation?.accuracy).toBeCloseTo(0.55, 12);
    expect(after.evaluation?.samples).toBe(40);
    expect(after.sweep.status).toBe('failed');
    expect(after.sweep.report?.values[0].slice(0, 2)).toEqual([0.9, 0.8]);
    expect(after.error).toBeNull();
    expect(after.recovery?.reason).toBe('it stopped answering for 30 s');
    expect(after.recovery?.detail).toContain('1 snapshot');
    expect(after.recovery?.detail).toContain("the sweep's 2 finished cells of 22");
    undo();
    expect((await idle((s) => s.plan.target === 0.5)).evaluation?.accuracy).toBe(0.7);
    redo();
    await idle((s) => s.plan.target === 0.8);
    expect(useLopper.getState().recovery?.status).toBe('restored');
  });

  it('allocates a plan whose evaluation the restart cut off', async () => {
    await doSomeWork();
    setGlobalTarget(0.6);
    await until((s) => s.jobs.some((j) => j.label === 'Applying the plan'));
    compute.restart('a job made no progress for 120 s');
    const after = await idle((s) => s.recovery?.status === 'restored' && s.planResult?.overall === 0.6);
    expect(after.plan.sparsity).toEqual({ dense1: 0.6, dense2: 0.6 });
    expect(after.evaluation?.accuracy).toBeCloseTo(0.65, 12);
  });

  it('continues on another backend from the notice: the plan is measured there', async () => {
    await doSomeWork();
    compute.restart('out of memory');
    await idle((s) => s.recovery?.status === 'restored');
    await continueOnBackend('cpu');
    const after = await idle((s) => s.backend?.name === 'cpu' && s.planResult !== null);
    expect(compute.kinds().slice(-2)).toEqual(['setBackend', 'evaluatePlan']);
    expect(after.evaluation?.accuracy).toBeCloseTo(0.55, 12);
  });
  it('says when the worker keeps stopping, and starts it anew on the backend the user picks', async () => {
    await doSomeWork();
    const before = useLopper.getState();
    compute.stop('out of memory');
    expect(useLopper.getState().recovery?.status).toBe('stopped');
    const from = compute.calls.length;
    await continueOnBackend('cpu');
    const after = await idle((s) => s.recovery?.status === 'restored' && s.planResult?.overall === 0.8);
    expect(compute.kinds().slice(from)).toEqual(['init', 'openDemo', 'openDataset', 'evaluatePlan']);
    expect(compute.calls[from].args).toEqual({ backend: 'cpu' });
    expect(after.backend?.name).toBe('cpu');
    expect(after.plan).toEqual(before.plan);
    expect(after.snapshots).toEqual(before.snapshots);
  });
});

describe('a backend switch', () => {
  it('measures an applied plan again instead of showing the dense evaluation', async () => {
    await doSomeWork();
    await switchBackend('cpu');
    const after = await idle((s) => s.backend?.name === 'cpu');
    expect(compute.kinds().slice(-2)).toEqual(['setBackend', 'evaluatePlan']);
    expect((compute.calls[compute.calls.length - 1].args as PlanRequest).allocate).toBe(false);
    expect(after.evaluation?.accuracy).toBeCloseTo(0.55, 12);
  });
});

describe('sessions', () => {
  it('saves the work as it changes and restores it on the next start: model, dataset, plan, history, snapshot', async () => {
    const store = new MemoryStore();
    await startApp('tiny-demo', store);
    await idle((s) => s.persistence.status === 'saved');
    expect(store.sources?.model).toEqual({ kind: 'demo', name: 'tiny-demo' });
    await openDataset(DATASET);
    setGlobalTarget(0.5);
    await idle((s) => s.planResult?.overall === 0.5);
    saveSnapshot('half');
    await idle((s) => s.persistence.status === 'saved');
    expect(store.work?.plan.target).toBe(0.5);
    expect(store.work?.snapshots.map((s) => s.name)).toEqual(['half']);
    const saved = useLopper.getState();

    useLopper.setState(initialState(), true);
    compute = new ScriptedCompute();
    setComputeClient(compute);
    await startApp('other-demo', store);
    const restored = await idle((s) => s.planResult !== null);
    expect(compute.kinds()).toEqual(['init', 'openDemo', 'openDataset', 'evaluatePlan']);
    expect(compute.calls[1].args).toMatchObject({ name: 'tiny-demo' });
    expect(restored.plan).toEqual(saved.plan);
    expect(restored.history).toEqual(saved.history);
    expect(restored.snapshots).toEqual(saved.snapshots);
    expect(restored.data?.hash).toBe('dropped');
    expect(restored.evaluation).toEqual(saved.evaluation);
    expect(restored.demoName).toBe('tiny-demo');
  });

  it('does not put saved work onto a different model', async () => {
    const store = new MemoryStore();
    await startApp('tiny-demo', store);
    setGlobalTarget(0.5);
    await idle((s) => s.planResult?.overall === 0.5 && s.persistence.status === 'saved');
    (store.work as SavedWork).modelSha = 'another model';
    useLopper.setState(initialState(), true);
    setComputeClient(new ScriptedCompute());
    await startApp('tiny-demo', store);
    const s = await idle((state) => state.model !== null);
    expect(s.plan.target).toBe(0);
    expect(s.planResult).toBeNull();
  });

  it('says so when the saved model does not open any more, and opens the demo instead', async () => {
    const store = new MemoryStore();
    store.sources = { model: { kind: 'files', files: [{ path: 'model.json', blob: new Blob(['{}']) }] }, data: null, base: null, backend: null };
    await startApp('tiny-demo', store);
    const s = await idle((state) => state.model !== null);
    expect(compute.kinds()).toEqual(['init', 'openFiles', 'openDemo']);
    expect(s.demoName).toBe('tiny-demo');
    expect(s.error?.message).toBe('The saved session could not be reopened (the scripted worker has no answer for openFiles); the demo was opened instead.');
  });

  it('reports a full storage quota and goes on working; a later write that fits says saved again', async () => {
    const store = new MemoryStore();
    await startApp('tiny-demo', store);
    await idle((s) => s.persistence.status === 'saved');
    store.failWith = new DOMException('The quota has been exceeded.', 'QuotaExceededError');
    setGlobalTarget(0.5);
    const failed = await idle((s) => s.persistence.status === 'error' && s.planResult?.overall === 0.5);
    expect(failed.persistence.message).toContain("the browser's storage for this page is full");
    expect(failed.error).toBeNull();
    expect(store.sources).toBeNull();
    store.failWith = null;
    setGlobalTarget(0.6);
    await idle((s) => s.persistence.status === 'saved' && s.planResult?.overall === 0.6);
    expect(store.sources?.model).toEqual({ kind: 'demo', name: 'tiny-demo' });
    expect(store.work?.plan.target).toBe(0.6);
  });

  it('clears the session only through New session, and opens the default demo afresh', async () => {
    const store = new MemoryStore();
    await startApp('tiny-demo', store);
    await openDataset(DATASET);
    setGlobalTarget(0.5);
    await idle((s) => s.planResult?.overall === 0.5);
    saveSnapshot('half');
    await newSession();
    const fresh = await idle((s) => s.persistence.status === 'saved');
    expect(fresh.plan.target).toBe(0);
    expect(fresh.snapshots).toEqual([]);
    expect(fresh.history.past).toEqual([]);
    expect(fresh.data?.hash).toBe('demo-data');
    expect(store.sources).toEqual({ model: { kind: 'demo', name: 'tiny-demo' }, data: null, base: null, backend: null });
    expect(store.work?.plan.target).toBe(0);
  });
});
