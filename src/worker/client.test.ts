import { describe, expect, it } from 'vitest';
import { DEFAULT_WATCHDOG, Liveness, WorkerClient, WorkerCrashedError, WorkerError, WorkerStoppedError, type ClientTimers, type Progress, type WatchdogOptions } from './client';
import { CancelledError, type FromWorker, type RequestMessage, type ToWorker } from './protocol';

/**
 * A Worker does not exist in Node, so the client is driven through this stand-in: it records what
 * is posted and replies when told. `answerPings` makes it answer the heartbeat as a live worker does.
 */
class ScriptedWorker extends EventTarget {
  readonly posted: ToWorker[] = [];
  terminated = false;
  answerPings = true;
  running: number | null = null;
  steps = 0;
  postMessage(message: ToWorker): void {
    this.posted.push(message);
    if (message.type === 'ping' && this.answerPings && !this.terminated) {
      this.reply({ type: 'pong', id: message.id, running: this.running, steps: this.steps });
    }
  }
  terminate(): void {
    this.terminated = true;
  }
  reply(message: FromWorker): void {
    this.dispatchEvent(new MessageEvent('message', { data: message }));
  }
  crash(): void {
    const event = new Event('error') as Event & { message: string };
    event.message = 'out of memory';
    this.dispatchEvent(event);
  }
  requests(): RequestMessage[] {
    return this.posted.filter((m): m is RequestMessage => m.type === 'request');
  }
}

/** The clock and heartbeat timer under the test's control. */
class ManualTimers implements ClientTimers {
  time = 0;
  private readonly ticks = new Set<() => void>();
  private every_ = 0;
  now(): number {
    return this.time;
  }
  every(ms: number, tick: () => void): () => void {
    this.every_ = ms;
    this.ticks.add(tick);
    return () => this.ticks.delete(tick);
  }
  /** Moves the clock on heartbeat by heartbeat, as a running page would. */
  advance(ms: number): void {
    for (let t = 0; t < ms; t += this.every_) {
      this.time += this.every_;
      for (const tick of this.ticks) tick();
    }
  }
}

const options: Partial<WatchdogOptions> = {
  heartbeatMs: 100,
  unresponsiveMs: 1000,
  busyUnresponsiveMs: 2000,
  startupMs: 5000,
  jobStallMs: 3000,
  maxRestarts: 2,
  restartWindowMs: 60_000,
};

function setup(ready = true) {
  const workers: ScriptedWorker[] = [];
  const timers = new ManualTimers();
  const restarts: string[] = [];
  const client = new WorkerClient(
    () => {
      const worker = new ScriptedWorker();
      workers.push(worker);
      if (ready) queueMicrotask(() => worker.reply({ type: 'ready' }));
      return worker as unknown as Worker;
    },
    options,
    timers,
  );
  client.onRestart = (reason) => restarts.push(reason);
  return { client, workers, timers, restarts, settle: () => new Promise((resolve) => setTimeout(resolve, 0)) };
}

describe('WorkerClient', () => {
  it('resolves a call with its result, reports progress and the worker tensor count', async () => {
    const { client, workers } = setup();
    const progress: Progress[] = [];
    const call = client.call('evaluate', {}, { onProgress: (p) => progress.push(p) });
    const request = workers[0].requests()[0];
    expect(request).toMatchObject({ type: 'request', kind: 'evaluate' });
    workers[0].reply({ type: 'progress', id: request.id, label: 'Evaluating', done: 1, total: 2 });
    workers[0].reply({ type: 'result', id: request.id, value: { samples: 4 }, numTensors: 12 });
    await expect(call).resolves.toEqual({ samples: 4 });
    expect(progress).toEqual([{ label: 'Evaluating', done: 1, total: 2, cell: undefined }]);
    expect(client.workerTensors).toBe(12);
  });

  it('sends a cancel for an aborted call and rejects it with CancelledError when the worker stops', async () => {
    const { client, workers } = setup();
    const controller = new AbortController();
    const call = client.call('sweep', { criterion: 'magnitude', granularity: 'unstructured', sparsities: [0], metric: 'js', seed: 0 }, { signal: controller.signal });
    const { id } = workers[0].requests()[0];
    controller.abort();
    expect(workers[0].posted[1]).toEqual({ type: 'cancel', id });
    workers[0].reply({ type: 'error', id, error: { name: 'CancelledError', message: 'Cancelled' }, numTensors: 3 });
    await expect(call).rejects.toBeInstanceOf(CancelledError);
    expect(workers[0].terminated).toBe(false);
  });

  it('rebuilds errors with their file name', async () => {
    const { client, workers } = setup();
    const call = client.call('openFiles', { files: [] });
    workers[0].reply({ type: 'error', id: workers[0].requests()[0].id, error: { name: 'MissingShardError', message: 'model.json: missing', file: 'model.json' }, numTensors: 0 });
    const error = await call.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WorkerError);
    expect(error).toMatchObject({ name: 'MissingShardError', file: 'model.json' });
  });

  it('replaces a worker that raised an error event, fails its pending calls and asks its owner to restore state', async () => {
    const { client, workers, restarts } = setup();
    const call = client.call('evaluate', {});
    workers[0].crash();
    await expect(call).rejects.toBeInstanceOf(WorkerCrashedError);
    expect(workers[0].terminated).toBe(true);
    expect(workers).toHaveLength(2);
    expect(restarts).toEqual(['out of memory']);
    const next = client.call('memory', {});
    workers[1].reply({ type: 'result', id: workers[1].requests()[0].id, value: { numTensors: 0 }, numTensors: 0 });
    await expect(next).resolves.toEqual({ numTensors: 0 });
  });

  it('notices a worker that stops answering without any event (self.close, a hung kernel) and replaces it', async () => {
    const { client, workers, timers, restarts, settle } = setup();
    await settle();
    const call = client.call('sweep', { criterion: 'magnitude', granularity: 'unstructured', sparsities: [0], metric: 'js', seed: 0 });
    timers.advance(2000);
    expect(workers).toHaveLength(1);
    workers[0].answerPings = false;
    timers.advance(1900);
    expect(workers).toHaveLength(1);
    timers.advance(300);
    expect(workers).toHaveLength(2);
    expect(workers[0].terminated).toBe(true);
    expect(restarts).toHaveLength(1);
    expect(restarts[0]).toMatch(/stopped answering for 2\.\d s/);
    const error = await call.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WorkerCrashedError);
    expect((error as Error).message).toContain('stopped answering');
  });

  it('gives a worker that runs a job more time to answer than an idle one', async () => {
    const { workers, timers, restarts, settle } = setup();
    await settle();
    workers[0].answerPings = false;
    timers.advance(900);
    expect(workers).toHaveLength(1);
    timers.advance(300);
    expect(workers).toHaveLength(2);
    expect(restarts[0]).toMatch(/stopped answering for 1\.\d s/);
  });

  it("ignores what a replaced worker still says: a late result does not resolve the new worker's calls", async () => {
    const { client, workers, settle } = setup();
    await settle();
    const first = client.call('evaluate', {});
    const { id } = workers[0].requests()[0];
    workers[0].crash();
    await expect(first).rejects.toBeInstanceOf(WorkerCrashedError);
    const second = client.call('evaluate', {});
    let settled = false;
    void second.then(() => (settled = true));
    workers[0].reply({ type: 'result', id: workers[1].requests()[0].id, value: { samples: 1 }, numTensors: 0 });
    workers[0].reply({ type: 'result', id, value: { samples: 1 }, numTensors: 0 });
    await settle();
    expect(settled).toBe(false);
  });

  it('restarts a worker whose running job stalls while its thread still answers', async () => {
    const { client, workers, timers, restarts, settle } = setup();
    await settle();
    const call = client.call('evaluatePlan', { plan: { target: 0 } as never, allocate: false });
    workers[0].running = workers[0].requests()[0].id;
    for (let i = 0; i < 10; i += 1) {
      workers[0].steps += 1;
      timers.advance(1000);
    }
    expect(workers).toHaveLength(1);
    timers.advance(3200);
    expect(workers).toHaveLength(2);
    expect(restarts[0]).toMatch(/a job made no progress for 3\.\d s/);
    await expect(call).rejects.toBeInstanceOf(WorkerCrashedError);
  });

  it('gives a new worker time to load before judging it, then restarts one that never gets ready', async () => {
    const { workers, timers, restarts } = setup(false);
    timers.advance(4900);
    expect(workers).toHaveLength(1);
    expect(workers[0].posted.filter((m) => m.type === 'ping')).toHaveLength(0);
    timers.advance(300);
    expect(workers).toHaveLength(2);
    expect(restarts[0]).toMatch(/did not start within 5 s/);
  });

  it('stops restarting a worker that keeps dying, and revives on request', async () => {
    const { client, workers, settle } = setup();
    const stopped: string[] = [];
    client.onStopped = (reason) => stopped.push(reason);
    for (let i = 0; i < 3; i += 1) {
      await settle();
      workers[workers.length - 1].crash();
    }
    expect(workers).toHaveLength(3);
    expect(stopped).toEqual(['out of memory']);
    await expect(client.call('memory', {})).rejects.toBeInstanceOf(WorkerStoppedError);
    client.revive();
    expect(workers).toHaveLength(4);
    const call = client.call('memory', {});
    workers[3].reply({ type: 'result', id: workers[3].requests()[0].id, value: { numTensors: 0 }, numTensors: 0 });
    await expect(call).resolves.toEqual({ numTensors: 0 });
  });
});

describe('Liveness', () => {
  const rules: WatchdogOptions = { ...DEFAULT_WATCHDOG, heartbeatMs: 1000, unresponsiveMs: 10_000, startupMs: 30_000, jobStallMs: 60_000 };

  it('judges an unanswered ping by its age, not by the time since the last message', () => {
    const live = new Liveness(rules, 0);
    live.markReady(0);
    for (let t = 1000; t <= 9000; t += 1000) {
      live.pinged(t, t);
      expect(live.check(t)).toBeNull();
    }
    live.ponged(9000, null, 0, 9500);
    expect(live.check(10_000)).toBeNull();
    for (let t = 10_000; t <= 20_000; t += 1000) {
      live.pinged(t, t);
      if (t < 20_000) expect(live.check(t)).toBeNull();
    }
    expect(live.check(21_000)).toBe('it stopped answering for 11 s');
  });

  it('waits longer for an answer while calls are open', () => {
    const live = new Liveness({ ...rules, busyUnresponsiveMs: 40_000 }, 0);
    live.markReady(0);
    for (let t = 1000; t <= 40_000; t += 1000) {
      live.pinged(t, t);
      expect(live.check(t, true)).toBeNull();
    }
    expect(live.check(41_000, true)).toBeNull();
    expect(live.check(42_000, true)).toBe('it stopped answering for 41 s');
    expect(live.check(43_000, false)).toBe('it stopped answering for 42 s');
  });

  it('does not judge after a gap in its own checks (a throttled tab, a sleeping machine)', () => {
    const live = new Liveness(rules, 0);
    live.markReady(0);
    live.pinged(1, 1000);
    expect(live.check(61_000)).toBeNull();
    for (let t = 62_000; t <= 71_000; t += 1000) expect(live.check(t)).toBeNull();
    expect(live.check(72_000)).toBe('it stopped answering for 11 s');
  });

  it('counts a job as stalled only while the same job stays at the same step', () => {
    const live = new Liveness(rules, 0);
    live.markReady(0);
    let t = 0;
    const pong = (running: number | null, steps: number) => {
      t += 1000;
      live.pinged(t, t);
      live.ponged(t, running, steps, t);
      return live.check(t);
    };
    for (let i = 0; i < 59; i += 1) expect(pong(7, 3)).toBeNull();
    expect(pong(8, 3)).toBeNull();
    for (let i = 0; i < 59; i += 1) expect(pong(8, 3)).toBeNull();
    expect(pong(8, 4)).toBeNull();
    for (let i = 0; i < 90; i += 1) expect(pong(null, 4)).toBeNull();
    for (let i = 0; i < 61; i += 1) expect(pong(9, 4)).toBeNull();
    expect(pong(9, 4)).toBe('a job made no progress for 61 s');
  });
});
