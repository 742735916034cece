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
  constructor(detail: string) {
    super(`The compute worker stopped unexpectedly (${detail}); it was restarted.`);
    this.name = 'WorkerCrashedError';
  }
}

interface Pending {
  resolve(value: unknown): void;
  reject(error: Error): void;
  onProgress?: (progress: Progress) => void;
}

/**
 * Typed calls into the compute worker. A cancelled call stops at the worker's next step
 * boundary (the worker and its loaded model stay). A worker that dies is replaced and
 * `onRestart` lets the owner restore its state.
 */
export class WorkerClient {
  private worker: Worker;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  /** `tf.memory().numTensors` in the worker after its last job. */
  workerTensors = 0;
  onTensorCount?: (count: number) => void;
  onRestart?: () => void;

  constructor(private readonly create: () => Worker) {
    this.worker = this.start();
  }

  call<K extends RequestKind>(kind: K, args: Requests[K]['args'], options: CallOptions = {}): Promise<Requests[K]['result']> {
    const id = this.nextId++;
    const { signal, onProgress } = options;
    if (signal?.aborted) return Promise.reject(new CancelledError());
    return new Promise<Requests[K]['result']>((resolve, reject) => {
      const onAbort = () => this.post({ type: 'cancel', id });
      signal?.addEventListener('abort', onAbort, { once: true });
      this.pending.set(id, {
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

  terminate(): void {
    this.worker.terminate();
    this.failAll(new WorkerCrashedError('terminated'));
  }

  private start(): Worker {
    const worker = this.create();
    worker.addEventListener('message', (event: MessageEvent<FromWorker>) => this.receive(event.data));
    worker.addEventListener('error', (event) => this.restart(event.message || 'error'));
    worker.addEventListener('messageerror', () => this.restart('unreadable message'));
    return worker;
  }

  private restart(detail: string): void {
    this.worker.terminate();
    this.failAll(new WorkerCrashedError(detail));
    this.worker = this.start();
    this.onRestart?.();
  }

  private failAll(error: Error): void {
    for (const pending of this.pending.values()) pending.reject(error);
    this.pending.clear();
  }

  private post(message: ToWorker): void {
    this.worker.postMessage(message);
  }

  private receive(message: FromWorker): void {
    if (message.type === 'ready') return;
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
