/** Helpers for batches stored row-major: `rows × classes` values, one sample (or position) per row. */

export function rowCount(values: Float32Array, classes: number, what = 'outputs'): number {
  if (!Number.isInteger(classes) || classes < 1) throw new Error(`classes must be a positive integer, received ${classes}`);
  if (values.length % classes !== 0) {
    throw new Error(`${what}: ${values.length} values do not split into rows of ${classes}`);
  }
  return values.length / classes;
}

/** Natural-log softmax of `values[offset .. offset + classes)` into `out` (numerically stable). */
export function logSoftmaxRow(values: Float32Array, offset: number, classes: number, out: Float64Array): void {
  let max = -Infinity;
  for (let j = 0; j < classes; j++) max = Math.max(max, values[offset + j]);
  let sum = 0;
  for (let j = 0; j < classes; j++) sum += Math.exp(values[offset + j] - max);
  const logSum = max + Math.log(sum);
  for (let j = 0; j < classes; j++) out[j] = values[offset + j] - logSum;
}

/** Probabilities of one row: softmax of logits, or the values themselves. */
export function probabilityRow(values: Float32Array, offset: number, classes: number, fromLogits: boolean, out: Float64Array): void {
  if (fromLogits) {
    logSoftmaxRow(values, offset, classes, out);
    for (let j = 0; j < classes; j++) out[j] = Math.exp(out[j]);
  } else {
    for (let j = 0; j < classes; j++) out[j] = values[offset + j];
  }
}
