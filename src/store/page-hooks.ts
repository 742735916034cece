import { selectBusy, useLopper, type LopperState } from './state';

/** The read-only snapshot that end-to-end tests and scripts read as `window.__lopper` (DESIGN §6). */
export interface PageHooks {
  backend: string | null;
  crossOriginIsolated: boolean;
  busy: boolean;
  workerTensors: number;
  wasmThreads: number | null;
  /** `inputs`: a GraphModel's inputs with their resolved shapes (the batch `null`) and where the size came from. */
  model: {
    format: string;
    name: string;
    layers: string[];
    totalParams: number;
    totalFlops: number;
    inputs?: { name: string; shape: (number | null)[]; source: string }[];
  } | null;
  plan: { target: number; sparsity: Record<string, number>; removed: string[]; locked: string[]; allocation: string; criterion: string; granularity: string };
  sparsity: number | null;
  evaluation: { accuracy?: number; loss?: number; perplexity?: number; divergence?: number; samples?: number } | null;
  error: string | null;
  /** The open model's and data's warnings (NaN/±Infinity weights or inputs); absent when there are none. */
  warnings?: string[];
}

function warningsOf(s: LopperState): { warnings?: string[] } {
  const warnings = [...(s.model?.warnings ?? []), ...(s.data?.warnings ?? [])];
  return warnings.length > 0 ? { warnings } : {};
}

export function snapshot(s: LopperState): PageHooks {
  return {
    backend: s.backend?.name ?? null,
    crossOriginIsolated: globalThis.crossOriginIsolated === true,
    busy: selectBusy(s),
    workerTensors: s.workerTensors,
    wasmThreads: s.backend?.wasmThreads ?? null,
    model: s.model && {
      format: s.model.format,
      name: s.model.name,
      layers: [...s.model.units],
      totalParams: s.model.totalParams,
      totalFlops: s.model.totalFlops,
      ...(s.model.inputs && { inputs: s.model.inputs.map((spec) => ({ name: spec.signatureKey ?? spec.name, shape: [...spec.shape], source: spec.source })) }),
    },
    plan: {
      target: s.plan.target,
      sparsity: { ...s.plan.sparsity },
      removed: [...s.plan.removed],
      locked: [...s.plan.locked],
      allocation: s.plan.allocation,
      criterion: s.plan.criterion,
      granularity: s.plan.granularity,
    },
    sparsity: s.planResult?.overall ?? s.model?.sparsity ?? null,
    evaluation: s.evaluation && {
      accuracy: s.evaluation.accuracy,
      loss: s.evaluation.loss,
      perplexity: s.evaluation.perplexity,
      divergence: s.evaluation.divergence,
      samples: s.evaluation.samples,
    },
    error: s.error?.message ?? null,
    ...warningsOf(s),
  };
}

export function installPageHooks(target: Window): void {
  Object.defineProperty(target, '__lopper', {
    configurable: true,
    enumerable: false,
    get: () => Object.freeze(snapshot(useLopper.getState())),
  });
}

/** Calls for tests and scripts that need worker results beyond the state: `window.__lopperDebug`. */
export function installDebugHooks(target: Window, predict: (samples: number) => Promise<{ outputs: Float32Array }>): void {
  Object.defineProperty(target, '__lopperDebug', {
    configurable: true,
    enumerable: false,
    value: Object.freeze({
      predict: async (samples: number): Promise<number[]> => Array.from((await predict(samples)).outputs),
    }),
  });
}
