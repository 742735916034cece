import type { PruningPlan } from '../core/plan';
import type { BackendName, TransferFile } from '../worker/protocol';
import { useLopper, type LopperState, type RemovalState, type Snapshot, type SweepState } from './state';

/** What the worker holds, so that it can be opened again: a demo by name or the files the user gave. */
export type ModelSource = { kind: 'demo'; name: string } | { kind: 'files'; files: TransferFile[] };
export type DataSource = { kind: 'files'; files: TransferFile[] } | { kind: 'synthetic'; samples: number; seed: number };

export interface SessionSources {
  model: ModelSource | null;
  /** A dataset given after the model (the model's own files may carry one too). */
  data: DataSource | null;
  /** The base model of a delta-pruning pair. */
  base: ModelSource | null;
  /** A backend the user chose. */
  backend: BackendName | null;
  /** Shapes the user gave the model's dynamic input dimensions (GraphModels), by input name. */
  inputShapes?: Record<string, number[]>;
}

/** The user's work on the open model: plain data, saved as it changes. */
export interface SavedWork {
  version: 1;
  /** The model the work belongs to: restored only onto the same model. */
  modelSha: string;
  plan: PruningPlan;
  history: { past: PruningPlan[]; future: PruningPlan[] };
  snapshots: Snapshot[];
  sweep: SweepState;
  removal: RemovalState;
  delta: LopperState['delta'];
  allocationOptions: LopperState['allocationOptions'];
  float16: boolean;
}

/** Where a session is kept: IndexedDB in the page. */
export interface SessionStore {
  read(): Promise<{ sources: SessionSources | null; work: SavedWork | null }>;
  write(key: 'sources', value: SessionSources): Promise<void>;
  write(key: 'work', value: SavedWork): Promise<void>;
  clear(): Promise<void>;
}

const emptySources = (): SessionSources => ({ model: null, data: null, base: null, backend: null });
let sources: SessionSources = emptySources();
const sourceListeners = new Set<() => void>();

export function sessionSources(): SessionSources {
  return sources;
}

/** Records what the worker now holds (a model opened, data given, a base loaded, a backend chosen). */
export function recordSources(patch: Partial<SessionSources>): void {
  sources = { ...sources, ...patch };
  for (const listener of sourceListeners) listener();
}

export function forgetSources(): void {
  sources = emptySources();
  for (const listener of sourceListeners) listener();
}

/** The work in the store as it is saved; null while no model is open. */
export function workOf(s: LopperState): SavedWork | null {
  if (!s.model) return null;
  return {
    version: 1,
    modelSha: s.model.sha256,
    plan: s.plan,
    history: s.history,
    snapshots: s.snapshots,
    sweep: s.sweep,
    removal: s.removal,
    delta: s.delta,
    allocationOptions: s.allocationOptions,
    float16: s.exporting.float16,
  };
}

/** A job that was running when the page went away was interrupted: what it computed stays. */
const interrupted = <T extends { status: string; startedAt: number; jobId?: number }>(job: T): T => ({
  ...job,
  jobId: undefined,
  ...(job.status === 'running' ? { status: 'cancelled', startedAt: 0 } : {}),
});

/** The store's fields for saved work, restored onto a model with the same hash. */
export function restoredWork(
  work: SavedWork,
  s: LopperState,
): Pick<LopperState, 'plan' | 'history' | 'snapshots' | 'sweep' | 'removal' | 'delta' | 'allocationOptions' | 'exporting'> | null {
  if (work.version !== 1 || !s.model || work.modelSha !== s.model.sha256) return null;
  return {
    plan: work.plan,
    history: work.history,
    snapshots: work.snapshots,
    sweep: interrupted(work.sweep),
    removal: interrupted(work.removal),
    delta: work.delta,
    allocationOptions: work.allocationOptions,
    exporting: { ...s.exporting, float16: work.float16 },
  };
}

function describeStorageError(error: unknown): string {
  const name = error instanceof Error || error instanceof DOMException ? error.name : '';
  const detail = error instanceof Error || error instanceof DOMException ? error.message : String(error);
  if (name === 'QuotaExceededError' || /quota/i.test(detail)) {
    return `This session is not being saved: the browser's storage for this page is full (${detail || name}). Your work goes on, but a reload would not restore it; free some space or start a new session.`;
  }
  return `This session could not be saved (${detail || name || 'unknown error'}). Your work goes on, but a reload would not restore it.`;
}

const setPersistence = (status: LopperState['persistence']['status'], message: string | null = null) => useLopper.setState({ persistence: { status, message } });

export interface Persister {
  /** Resolves once everything changed so far is written (or has failed). */
  flushed(): Promise<void>;
  /** Deletes the saved session; what changes afterwards is saved again. */
  clear(): Promise<void>;
  stop(): void;
}

/**
 * Saves the session as it changes: the sources when they change, the work after every change of
 * the plan, its history, snapshots, sweep or removal results. Writes never overlap; a change during
 * a write is written right after it. A failed write (a full quota) is reported in the store and
 * the page goes on; the saved sources are then dropped so that a reload never pairs new work
 * with old files.
 */
export function startPersisting(store: SessionStore): Persister {
  let lastWork = workOf(useLopper.getState());
  let workDirty = lastWork !== null;
  let sourcesDirty = true;
  let sourcesSaved = false;
  let running: Promise<void> | null = null;
  let stopped = false;

  const writeAll = async (): Promise<void> => {
    while (!stopped && (sourcesDirty || workDirty)) {
      try {
        if (sourcesDirty || !sourcesSaved) {
          sourcesDirty = false;
          sourcesSaved = false;
          await store.write('sources', sources);
          sourcesSaved = true;
        }
        if (workDirty) {
          workDirty = false;
          const work = workOf(useLopper.getState());
          if (work && sourcesSaved) await store.write('work', work);
        }
      } catch (error) {
        setPersistence('error', describeStorageError(error));
        sourcesSaved = false;
        await store.clear().catch(() => undefined);
        return;
      }
    }
    if (!stopped) setPersistence('saved');
  };

  const schedule = () => {
    if (stopped) return;
    if (useLopper.getState().persistence.status !== 'error') setPersistence('saving');
    running ??= writeAll().finally(() => {
      running = null;
      if (sourcesDirty || workDirty) schedule();
    });
  };

  const unsubscribe = useLopper.subscribe((s) => {
    const work = workOf(s);
    const changed =
      (work === null) !== (lastWork === null) ||
      (work !== null &&
        lastWork !== null &&
        (work.modelSha !== lastWork.modelSha ||
          work.plan !== lastWork.plan ||
          work.history !== lastWork.history ||
          work.snapshots !== lastWork.snapshots ||
          work.sweep !== lastWork.sweep ||
          work.removal !== lastWork.removal ||
          work.delta !== lastWork.delta ||
          work.allocationOptions !== lastWork.allocationOptions ||
          work.float16 !== lastWork.float16));
    lastWork = work;
    if (!changed) return;
    workDirty = true;
    schedule();
  });
  const onSources = () => {
    sourcesDirty = true;
    workDirty = true;
    schedule();
  };
  sourceListeners.add(onSources);
  schedule();

  return {
    flushed: async () => {
      while (running) await running;
    },
    clear: async () => {
      while (running) await running;
      await store.clear();
      sourcesDirty = true;
      workDirty = true;
      schedule();
    },
    stop: () => {
      stopped = true;
      unsubscribe();
      sourceListeners.delete(onSources);
    },
  };
}

/** Reads the saved session; a store that cannot be read counts as no session, and says so. */
export async function readSession(store: SessionStore): Promise<{ sources: SessionSources | null; work: SavedWork | null }> {
  try {
    return await store.read();
  } catch (error) {
    setPersistence('error', `The saved session could not be read (${error instanceof Error ? error.message : String(error)}); a new one was started.`);
    return { sources: null, work: null };
  }
}

const DB_NAME = 'lopper-session';
const STORE = 'session';

function request<T>(req: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error ?? new Error('IndexedDB request failed'));
  });
}

function done(tx: IDBTransaction): Promise<void> {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onabort = () => reject(tx.error ?? new DOMException('The write was aborted', 'AbortError'));
    tx.onerror = () => reject(tx.error ?? new Error('IndexedDB write failed'));
  });
}

/** The session in IndexedDB (files as Blobs, the rest as structured clones); null where the browser has none. */
export function indexedDbSessionStore(): SessionStore | null {
  if (typeof indexedDB === 'undefined') return null;
  let db: Promise<IDBDatabase> | null = null;
  const open = (): Promise<IDBDatabase> => {
    db ??= new Promise((resolve, reject) => {
      const req = indexedDB.open(DB_NAME, 1);
      req.onupgradeneeded = () => req.result.createObjectStore(STORE);
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error ?? new Error('IndexedDB could not be opened'));
    });
    db.catch(() => (db = null));
    return db;
  };
  return {
    read: async () => {
      const tx = (await open()).transaction(STORE, 'readonly');
      const [sources, work] = await Promise.all([request(tx.objectStore(STORE).get('sources')), request(tx.objectStore(STORE).get('work'))]);
      return { sources: (sources as SessionSources | undefined) ?? null, work: (work as SavedWork | undefined) ?? null };
    },
    write: async (key: 'sources' | 'work', value: SessionSources | SavedWork) => {
      const tx = (await open()).transaction(STORE, 'readwrite');
      tx.objectStore(STORE).put(value, key);
      await done(tx);
    },
    clear: async () => {
      const tx = (await open()).transaction(STORE, 'readwrite');
      tx.objectStore(STORE).clear();
      await done(tx);
    },
  };
}
