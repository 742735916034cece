import { logSoftmaxRow, rowCount } from './rows';

export interface CrossEntropyOptions {
  /** Outputs are logits (the model has no final softmax): a log-softmax is applied first. */
  fromLogits?: boolean;
  /** Probabilities are clamped from below at this value. */
  epsilon?: number;
}

/** Mean over rows of −ln p[label], with p clamped at `epsilon` (1e-7). */
export function crossEntropy(outputs: Float32Array, labels: ArrayLike<number>, classes: number, options: CrossEntropyOptions = {}): number {
  const rows = rowCount(outputs, classes);
  if (labels.length !== rows) throw new Error(`cross-entropy: ${rows} output rows but ${labels.length} labels`);
  if (rows === 0) return NaN;
  const floor = Math.log(options.epsilon ?? 1e-7);
  const logProbabilities = new Float64Array(classes);
  let total = 0;
  for (let i = 0; i < rows; i++) {
    const label = labels[i];
    if (!Number.isInteger(label) || label < 0 || label >= classes) {
      throw new Error(`cross-entropy: label ${label} of row ${i} is outside 0…${classes - 1}`);
    }
    let logP: number;
    if (options.fromLogits) {
      logSoftmaxRow(outputs, i * classes, classes, logProbabilities);
      logP = logProbabilities[label];
    } else {
      logP = Math.log(outputs[i * classes + label]);
    }
    total -= Number.isNaN(logP) ? floor : Math.max(logP, floor);
  }
  return total / rows;
}
