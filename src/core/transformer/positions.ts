import * as tf from '@tensorflow/tfjs';

/**
 * RoPE tables `[seq, headDim]` for positions 0…seq−1 as Hugging Face builds them: angle
 * p·θ^(−2k/d) for k < d/2, repeated for both halves (the `rotate_half` convention).
 */
export function ropeTables(length: number, headDim: number, theta: number): { cos: tf.Tensor2D; sin: tf.Tensor2D } {
  const half = headDim / 2;
  const cos = new Float32Array(length * headDim);
  const sin = new Float32Array(length * headDim);
  for (let p = 0; p < length; p++) {
    for (let k = 0; k < half; k++) {
      const angle = p / theta ** ((2 * k) / headDim);
      for (const offset of [k, k + half]) {
        cos[p * headDim + offset] = Math.cos(angle);
        sin[p * headDim + offset] = Math.sin(angle);
      }
    }
  }
  return { cos: tf.tensor2d(cos, [length, headDim]), sin: tf.tensor2d(sin, [length, headDim]) };
}
