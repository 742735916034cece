import * as tf from '@tensorflow/tfjs';
import { calibrationBatches, layerInput, readKernel, type CalibrationData, type CaptureOptions } from '../apply/capture';
import { kernelToMatrix } from '../criteria/layout';
import type { CalibrationStats } from '../criteria/types';
import { wandaScores } from '../criteria/wanda';
import type { PrunableModel } from '../model/runtime';
import { collectStats, unitLayoutOf } from '../sweep/calibration';
import { yieldToEventLoop } from '../yield';
import { OWL_OUTLIER_THRESHOLD, outlierRatio } from './owl';

export interface OutlierRatioOptions extends CaptureOptions {
  /** M: a score above M·mean is an outlier (5). */
  threshold?: number;
  /** Units to measure, all of the model's by default. */
  units?: readonly string[];
  /** Units mapped to the same block share one ratio, taken over all their scores together (OWL's per-block ratio). */
  blockOf?(unit: string): string;
}

/**
 * OWL's outlier ratio of each unit: the share of its Wanda scores |W_ij|·‖X_:,j‖₂ above M·mean,
 * with X the unit's inputs in the dense model on the first min(128, N) calibration samples.
 * Units the criteria have no layout for (e.g. transposed convolutions) are left out.
 */
export async function unitOutlierRatios(model: PrunableModel, calibration: CalibrationData, options: OutlierRatioOptions = {}): Promise<Map<string, number>> {
  const all = model.units();
  const wanted = options.units ? new Set(options.units) : undefined;
  const blockOf = options.blockOf ?? ((unit: string) => unit);
  const blocks = new Map<string, { units: string[]; scores: Float64Array[] }>();
  const batches = calibrationBatches(calibration, options);
  try {
    for (const info of all) {
      if (wanted && !wanted.has(info.name)) continue;
      const layout = unitLayoutOf(model, info.name);
      if (typeof layout === 'string') continue;
      const input = layerInput(model, batches, info.layer);
      let stats: CalibrationStats;
      try {
        stats = await collectStats(model, info.name, input, 'norms');
      } finally {
        input.dispose();
      }
      const values = await readKernel(model, info.name);
      const block = blockOf(info.name);
      const entry = blocks.get(block) ?? { units: [], scores: [] };
      entry.units.push(info.name);
      entry.scores.push(wandaScores(layout.kind, kernelToMatrix(layout, values), stats));
      blocks.set(block, entry);
      await yieldToEventLoop();
    }
  } finally {
    tf.dispose(batches);
  }
  const ratios = new Map<string, number>();
  for (const { units, scores } of blocks.values()) {
    const joined = new Float64Array(scores.reduce((n, s) => n + s.length, 0));
    let offset = 0;
    for (const s of scores) {
      joined.set(s, offset);
      offset += s.length;
    }
    const ratio = outlierRatio(joined, options.threshold ?? OWL_OUTLIER_THRESHOLD);
    for (const unit of units) ratios.set(unit, ratio);
  }
  return ratios;
}
