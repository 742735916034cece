import { describe, expect, it } from 'vitest';
import { crossEntropy } from './cross-entropy';

describe('crossEntropy', () => {
  it('averages −ln p[label] over rows', () => {
    const probabilities = new Float32Array([0.5, 0.25, 0.25, 0.1, 0.8, 0.1]);
    const expected = (-Math.log(0.5) - Math.log(0.8)) / 2;
    expect(crossEntropy(probabilities, [0, 1], 3)).toBeCloseTo(expected, 6);
  });

  it('clamps probabilities at 1e-7', () => {
    expect(crossEntropy(new Float32Array([1, 0]), [1], 2)).toBeCloseTo(-Math.log(1e-7), 9);
    expect(crossEntropy(new Float32Array([1, 0]), [1], 2, { epsilon: 1e-3 })).toBeCloseTo(-Math.log(1e-3), 9);
  });

  it('applies a log-softmax to logits', () => {
    // logits [0, ln 3] → softmax [1/4, 3/4]; logits [2, 2] → [1/2, 1/2]
    const logits = new Float32Array([0, Math.log(3), 2, 2]);
    const expected = (-Math.log(3 / 4) - Math.log(1 / 2)) / 2;
    expect(crossEntropy(logits, [1, 0], 2, { fromLogits: true })).toBeCloseTo(expected, 6);
    // huge logits stay finite
    expect(crossEntropy(new Float32Array([1000, 0]), [0], 2, { fromLogits: true })).toBeCloseTo(0, 9);
    expect(crossEntropy(new Float32Array([1000, 0]), [1], 2, { fromLogits: true })).toBeCloseTo(-Math.log(1e-7), 6);
  });

  it('rejects labels outside the classes', () => {
    expect(() => crossEntropy(new Float32Array([0.5, 0.5]), [2], 2)).toThrow(/label 2 of row 0 is outside 0…1/);
  });
});
