import * as tf from '@tensorflow/tfjs';
import type { SampleData } from '../../core/pipeline/data';
import type { Prunable, PrunableForward } from '../../core/pipeline/prunable';
import { sweepPrunable } from '../../core/pipeline/sweep';
import type { SweepResult } from '../../core/sweep/engine';
import type { UnitInfo } from '../../core/types';
import type { KindSweepOptions } from '../kind';
import type { GraphModelPrunable } from './prunable';

/** Captured tensors held at once for one unit's cells (256 MiB); beyond it each batch is captured again. */
const CAPTURE_BUDGET_BYTES = 256 * 1024 ** 2;

/**
 * The GraphModel seen by the pipeline sweep, with passes that substitute one unit's kernel resumed
 * from that unit's op: the tensors it reads from upstream (`resumeFrom`) are captured from the dense
 * model once per batch, at the unit's first cell, and every further cell of the unit runs only the
 * ops downstream of it. A sweep's cells of one unit run the batches in the same order each time, so
 * a new kernel tensor starts again at the first batch. Every other pass goes to the model itself.
 */
class ResumingGraph implements Prunable {
  readonly kind = 'graph-model' as const;
  private unit: string | undefined;
  private names: string[] | undefined;
  private kernel: tf.Tensor | undefined;
  private batch = 0;
  private captured: { size: number; tensors: tf.Tensor[] }[] = [];
  private bytes = 0;

  constructor(private readonly model: GraphModelPrunable) {}

  get name(): string {
    return this.model.name;
  }

  units(): UnitInfo[] {
    return this.model.units();
  }

  layout(unit: string) {
    return this.model.layout(unit);
  }

  inputRows(unit: string, input: tf.Tensor): tf.Tensor2D {
    return this.model.inputRows(unit, input);
  }

  getKernel(unit: string): tf.Tensor {
    return this.model.getKernel(unit);
  }

  setKernel(unit: string, values: Float32Array): void {
    this.release();
    this.model.setKernel(unit, values);
  }

  removalCandidates(): string[] {
    return this.model.removalCandidates();
  }

  liveUnits(removed: readonly string[]): UnitInfo[] {
    return this.model.liveUnits(removed);
  }

  outputsAreProbabilities(): boolean {
    return this.model.outputsAreProbabilities();
  }

  forward(input: tf.Tensor, options: PrunableForward = {}): tf.Tensor {
    const kernels = options.kernels;
    if (kernels === undefined || kernels.size !== 1 || (options.bypass?.size ?? 0) > 0 || options.onUnitInput !== undefined) return this.model.forward(input, options);
    const [[unit, kernel]] = [...kernels];
    if (unit !== this.unit) {
      this.release();
      this.unit = unit;
      this.names = this.model.resumeFrom(unit);
    }
    const names = this.names;
    if (names === undefined) return this.model.forward(input, options);
    if (kernel !== this.kernel) {
      this.kernel = kernel;
      this.batch = 0;
    }
    const index = this.batch++;
    const size = input.shape[0] ?? 1;
    let entry = this.captured[index];
    let transient = false;
    if (entry === undefined || entry.size !== size) {
      const tensors = this.model.capture(input, names);
      const bytes = tensors.reduce((sum, t) => sum + t.size * 4, 0);
      entry = { size, tensors };
      if (this.bytes + bytes <= CAPTURE_BUDGET_BYTES && index === this.captured.length) {
        this.captured.push(entry);
        this.bytes += bytes;
      } else {
        transient = true;
      }
    }
    try {
      return this.model.forwardFrom(new Map(names.map((name, i) => [name, entry.tensors[i]])), kernels);
    } finally {
      if (transient) tf.dispose(entry.tensors);
    }
  }

  forwardAsync(input: tf.Tensor, options: PrunableForward = {}): Promise<tf.Tensor> {
    return this.model.requiresAsync ? this.model.forwardAsync(input, options) : Promise.resolve(this.forward(input, options));
  }

  /** Frees the captured tensors. */
  release(): void {
    for (const entry of this.captured) tf.dispose(entry.tensors);
    this.captured = [];
    this.bytes = 0;
    this.unit = undefined;
    this.names = undefined;
    this.kernel = undefined;
  }

  dispose(): void {
    this.release();
  }
}

/** The sensitivity sweep of a GraphModel: `sweepPrunable`'s cells, each unit's later cells resumed from its op (identical values). */
export async function sweepGraph(model: GraphModelPrunable, data: SampleData, options: KindSweepOptions & { batchSize?: number }): Promise<SweepResult> {
  if (model.requiresAsync) return sweepPrunable(model, data, options);
  const resuming = new ResumingGraph(model);
  try {
    return await sweepPrunable(resuming, data, options);
  } finally {
    resuming.release();
  }
}
