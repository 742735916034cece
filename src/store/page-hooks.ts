import type { Evaluation } from '../core/types';
import { selectBusy, useLopper, type LopperState } from './state';

/** Per true class of a labelled classifier: samples, correct ones, their share (null without samples), and `confusion[true][predicted]` (up to 100 classes). */
export interface PerClassHook {
  total: number[];
  correct: number[];
  accuracy: (number | null)[];
  confusion?: number[][];
}

export interface EvaluationHook {
  accuracy?: number;
  loss?: number;
  perplexity?: number;
  divergence?: number;
  samples?: number;
  perClass?: PerClassHook;
}

function evaluationHook(e: Evaluation | null): EvaluationHook | null {
  if (!e) return null;
  const hook: EvaluationHook = { accuracy: e.accuracy, loss: e.loss, perplexity: e.perplexity, divergence: e.divergence, samples: e.samples };
  if (e.perClass) {
    const { total, correct, confusion } = e.perClass;
    hook.perClass = {
      total: [...total],
      correct: [...correct],
      accuracy: total.map((n, c) => (n === 0 ? null : correct[c] / n)),
      ...(confusion && { confusion: confusion.map((row) => [...row]) }),
    };
  }
  return hook;
}

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
  evaluation: EvaluationHook | null;
  /** The dense model's evaluation on the same data, for comparison. */
  denseEvaluation: EvaluationHook | null;
  /** What the last plan evaluation ran on: `subset` true when only the calibration subset (a model of 10M parameters or more, live). */
  evaluationScope: { subset: boolean; size: number; of: number; unit: string } | null;
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
    evaluation: evaluationHook(s.evaluation),
    denseEvaluation: evaluationHook(s.denseEvaluation),
    evaluationScope: s.planResult?.scope ? { ...s.planResult.scope } : null,
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
