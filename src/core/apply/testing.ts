import * as tf from '@tensorflow/tfjs';

/**
 * Two Dense layers without bias, `first` W = [[0.6, 0.5], [0.7, 0.1]] and `second`
 * W = [[1, 1], [2, 2]] (rows = outputs). Fed the samples e0 and e1, Wanda at 0.5 drops input 1
 * of `first`, which turns ‖h0‖² > ‖h1‖² (0.61 > 0.5) into ‖h0‖² < ‖h1‖² (0.36 < 0.49).
 */
export function twoDense(): tf.LayersModel {
  const model = tf.sequential({
    layers: [tf.layers.dense({ inputShape: [2], units: 2, useBias: false, name: 'first' }), tf.layers.dense({ units: 2, useBias: false, name: 'second' })],
  });
  const first = tf.tensor2d([
    [0.6, 0.7],
    [0.5, 0.1],
  ]);
  const second = tf.tensor2d([
    [1, 2],
    [1, 2],
  ]);
  model.layers[0].setWeights([first]);
  model.layers[1].setWeights([second]);
  tf.dispose([first, second]);
  return model;
}

/** The samples e0 and e1 for `twoDense`. */
export const UNIT_SAMPLES = { inputs: Float32Array.from([1, 0, 0, 1]), shape: [2, 2] };
