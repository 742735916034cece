import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { jsDivergence, klDivergence } from '../metrics/divergence';
import { angularDistance, jsFromLogits, klFromLogits, logitDifferenceNorm, outputChange } from './output-change';

function value(scalar: tf.Scalar): number {
  const out = scalar.dataSync()[0];
  scalar.dispose();
  return out;
}

describe('output change between logits', () => {
  const dense = [
    [
      [0.5, -1, 2],
      [0, 0, 0],
    ],
    [
      [3, 1, -2],
      [1, 2, 3],
    ],
  ];
  const pruned = [
    [
      [0.1, -0.5, 2.5],
      [1, 0, -1],
    ],
    [
      [2, 2, -2],
      [1, 2, 3],
    ],
  ];

  it('averages JS and KL over every position, as the JS reference does', () => {
    const a = tf.tensor3d(dense);
    const b = tf.tensor3d(pruned);
    const before = tf.memory().numTensors;
    const flatA = new Float32Array(dense.flat(2));
    const flatB = new Float32Array(pruned.flat(2));
    expect(value(jsFromLogits(a, b))).toBeCloseTo(jsDivergence(flatA, flatB, 3, { fromLogits: true }), 6);
    expect(value(klFromLogits(a, b))).toBeCloseTo(klDivergence(flatA, flatB, 3, { fromLogits: true }), 6);
    expect(value(outputChange('js', a, a))).toBeCloseTo(0, 7);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([a, b]);
  });

  it('measures the angle and the distance between logit vectors, per position', () => {
    const a = tf.tensor2d([
      [1, 0],
      [1, 1],
    ]);
    const b = tf.tensor2d([
      [0, 2],
      [-1, -1],
    ]);
    // angles: 90° → 0.5, 180° → 1; distances: √5, 2√2
    expect(value(angularDistance(a, b))).toBeCloseTo(0.75, 6);
    expect(value(logitDifferenceNorm(a, b))).toBeCloseTo((Math.sqrt(5) + 2 * Math.SQRT2) / 2, 6);
    expect(value(outputChange('angular', a, a))).toBeCloseTo(0, 3);
    tf.dispose([a, b]);
  });

  it('refuses logits of different shapes', () => {
    const a = tf.zeros([2, 3]);
    const b = tf.zeros([3, 2]);
    expect(() => jsFromLogits(a, b)).toThrow('logits shapes differ: [2, 3] vs [3, 2]');
    tf.dispose([a, b]);
  });
});
