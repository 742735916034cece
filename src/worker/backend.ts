import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-webgpu';
import { getThreadsCount, setThreadsCount, setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import wasmPlainUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimdUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreadedUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';
import type { BackendName, BackendState } from './protocol';

setWasmPaths({
  'tfjs-backend-wasm.wasm': wasmPlainUrl,
  'tfjs-backend-wasm-simd.wasm': wasmSimdUrl,
  'tfjs-backend-wasm-threaded-simd.wasm': wasmThreadedUrl,
});
/** WASM helper threads: one per logical core, at least 2, at most 8 (the runtime pre-creates 8). */
export const WASM_THREADS = Math.max(2, Math.min(8, typeof navigator !== 'undefined' ? navigator.hardwareConcurrency || 2 : 2));
setThreadsCount(WASM_THREADS);

/**
 * Prepares a module worker so that the WASM runtime really starts `WASM_THREADS` threads:
 * - Emscripten decides it runs in a worker by `typeof importScripts === 'function'`; a module
 *   worker has none, so the runtime would take it for the main browser thread. Declaring the
 *   function (never called: the helper threads are classic workers of their own) fixes that.
 * - tfjs-backend-wasm caps its pool at hardwareConcurrency / 2, assuming two hardware threads
 *   per core, which leaves a 2-core machine with one thread whatever `setThreadsCount` asks.
 *   The worker's navigator reports twice the requested count so that the request is honoured.
 */
export function prepareWasmThreads(scope: object): void {
  const global = scope as { importScripts?: unknown; WorkerGlobalScope?: unknown; navigator?: object };
  if (global.WorkerGlobalScope === undefined) return;
  if (typeof global.importScripts !== 'function') {
    global.importScripts = () => {
      throw new Error('importScripts is not available in a module worker');
    };
  }
  if (global.navigator) {
    Object.defineProperty(global.navigator, 'hardwareConcurrency', { configurable: true, get: () => WASM_THREADS * 2 });
  }
}

export interface AdapterReport {
  present: boolean;
  software: boolean;
  description: string;
}

interface AdapterInfoLike {
  vendor?: string;
  architecture?: string;
  description?: string;
  isFallbackAdapter?: boolean;
}

/** GPUAdapterInfo exposes its fields as prototype getters, so they are read one by one (a spread would drop them). */
function readAdapterInfo(adapter: object): AdapterInfoLike {
  const info: AdapterInfoLike = (adapter as { info?: AdapterInfoLike }).info ?? {};
  const legacyFallback = (adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter;
  return {
    vendor: info.vendor,
    architecture: info.architecture,
    description: info.description,
    isFallbackAdapter: info.isFallbackAdapter ?? legacyFallback,
  };
}

let adapterProbe: Promise<AdapterReport> | null = null;

/**
 * Asks once for a WebGPU adapter and says whether it is a real GPU or a software fallback.
 * The answer is cached: the adapter does not change while the page lives.
 */
export function probeWebGpu(): Promise<AdapterReport> {
  adapterProbe ??= requestAdapterReport();
  return adapterProbe;
}

async function requestAdapterReport(): Promise<AdapterReport> {
  const gpu = (navigator as { gpu?: { requestAdapter(): Promise<object | null> } }).gpu;
  if (!gpu) return { present: false, software: false, description: 'navigator.gpu is missing' };
  const adapter = await gpu.requestAdapter().catch(() => null);
  if (!adapter) return { present: false, software: false, description: 'no WebGPU adapter' };
  const info = readAdapterInfo(adapter);
  const text = `${info.vendor ?? ''} ${info.architecture ?? ''} ${info.description ?? ''}`.trim();
  const software = info.isFallbackAdapter === true || /swiftshader|llvmpipe|software/i.test(text);
  return { present: true, software, description: text || 'unnamed adapter' };
}

/** Median milliseconds of a 256×256 matMul on the active backend, after one warm-up. */
async function matMulMs(): Promise<number> {
  const a = tf.randomUniform([256, 256], 0, 1, 'float32', 1);
  const times: number[] = [];
  try {
    for (let i = 0; i < 4; i++) {
      const start = performance.now();
      const c = tf.matMul(a, a);
      await c.data();
      c.dispose();
      if (i > 0) times.push(performance.now() - start);
    }
  } finally {
    a.dispose();
  }
  times.sort((x, y) => x - y);
  return times[Math.floor(times.length / 2)];
}

async function trySetBackend(name: BackendName): Promise<boolean> {
  try {
    const ok = await tf.setBackend(name);
    await tf.ready();
    return ok && tf.getBackend() === name;
  } catch {
    return false;
  }
}

async function describe(name: BackendName, reason: string, available: BackendName[], benchmarkMs?: Partial<Record<BackendName, number>>): Promise<BackendState> {
  const wasm = name === 'wasm';
  return {
    name,
    reason,
    available,
    wasmThreads: wasm ? getThreadsCount() : undefined,
    wasmSimd: wasm ? (await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')) === true : undefined,
    wasmMultithread: wasm ? (await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT')) === true : undefined,
    crossOriginIsolated: globalThis.crossOriginIsolated === true,
    benchmarkMs,
  };
}

function availableBackends(adapter: AdapterReport): BackendName[] {
  const list: BackendName[] = [];
  if (adapter.present) list.push('webgpu');
  if (typeof OffscreenCanvas !== 'undefined') list.push('webgl');
  list.push('wasm', 'cpu');
  return list;
}

/**
 * The automatic choice: a hardware WebGPU adapter competes with WASM in a quick matMul
 * benchmark; a software adapter (SwiftShader and the like) never wins over WASM.
 */
export async function chooseBackend(): Promise<BackendState> {
  const adapter = await probeWebGpu();
  const available = availableBackends(adapter);
  if (adapter.present && !adapter.software && (await trySetBackend('webgpu'))) {
    const gpuMs = await matMulMs();
    if (await trySetBackend('wasm')) {
      const wasmMs = await matMulMs();
      const benchmarkMs = { webgpu: gpuMs, wasm: wasmMs };
      if (gpuMs <= wasmMs && (await trySetBackend('webgpu'))) {
        return describe('webgpu', `WebGPU on ${adapter.description}: ${gpuMs.toFixed(1)} ms vs WASM ${wasmMs.toFixed(1)} ms per 256×256 matMul`, available, benchmarkMs);
      }
      return describe(
        'wasm',
        `WASM (${getThreadsCount()} threads) beat WebGPU on ${adapter.description}: ${wasmMs.toFixed(1)} vs ${gpuMs.toFixed(1)} ms per 256×256 matMul`,
        available,
        benchmarkMs,
      );
    }
    return describe('webgpu', `WebGPU on ${adapter.description}; WASM did not start`, available);
  }
  const why = adapter.present
    ? `the WebGPU adapter is a software fallback (${adapter.description}), slower than WASM on the CPU`
    : `WebGPU is unavailable (${adapter.description})`;
  for (const name of ['wasm', 'webgl', 'cpu'] as const) {
    if (await trySetBackend(name)) {
      const detail = name === 'wasm' ? `WASM with ${getThreadsCount()} threads` : name;
      return describe(name, `${detail}: ${why}`, available);
    }
  }
  throw new Error('No TensorFlow.js backend could start (tried webgpu, wasm, webgl, cpu)');
}

/** Switches to a backend the user picked; throws with the reason when it cannot start. */
export async function useBackend(name: BackendName): Promise<BackendState> {
  const adapter = await probeWebGpu();
  const available = availableBackends(adapter);
  if (!(await trySetBackend(name))) {
    throw new Error(`The ${name} backend could not start in this browser (available: ${available.join(', ')})`);
  }
  const note = name === 'webgpu' && adapter.software ? ` on a software adapter (${adapter.description}): expect it to be slow` : '';
  return describe(name, `Chosen by you${note}`, available);
}
