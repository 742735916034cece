import * as tf from '@tensorflow/tfjs';
import { unitLayout, type UnitLayout } from '../../core/criteria/layout';
import type { Prunable, PrunableForward, StagedForward } from '../../core/pipeline/prunable';
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
  private readonly blockViews = new Map<string, TransformerBlockPrunable>();

  constructor(
    readonly model: TransformerModel,
    readonly name: string,
  ) {
    this.unitList = model.units();
  }

  /** Block by block: the residual stream entering each block, for a model that holds its ends. */
  get staged(): StagedForward | undefined {
    const { part } = this.model;
    if (part !== undefined && !part.ends) return undefined;
    const layers = this.model.config.layers;
    return {
      blocks: () => Array.from({ length: layers }, (_, i) => this.blockOf(`${this.model.removalCandidates()[2 * i]}.`)),
      enter: (input) => this.model.embed(input as tf.Tensor2D),
      block: (name) => {
        let view = this.blockViews.get(name);
        if (view === undefined) {
          const index = Number(name.split('.')[2]);
          view = new TransformerBlockPrunable(this.model, `${this.name} ${name}`, { from: index, to: index + 1 });
          this.blockViews.set(name, view);
        }
        return view;
      },
    };
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

/**
 * Blocks of a transformer on the seam: the units are theirs, `forward` takes the residual stream
 * `[batch, seq, d]` entering the first of them and gives the one leaving the last (`runBlocks`).
 */
export class TransformerBlockPrunable extends TransformerPrunable {
  private readonly blockUnits: UnitInfo[];

  constructor(
    model: TransformerModel,
    name: string,
    private readonly range?: { from: number; to: number },
  ) {
    super(model, name);
    const inRange = (unit: string): boolean => {
      if (range === undefined) return true;
      const index = Number(unit.split('.')[2]);
      return index >= range.from && index < range.to;
    };
    this.blockUnits = super.units().filter((unit) => inRange(unit.name));
  }

  override get staged(): StagedForward | undefined {
    return undefined;
  }

  override units(): UnitInfo[] {
    return this.blockUnits.map((unit) => ({ ...unit, shape: [...unit.shape] }));
  }

  override forward(input: tf.Tensor, options: PrunableForward = {}): tf.Tensor {
    return this.model.runBlocks(input as tf.Tensor3D, options, this.range);
  }
}
