import * as tf from '@tensorflow/tfjs';
import type { OutputChangeMetric } from '../options';

/**
 * How much a model's output changed, from two logits tensors of the same shape `[..., vocab]`
 * (dense, then pruned), averaged over all token positions (FinerCut, DESIGN §3). Each returns a
 * scalar the caller disposes; natural logs.
 */
export { OUTPUT_CHANGE_METRICS, type OutputChangeMetric } from '../options';

function rows(logits: tf.Tensor, other: tf.Tensor): [tf.Tensor2D, tf.Tensor2D] {
  if (logits.shape.length < 1 || logits.shape.some((d, i) => d !== other.shape[i]) || logits.rank !== other.rank) {
    throw new Error(`logits shapes differ: [${logits.shape.join(', ')}] vs [${other.shape.join(', ')}]`);
  }
  const vocab = logits.shape[logits.rank - 1];
  return [logits.reshape([-1, vocab]), other.reshape([-1, vocab])];
}

/** KL(softmax(p) ‖ softmax(q)) from log-probabilities, per row. */
function klRows(logP: tf.Tensor2D, logQ: tf.Tensor2D): tf.Tensor1D {
  return logP.exp().mul(logP.sub(logQ)).sum(1);
}

/** Mean over positions of KL(softmax(dense) ‖ softmax(pruned)). */
export function klFromLogits(dense: tf.Tensor, pruned: tf.Tensor): tf.Scalar {
  return tf.tidy(() => {
    const [p, q] = rows(dense, pruned);
    return klRows(tf.logSoftmax(p), tf.logSoftmax(q)).mean();
  });
}

/** Mean over positions of the Jensen–Shannon divergence ½KL(P‖M) + ½KL(Q‖M), M = (P+Q)/2 (≤ ln 2). */
export function jsFromLogits(dense: tf.Tensor, pruned: tf.Tensor): tf.Scalar {
  return tf.tidy(() => {
    const [p, q] = rows(dense, pruned);
    const logP = tf.logSoftmax(p);
    const logQ = tf.logSoftmax(q);
    const logM = tf.logSumExp(tf.stack([logP, logQ]), 0).sub(Math.LN2) as tf.Tensor2D;
    return klRows(logP, logM).add(klRows(logQ, logM)).mul(0.5).mean();
  });
}

/** Mean over positions of the angle between the two logit vectors, arccos(cos)/π in [0, 1]. */
export function angularDistance(dense: tf.Tensor, pruned: tf.Tensor): tf.Scalar {
  return tf.tidy(() => {
    const [p, q] = rows(dense, pruned);
    const cosine = p
      .mul(q)
      .sum(1)
      .div(p.norm('euclidean', 1).mul(q.norm('euclidean', 1)).maximum(1e-30));
    return cosine.clipByValue(-1, 1).acos().div(Math.PI).mean();
  });
}

/** Mean over positions of ‖dense − pruned‖₂ of the logits. */
export function logitDifferenceNorm(dense: tf.Tensor, pruned: tf.Tensor): tf.Scalar {
  return tf.tidy(() => {
    const [p, q] = rows(dense, pruned);
    return p.sub(q).norm('euclidean', 1).mean();
  });
}

const METRICS: Record<OutputChangeMetric, (dense: tf.Tensor, pruned: tf.Tensor) => tf.Scalar> = {
  js: jsFromLogits,
  kl: klFromLogits,
  angular: angularDistance,
  logits: logitDifferenceNorm,
};

export function outputChange(metric: OutputChangeMetric, dense: tf.Tensor, pruned: tf.Tensor): tf.Scalar {
  return METRICS[metric](dense, pruned);
}
