import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { twoDense, UNIT_SAMPLES } from '../apply/testing';
import { PrunableModel } from '../model/runtime';
import { unitOutlierRatios } from './outliers';

describe('unitOutlierRatios', () => {
  it('takes the share of Wanda scores above M·mean per unit, or per block', async () => {
    const model = new PrunableModel(twoDense());
    try {
      const tensors = tf.memory().numTensors;
      // first: ‖X_:,j‖ = 1, scores 0.6 0.5 0.7 0.1, mean 0.475 → 3 of 4 above it.
      // second: ‖h‖ = (√0.61, √0.5), scores 0.781 0.707 1.562 1.414, mean 1.116 → 2 of 4.
      const perUnit = await unitOutlierRatios(model, UNIT_SAMPLES, { threshold: 1 });
      expect(Object.fromEntries(perUnit)).toEqual({ first: 0.75, second: 0.5 });
      // One block: mean of all 8 is 0.808 → 1.562 and 1.414 are above it.
      const perBlock = await unitOutlierRatios(model, UNIT_SAMPLES, { threshold: 1, blockOf: () => 'block' });
      expect(Object.fromEntries(perBlock)).toEqual({ first: 0.25, second: 0.25 });
      // M = 1.2: above 0.57 (0.6, 0.7) and above 1.339 (1.562, 1.414).
      expect(Object.fromEntries(await unitOutlierRatios(model, UNIT_SAMPLES, { threshold: 1.2, units: ['second'] }))).toEqual({ second: 0.5 });
      expect(tf.memory().numTensors).toBe(tensors);
    } finally {
      model.dispose();
    }
  });
});
