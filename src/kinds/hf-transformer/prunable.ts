import * as tf from '@tensorflow/tfjs';
import { unitLayout, type UnitLayout } from '../../core/criteria/layout';
import type { Prunable, PrunableForward } from '../../core/pipeline/prunable';
import type { TransformerModel } from '../../core/transformer/model';
import type { UnitInfo } from '../../core/types';

/**
 * A Hugging Face decoder-only transformer on the seam. A projection's kernel is stored `[in, out]`
 * like a Dense kernel, so W is its transpose; what enters a projection is already X `[rows, in]`.
 */
export class TransformerPrunable implements Prunable {
  readonly kind = 'hf-transformer' as const;
  readonly stoppable = true;
  private readonly unitList: UnitInfo[];

  constructor(
    readonly model: TransformerModel,
    readonly name: string,
  ) {
    this.unitList = model.units();
  }

  units(): UnitInfo[] {
    return this.unitList.map((unit) => ({ ...unit, shape: [...unit.shape] }));
  }

  layout(unit: string): UnitLayout | string {
    const info = this.unitList.find((u) => u.name === unit);
    if (info === undefined) throw new Error(`no projection named ${unit} in ${this.name}`);
    return unitLayout('Dense', unit, info.shape);
  }

  inputRows(_unit: string, input: tf.Tensor): tf.Tensor2D {
    return tf.tidy(() => input.reshape([-1, input.shape[input.shape.length - 1]]) as tf.Tensor2D);
  }

  getKernel(unit: string): tf.Tensor {
    return this.model.getKernel(unit);
  }

  setKernel(unit: string, values: Float32Array): void {
    this.model.setKernel(unit, values);
  }

  forward(input: tf.Tensor, options: PrunableForward = {}): tf.Tensor {
    return this.model.forward(input as tf.Tensor2D, options);
  }

  removalCandidates(): string[] {
    return this.model.removalCandidates();
  }

  liveUnits(removed: readonly string[]): UnitInfo[] {
    return this.units().filter((unit) => !removed.some((sublayer) => unit.name.startsWith(`${sublayer}.`)));
  }

  /** `model.layers.3`, `transformer.h.0`. */
  blockOf(unit: string): string {
    return unit.split('.').slice(0, 3).join('.');
  }

  dispose(): void {
    this.model.dispose();
  }
}
