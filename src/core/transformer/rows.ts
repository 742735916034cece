import * as tf from '@tensorflow/tfjs';

/**
 * `x [parts·n, cols]` as `parts` tensors `[n, cols]`, in order. Halves recursively: a slice on the wasm
 * backend copies its whole input first, so `parts` slices of `x` would copy it `parts` times, halving
 * copies it about 2·log₂(parts) times. Intermediate halves are freed; the caller owns the parts.
 */
export function splitRows(x: tf.Tensor2D, parts: number): tf.Tensor2D[] {
  const [rows, cols] = x.shape;
  if (!Number.isInteger(parts) || parts < 1 || rows % parts !== 0) throw new Error(`cannot split ${rows} rows into ${parts} equal parts`);
  const size = rows / parts;
  const out: tf.Tensor2D[] = [];
  const split = (t: tf.Tensor2D, count: number, owned: boolean): void => {
    if (count === 1) {
      out.push(owned ? t : t.clone());
      return;
    }
    const first = Math.floor(count / 2);
    const head = t.slice([0, 0], [first * size, cols]);
    const tail = t.slice([first * size, 0], [(count - first) * size, cols]);
    if (owned) t.dispose();
    split(head, first, true);
    split(tail, count - first, true);
  };
  split(x, parts, false);
  return out;
}

/** `x [rows, parts·n]` as `parts` column blocks `[rows, n]`, in order (through a transpose that moves whole blocks, then `splitRows`). */
export function splitColumns(x: tf.Tensor2D, parts: number): tf.Tensor2D[] {
  const [rows, cols] = x.shape;
  if (parts === 1) return [x.clone()];
  if (cols % parts !== 0) throw new Error(`cannot split ${cols} columns into ${parts} equal parts`);
  const width = cols / parts;
  const blocks = tf.tidy(
    () =>
      x
        .reshape([rows, parts, width])
        .transpose([1, 0, 2])
        .reshape([parts, rows * width]) as tf.Tensor2D,
  );
  const out = splitRows(blocks, parts);
  blocks.dispose();
  return out.map((part) => {
    const shaped = part.reshape([rows, width]) as tf.Tensor2D;
    part.dispose();
    return shaped;
  });
}
