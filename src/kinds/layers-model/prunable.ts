import type * as tf from '@tensorflow/tfjs';
import type { UnitLayout } from '../../core/criteria/layout';
import { layerRemovalCandidates } from '../../core/removal/layer-removal';
import { liveLayers } from '../../core/removal/topology';
import type { Prunable, PrunableForward } from '../../core/pipeline/prunable';
import type { PrunableModel } from '../../core/model/runtime';
import { unitInputRows, unitLayoutOf } from '../../core/sweep/calibration';
import type { UnitInfo } from '../../core/types';

/** A TF.js LayersModel on the seam: its runtime (`PrunableModel`) seen as a `Prunable`. */
export class LayersPrunable implements Prunable {
  readonly kind = 'layers-model' as const;
  readonly stoppable = true;
  private readonly unitList: UnitInfo[];
  private candidates: string[] | undefined;

  constructor(readonly model: PrunableModel) {
    this.unitList = model.units();
  }

  get name(): string {
    return this.model.layersModel.name;
  }

  units(): UnitInfo[] {
    return this.unitList.map((unit) => ({ ...unit, shape: [...unit.shape] }));
  }

  layout(unit: string): UnitLayout | string {
    return unitLayoutOf(this.model, unit);
  }

  inputRows(unit: string, input: tf.Tensor): tf.Tensor2D {
    return unitInputRows(this.model, unit, input);
  }

  getKernel(unit: string): tf.Tensor {
    return this.model.getKernel(unit);
  }

  setKernel(unit: string, values: Float32Array): void {
    this.model.setKernel(unit, values);
  }

  forward(input: tf.Tensor, options: PrunableForward = {}): tf.Tensor {
    return this.model.forward(input, options);
  }

  removalCandidates(): string[] {
    this.candidates ??= layerRemovalCandidates(this.model).map((candidate) => candidate.name);
    return [...this.candidates];
  }

  liveUnits(removed: readonly string[]): UnitInfo[] {
    if (removed.length === 0) return this.units();
    const live = liveLayers(this.model, new Set(removed), layerRemovalCandidates(this.model));
    return this.units().filter((unit) => live.has(unit.layer));
  }

  outputsAreProbabilities(): boolean {
    return this.model.outputIsProbability();
  }

  dispose(): void {
    this.model.dispose();
  }
}
