import { CancelledError, type FromWorker, type RequestKind, type Requests, type SerializedError, type RemovalScoreEvent, type SweepCell, type ToWorker } from './protocol';

export interface Progress {
  label: string;
  done: number;
  total: number;
  cell?: SweepCell;
  score?: RemovalScoreEvent;
}

export interface CallOptions {
  signal?: AbortSignal;
  onProgress?: (progress: Progress) => void;
}

/** What the store needs from the compute side: typed calls, and word of tensors and restarts. */
export interface ComputeClient {
  call<K extends RequestKind>(kind: K, args: Requests[K]['args'], options?: CallOptions): Promise<Requests[K]['result']>;
  onTensorCount?: (count: number) => void;
  /** A worker that hung or died was replaced; its pending calls failed with `WorkerCrashedError`. */
  onRestart?: (reason: string) => void;
  /** The worker kept dying and was not replaced again; calls fail until `revive()`. */
  onStopped?: (reason: string) => void;
  revive?(): void;
}

/** An error raised inside the worker, rebuilt on this side with its name and file. */
export class WorkerError extends Error {
  readonly file?: string;
  constructor(error: SerializedError) {
    super(error.message);
    this.name = error.name;
    this.file = error.file;
  }
}

export class WorkerCrashedError extends Error {
  readonly reason: string;
  constructor(reason: string) {
    super(`The compute worker stopped unexpectedly (${reason}); it was restarted.`);
    this.name = 'WorkerCrashedError';
    this.reason = reason;
  }
}

/** The worker was restarted too often in a row without finishing anything; `revive()` tries again. */
export class WorkerStoppedError extends Error {
  constructor(reason: string) {
    super(`The compute worker kept stopping (${reason}) and was not restarted again.`);
    this.name = 'WorkerStoppedError';
  }
}

export interface WatchdogOptions {
  /** How often the client pings the worker. */
  heartbeatMs: number;
  /** A ping unanswered this long while no call is open means the worker's thread is stuck or gone. */
  unresponsiveMs: number;
  /** The same while a call is open: a job's one synchronous step (a big model's kernel on a slow machine) may take this long. */
  busyUnresponsiveMs: number;
  /** How long a new worker may take to load before it counts as dead. */
  startupMs: number;
  /** How long the running job may go without reaching a step boundary while the worker still answers. */
  jobStallMs: number;
  /** More restarts than this within `restartWindowMs` and the client stops restarting (a worker that dies whatever it does). */
  maxRestarts: number;
  restartWindowMs: number;
}

export const DEFAULT_WATCHDOG: WatchdogOptions = {
  heartbeatMs: 1000,
  unresponsiveMs: 30_000,
  busyUnresponsiveMs: 180_000,
  startupMs: 60_000,
  jobStallMs: 360_000,
  maxRestarts: 3,
  restartWindowMs: 600_000,
};

const seconds = (ms: number) => `${Math.round(ms / 100) / 10} s`;

/**
 * Decides from what the worker said and when whether it is alive. Pure: every method takes the
 * time, so the rules are tested without timers. A check that comes much later than the heartbeat
 * (a throttled background tab, a sleeping laptop) restarts the clock instead of judging.
 */
export class Liveness {
  private createdAt: number;
  private ready = false;
  private lastCheck: number;
  /** Send time of the oldest ping not answered yet. */
  private oldestUnanswered: number | null = null;
  private readonly sentAt = new Map<number, number>();
  private running: number | null = null;
  private steps = -1;
  private stepsSince = 0;

  constructor(
    private readonly options: WatchdogOptions,
    now: number,
  ) {
    this.createdAt = now;
    this.lastCheck = now;
  }

  markReady(now: number): void {
    this.ready = true;
    this.lastCheck = now;
    this.stepsSince = now;
  }

  /** Pings go out once the worker has loaded (a loading worker cannot answer). */
  get accepting(): boolean {
    return this.ready;
  }

  pinged(id: number, now: number): void {
    if (!this.ready) return;
    this.sentAt.set(id, now);
    this.oldestUnanswered ??= now;
  }

  ponged(id: number, running: number | null, steps: number, now: number): void {
    for (const key of [...this.sentAt.keys()]) if (key <= id) this.sentAt.delete(key);
    this.oldestUnanswered = this.sentAt.size > 0 ? Math.min(...this.sentAt.values()) : null;
    if (running !== this.running || steps !== this.steps) {
      this.running = running;
      this.steps = steps;
      this.stepsSince = now;
    }
  }

  /** Why the worker counts as dead now (`busy`: calls are open), or null while it is fine. */
  check(now: number, busy = false): string | null {
    const late = now - this.lastCheck > Math.max(3 * this.options.heartbeatMs, this.options.unresponsiveMs / 2);
    this.lastCheck = now;
    if (late) {
      this.createdAt = now;
      this.oldestUnanswered = this.sentAt.size > 0 ? now : null;
      for (const key of this.sentAt.keys()) this.sentAt.set(key, now);
      this.stepsSince = now;
      return null;
    }
    if (!this.ready) return now - this.createdAt > this.options.startupMs ? `it did not start within ${seconds(this.options.startupMs)}` : null;
    const patience = busy ? Math.max(this.options.unresponsiveMs, this.options.busyUnresponsiveMs) : this.options.unresponsiveMs;
    if (this.oldestUnanswered !== null && now - this.oldestUnanswered > patience) {
      return `it stopped answering for ${seconds(now - this.oldestUnanswered)}`;
    }
    if (this.running !== null && now - this.stepsSince > this.options.jobStallMs) {
      return `a job made no progress for ${seconds(now - this.stepsSince)}`;
    }
    return null;
  }
}

interface Pending {
  kind: RequestKind;
  resolve(value: unknown): void;
  reject(error: Error): void;
  onProgress?: (progress: Progress) => void;
}

export interface ClientTimers {
  now(): number;
  every(ms: number, tick: () => void): () => void;
}

const realTimers: ClientTimers = {
  now: () => Date.now(),
  every: (ms, tick) => {
    const timer = setInterval(tick, ms);
    return () => clearInterval(timer);
  },
};

/**
 * Typed calls into the compute worker. A cancelled call stops at the worker's next step
 * boundary (the worker and its loaded model stay). A heartbeat and a per-job watchdog notice a
 * worker that dies (with or without an `error` event), stops answering or whose job stalls: it is
 * terminated and replaced, its pending calls fail with `WorkerCrashedError`, and `onRestart`
 * lets the owner restore its state.
 */
export class WorkerClient implements ComputeClient {
  private worker: Worker;
  private liveness: Liveness;
  private nextId = 1;
  private nextPing = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly options: WatchdogOptions;
  private readonly stopTimer: () => void;
  private restarts: number[] = [];
  private stopped: string | null = null;
  /** `tf.memory().numTensors` in the worker after its last job. */
  workerTensors = 0;
  onTensorCount?: (count: number) => void;
  onRestart?: (reason: string) => void;
  /** The client gave up restarting (see `WatchdogOptions.maxRestarts`). */
  onStopped?: (reason: string) => void;

  constructor(
    private readonly create: () => Worker,
    options: Partial<WatchdogOptions> = {},
    private readonly timers: ClientTimers = realTimers,
  ) {
    this.options = { ...DEFAULT_WATCHDOG, ...options };
    this.liveness = new Liveness(this.options, timers.now());
    this.worker = this.start();
    this.stopTimer = timers.every(this.options.heartbeatMs, () => this.beat());
  }

  call<K extends RequestKind>(kind: K, args: Requests[K]['args'], options: CallOptions = {}): Promise<Requests[K]['result']> {
    const { signal, onProgress } = options;
    if (signal?.aborted) return Promise.reject(new CancelledError());
    if (this.stopped !== null) return Promise.reject(new WorkerStoppedError(this.stopped));
    const id = this.nextId++;
    return new Promise<Requests[K]['result']>((resolve, reject) => {
      const onAbort = () => this.post({ type: 'cancel', id });
      signal?.addEventListener('abort', onAbort, { once: true });
      this.pending.set(id, {
        kind,
        resolve: (value) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(value as Requests[K]['result']);
        },
        reject: (error) => {
          signal?.removeEventListener('abort', onAbort);
          reject(error);
        },
        onProgress,
      });
      this.post({ type: 'request', id, kind, args } as ToWorker);
    });
  }

  /** Kinds of the calls that have not finished yet, in the order they were made. */
  pendingKinds(): RequestKind[] {
    return [...this.pending.values()].map((p) => p.kind);
  }

  /** Starts a fresh worker after the client stopped restarting. */
  revive(): void {
    if (this.stopped === null) return;
    this.stopped = null;
    this.restarts = [];
    this.worker = this.start();
  }

  /** Stops the worker for good (the heartbeat too). */
  terminate(): void {
    this.stopTimer();
    this.worker.terminate();
    this.stopped = 'terminated';
    this.failAll(new WorkerCrashedError('terminated'));
  }

  private start(): Worker {
    const worker = this.create();
    this.liveness = new Liveness(this.options, this.timers.now());
    const current = () => worker === this.worker;
    worker.addEventListener('message', (event: MessageEvent<FromWorker>) => current() && this.receive(event.data));
    worker.addEventListener('error', (event) => current() && this.restart((event as ErrorEvent).message || 'an error the worker did not catch'));
    worker.addEventListener('messageerror', () => current() && this.restart('a message it could not read'));
    return worker;
  }

  private beat(): void {
    if (this.stopped !== null) return;
    const now = this.timers.now();
    const reason = this.liveness.check(now, this.pending.size > 0);
    if (reason) {
      this.restart(reason);
      return;
    }
    if (!this.liveness.accepting) return;
    const id = this.nextPing++;
    this.liveness.pinged(id, now);
    this.post({ type: 'ping', id });
  }

  private restart(reason: string): void {
    this.worker.terminate();
    this.failAll(new WorkerCrashedError(reason));
    const now = this.timers.now();
    this.restarts = [...this.restarts.filter((at) => now - at < this.options.restartWindowMs), now];
    if (this.restarts.length > this.options.maxRestarts) {
      this.stopped = reason;
      this.onStopped?.(reason);
      return;
    }
    this.worker = this.start();
    this.onRestart?.(reason);
  }

  private failAll(error: Error): void {
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const call of pending) call.reject(error);
  }

  private post(message: ToWorker): void {
    this.worker.postMessage(message);
  }

  private receive(message: FromWorker): void {
    const now = this.timers.now();
    if (message.type === 'ready') {
      this.liveness.markReady(now);
      return;
    }
    if (message.type === 'pong') {
      this.liveness.ponged(message.id, message.running, message.steps, now);
      return;
    }
    const pending = this.pending.get(message.id);
    if (!pending) return;
    if (message.type === 'progress') {
      pending.onProgress?.({ label: message.label, done: message.done, total: message.total, cell: message.cell, score: message.score });
      return;
    }
    this.pending.delete(message.id);
    this.workerTensors = message.numTensors;
    this.onTensorCount?.(message.numTensors);
    if (message.type === 'result') pending.resolve(message.value);
    else if (message.error.name === 'CancelledError') pending.reject(new CancelledError());
    else pending.reject(new WorkerError(message.error));
  }
}
