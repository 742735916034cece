/** Weight values of any dtype a LayersModel stores, row-major in the Keras layout. */
export type WeightArray = Float32Array | Int32Array | Uint8Array;

function emptyLike(values: WeightArray, length: number): WeightArray {
  if (values instanceof Float32Array) return new Float32Array(length);
  return values instanceof Int32Array ? new Int32Array(length) : new Uint8Array(length);
}

/**
 * The values with the given indices removed along each axis (row-major, any rank): `removed.get(a)`
 * lists indices of axis a that go. Returns the new shape and a new array.
 */
export function removeIndices(values: WeightArray, shape: readonly number[], removed: ReadonlyMap<number, ReadonlySet<number>>): { shape: number[]; values: WeightArray } {
  const rank = shape.length;
  const size = shape.reduce((a, b) => a * b, 1);
  if (values.length !== size) throw new RangeError(`expected ${size} values for shape [${shape.join(', ')}], got ${values.length}`);
  for (const axis of removed.keys()) {
    if (!Number.isInteger(axis) || axis < 0 || axis >= rank) throw new RangeError(`axis ${axis} is outside a rank-${rank} weight`);
  }
  const kept = shape.map((dim, axis) => {
    const gone = removed.get(axis);
    return Array.from({ length: dim }, (_, i) => i).filter((i) => gone === undefined || !gone.has(i));
  });
  const newShape = kept.map((list) => list.length);
  const out = emptyLike(
    values,
    newShape.reduce((a, b) => a * b, 1),
  );
  if (rank === 0) {
    out.set(values);
    return { shape: newShape, values: out };
  }
  const strides = new Array<number>(rank).fill(1);
  for (let a = rank - 2; a >= 0; a--) strides[a] = strides[a + 1] * shape[a + 1];
  let next = 0;
  const walk = (axis: number, base: number): void => {
    const list = kept[axis];
    if (axis === rank - 1) {
      for (const i of list) out[next++] = values[base + i];
      return;
    }
    for (const i of list) walk(axis + 1, base + i * strides[axis]);
  };
  walk(0, 0);
  return { shape: newShape, values: out };
}
