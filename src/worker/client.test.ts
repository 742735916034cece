import { describe, expect, it } from 'vitest';
import { WorkerClient, WorkerCrashedError, WorkerError, type Progress } from './client';
import { CancelledError, type FromWorker, type ToWorker } from './protocol';

/** Stands in for a Worker: records what is posted, replies when told. */
class ScriptedWorker extends EventTarget {
  readonly posted: ToWorker[] = [];
  terminated = false;
  postMessage(message: ToWorker): void {
    this.posted.push(message);
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
}

function setup() {
  const workers: ScriptedWorker[] = [];
  const client = new WorkerClient(() => {
    const worker = new ScriptedWorker();
    workers.push(worker);
    return worker as unknown as Worker;
  });
  return { client, workers };
}

describe('WorkerClient', () => {
  it('resolves a call with its result, reports progress and the worker tensor count', async () => {
    const { client, workers } = setup();
    const progress: Progress[] = [];
    const call = client.call('evaluate', {}, { onProgress: (p) => progress.push(p) });
    const request = workers[0].posted[0];
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
    const { id } = workers[0].posted[0];
    controller.abort();
    expect(workers[0].posted[1]).toEqual({ type: 'cancel', id });
    workers[0].reply({ type: 'error', id, error: { name: 'CancelledError', message: 'Cancelled' }, numTensors: 3 });
    await expect(call).rejects.toBeInstanceOf(CancelledError);
    expect(workers[0].terminated).toBe(false);
  });

  it('rebuilds errors with their file name', async () => {
    const { client, workers } = setup();
    const call = client.call('openFiles', { files: [] });
    workers[0].reply({ type: 'error', id: workers[0].posted[0].id, error: { name: 'MissingShardError', message: 'model.json: missing', file: 'model.json' }, numTensors: 0 });
    const error = await call.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WorkerError);
    expect(error).toMatchObject({ name: 'MissingShardError', file: 'model.json' });
  });

  it('replaces a crashed worker, fails its pending calls and asks its owner to restore state', async () => {
    const { client, workers } = setup();
    let restarts = 0;
    client.onRestart = () => (restarts += 1);
    const call = client.call('evaluate', {});
    workers[0].crash();
    await expect(call).rejects.toBeInstanceOf(WorkerCrashedError);
    expect(workers[0].terminated).toBe(true);
    expect(workers).toHaveLength(2);
    expect(restarts).toBe(1);
    const next = client.call('memory', {});
    workers[1].reply({ type: 'result', id: workers[1].posted[0].id, value: { numTensors: 0 }, numTensors: 0 });
    await expect(next).resolves.toEqual({ numTensors: 0 });
  });
});
