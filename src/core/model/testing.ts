import * as tf from '@tensorflow/tfjs';

/** Small models and helpers shared by the tests of `src/core`. Not used by the app. */

/** Gives every weight of a model seeded random values, so that no layer is trivially an identity. */
export function randomizeWeights(model: tf.LayersModel, seed = 1): void {
  model.weights.forEach((weight, i) => {
    const isVariance = weight.originalName.endsWith('moving_variance');
    const values = tf.tidy(() => {
      const noise = tf.randomNormal(
        weight.shape.map((d) => d ?? 1),
        0,
        0.5,
        'float32',
        seed + i,
      );
      return isVariance ? noise.abs().add(0.5) : noise;
    });
    weight.write(values);
    values.dispose();
  });
}

/** conv(valid) → max-pool → conv(same, stride 2) → flatten → dense relu → dropout → dense → dense softmax. */
export function tinyCnn(): tf.Sequential {
  const model = tf.sequential({
    name: 'tiny_cnn',
    layers: [
      tf.layers.conv2d({ inputShape: [8, 8, 1], filters: 3, kernelSize: 3, activation: 'relu', name: 'c1' }),
      tf.layers.maxPooling2d({ poolSize: 2, name: 'pool' }),
      tf.layers.conv2d({ filters: 4, kernelSize: 2, strides: 2, padding: 'same', name: 'c2' }),
      tf.layers.flatten({ name: 'flat' }),
      tf.layers.dense({ units: 6, activation: 'relu', name: 'd1' }),
      tf.layers.dropout({ rate: 0.5, name: 'drop' }),
      tf.layers.dense({ units: 6, activation: 'relu', name: 'd2' }),
      tf.layers.dense({ units: 3, activation: 'softmax', name: 'out' }),
    ],
  });
  randomizeWeights(model, 7);
  return model;
}

/**
 * A functional model with padding, BatchNorm, a depthwise residual branch, a separable conv,
 * dropout, a concatenation, global pooling, a nested Sequential head and a shared Dense layer.
 * Outputs logits (no softmax).
 */
export function tinyFunctional(): tf.LayersModel {
  const input = tf.input({ shape: [6, 6, 2], name: 'image' });
  const padded = tf.layers.zeroPadding2d({ padding: 1, name: 'pad' }).apply(input) as tf.SymbolicTensor;
  const conv = tf.layers.conv2d({ filters: 4, kernelSize: 3, name: 'conv' }).apply(padded) as tf.SymbolicTensor;
  const norm = tf.layers.batchNormalization({ name: 'bn' }).apply(conv) as tf.SymbolicTensor;
  const depthwise = tf.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same', name: 'dw' }).apply(norm) as tf.SymbolicTensor;
  const residual = tf.layers.add({ name: 'res' }).apply([conv, depthwise]) as tf.SymbolicTensor;
  const separable = tf.layers.separableConv2d({ filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', name: 'sep' }).apply(residual) as tf.SymbolicTensor;
  const dropped = tf.layers.dropout({ rate: 0.3, name: 'drop' }).apply(separable) as tf.SymbolicTensor;
  const joined = tf.layers.concatenate({ name: 'cat' }).apply([dropped, residual]) as tf.SymbolicTensor;
  const pooled = tf.layers.globalAveragePooling2d({ name: 'gap' }).apply(joined) as tf.SymbolicTensor;
  const head = tf.sequential({
    name: 'head',
    layers: [tf.layers.dense({ inputShape: [8], units: 8, activation: 'relu', name: 'h1' }), tf.layers.dense({ units: 8, name: 'h2' })],
  });
  const headed = head.apply(pooled) as tf.SymbolicTensor;
  const shared = tf.layers.dense({ units: 8, name: 'shared' });
  const left = shared.apply(pooled) as tf.SymbolicTensor;
  const right = shared.apply(headed) as tf.SymbolicTensor;
  const sum = tf.layers.add({ name: 'sum' }).apply([left, right]) as tf.SymbolicTensor;
  const logits = tf.layers.dense({ units: 5, name: 'logits' }).apply(sum) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: logits, name: 'tiny_functional' });
  randomizeWeights(model, 11);
  return model;
}

export function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => a.sub(b).abs().max().dataSync()[0]);
}
