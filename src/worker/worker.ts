/// <reference lib="webworker" />
import * as tf from '@tensorflow/tfjs';
import { LopperInputError } from '../io/errors';
import { WorkerApi, blobFile, type JobContext } from './api';
import { chooseBackend, prepareWasmThreads, useBackend } from './backend';
import { fetchDemoFiles } from './demo';
import type { FaultKind, FromWorker, RequestMessage, Requests, SerializedError, ToWorker } from './protocol';

prepareWasmThreads(self);
const api = new WorkerApi();
const cancelled = new Set<number>();
/** Jobs run one at a time, in arrival order; a cancel reaches a queued or running job. */
let queue: Promise<void> = Promise.resolve();
/** The job running now and the step boundaries jobs have reached, for the client's watchdog. */
let running: number | null = null;
let steps = 0;
/** A fault staged for testing and the step boundary it strikes at. */
let staged: { fault: FaultKind; atStep: number } | null = null;

function send(message: FromWorker, transfer: Transferable[] = []): void {
  (self as unknown as DedicatedWorkerGlobalScope).postMessage(message, transfer);
}

function serializeError(error: unknown): SerializedError {
  if (error instanceof LopperInputError) return { name: error.name, message: error.message, file: error.file };
  if (error instanceof Error) return { name: error.name, message: error.message };
  return { name: 'Error', message: String(error) };
}

function transferablesOf(value: unknown): Transferable[] {
  if (!value || typeof value !== 'object') return [];
  const buffers: Transferable[] = [];
  for (const key of ['outputs', 'zip'] as const) {
    const field = (value as Record<string, unknown>)[key];
    if (field instanceof Float32Array || field instanceof Uint8Array) buffers.push(field.buffer as ArrayBuffer);
  }
  return buffers;
}

type Handlers = { [K in keyof Requests]: (args: Requests[K]['args'], job: JobContext) => Promise<Requests[K]['result']> };

const handlers: Handlers = {
  init: async ({ backend }) => {
    const state = backend === 'auto' ? await chooseBackend() : await useBackend(backend).catch(() => chooseBackend());
    api.setBackendState(state);
    return state;
  },
  setBackend: async ({ backend }, job) => {
    const state = await useBackend(backend);
    api.setBackendState(state);
    const evaluation = await api.rebuild(job);
    return { backend: state, evaluation };
  },
  openFiles: ({ files }, job) => api.openFiles(files.map(blobFile), job),
  openDemo: async ({ name, baseUrl }, job) => api.openFiles(await fetchDemoFiles(baseUrl, name), job),
  openDataset: ({ files }, job) => api.openDataset(files.map(blobFile), job),
  useSynthetic: ({ samples, seed }, job) => api.useSynthetic(samples, seed, job),
  setInputShapes: ({ shapes }, job) => api.setInputShapes(shapes, job),
  evaluate: (_args, job) => api.evaluate(job),
  layerDetail: ({ layer }) => api.layerDetail(layer),
  predict: ({ samples }) => api.predictSamples(samples),
  memory: async () => ({ numTensors: tf.memory().numTensors }),
  sweep: (config, job) => api.sweep(config, job),
  removal: (config, job) => api.removal(config, job),
  evaluateRemoved: ({ removed }, job) => api.evaluateRemoved(removed, job),
  evaluatePlan: (request, job) => api.evaluatePlan(request, job),
  channelGroups: async () => api.channelGroups(),
  loadBase: async ({ files, demo }, job) => api.loadBase(demo ? await fetchDemoFiles(demo.baseUrl, demo.name) : (files ?? []).map(blobFile), job),
  searchRescale: ({ p, seed }, job) => api.searchRescale(p, seed, job),
  exportModel: (request, job) => api.exportModel(request, job),
};

function strike(fault: FaultKind): void {
  if (fault === 'close') self.close();
  else if (fault === 'throw') throw new Error('A fault staged for testing failed this job');
  else if (fault === 'crash') {
    setTimeout(() => {
      throw new Error('A fault staged for testing: an error outside any job');
    });
  } else {
    for (;;) steps += 0;
  }
}

function step(): void {
  steps += 1;
  if (staged && steps >= staged.atStep) {
    const { fault } = staged;
    staged = null;
    strike(fault);
  }
}

/**
 * Requests that only read the open model (a layer's weight statistics) answer at once, between the
 * steps of a running job, instead of waiting behind it in the queue.
 */
const INSPECTIONS: ReadonlySet<string> = new Set(['layerDetail']);

async function run(message: RequestMessage, inspection = false): Promise<void> {
  const job: JobContext = {
    progress: (label, done, total, event) => {
      step();
      send({ type: 'progress', id: message.id, label, done, total, ...event });
    },
    cancelled: () => {
      step();
      return cancelled.has(message.id);
    },
  };
  if (!inspection) running = message.id;
  try {
    const handler = handlers[message.kind] as (args: unknown, job: JobContext) => Promise<unknown>;
    const value = await handler(message.args, job);
    send({ type: 'result', id: message.id, value, numTensors: tf.memory().numTensors }, transferablesOf(value));
  } catch (error) {
    send({ type: 'error', id: message.id, error: serializeError(error), numTensors: tf.memory().numTensors });
  } finally {
    cancelled.delete(message.id);
    if (!inspection) running = null;
  }
}

self.addEventListener('message', (event: MessageEvent<ToWorker>) => {
  const message = event.data;
  if (message.type === 'ping') send({ type: 'pong', id: message.id, running, steps });
  else if (message.type === 'cancel') cancelled.add(message.id);
  else if (message.type === 'fault') staged = { fault: message.fault, atStep: steps + Math.max(1, message.afterSteps ?? 1) };
  else if (INSPECTIONS.has(message.kind)) void run(message, true);
  else queue = queue.then(() => run(message));
});

send({ type: 'ready' });
