import * as tf from '@tensorflow/tfjs';
import { kernelValues } from '../model/kernels';
import type { ProjectionSpec } from './parameters';
import { splitColumns } from './rows';

/** Widest tile of a projection that is not split per head: a `[≤ TILE, ≤ TILE]` kernel block packs into the caches. */
export const TILE = 1024;

/**
 * How many equal tiles a dimension of `size` is cut into: the fewest that are at most TILE wide, or 1
 * when no such count divides it into tiles at least TILE / 4 wide.
 */
export function tileCount(size: number): number {
  for (let count = Math.ceil(size / TILE); size / count >= TILE / 4; count++) {
    if (size % count === 0) return count;
  }
  return 1;
}

/**
 * One prunable projection's weights, held once as a grid of tiles of its kernel `[in, out]`. Columns
 * are cut per attention head for the q/k/v projections (`parts` > 1), so each head's activations come
 * out of their own plain 2-D product and never need slicing; otherwise the kernel is cut into tiles at
 * most TILE wide both ways (`tileCount`): tfjs-wasm multiplies a wide kernel up to a quarter slower
 * than its tiles, which each fit the caches. The bias is split like the columns.
 *
 * `applyTiles` takes the input as column blocks matching the row tiles and returns the output column
 * blocks, so an MLP runs tile by tile from its up projection through the activation to its down
 * projection; `apply` takes and returns whole tensors.
 */
export class StoredProjection {
  /** Column blocks of the input the row tiles take. */
  readonly inputTiles: number;
  /** Column blocks of the output `applyTiles` returns: `parts`, or the column tiles. */
  readonly outputTiles: number;
  /** `tiles[r][c]`: kernel rows of input block r, columns of output block c. */
  private tiles: tf.Tensor2D[][];
  private biases: tf.Tensor1D[] | undefined;

  /**
   * `weight` in checkpoint layout (`[out, in]` for Linear, `[in, out]` for GPT-2 Conv1D); `parts` equal
   * column blocks of the kernel (one per head).
   */
  constructor(
    readonly spec: ProjectionSpec,
    readonly parts: number,
    weight: Float32Array,
    bias: Float32Array | undefined,
  ) {
    if (spec.outputs % parts !== 0) throw new Error(`${spec.unit}: ${spec.outputs} outputs do not split into ${parts} heads`);
    this.outputTiles = parts > 1 ? parts : tileCount(spec.outputs);
    this.inputTiles = parts > 1 ? 1 : tileCount(spec.inputs);
    this.tiles = this.tilesFromValues(weight, spec.conv1d);
    this.biases = bias === undefined ? undefined : this.biasBlocks(bias);
  }

  /** Width of one of `apply`'s outputs. */
  get width(): number {
    return this.spec.outputs / this.parts;
  }

  /** A copy of the kernel `[in, out]`; the caller disposes it. */
  kernel(): tf.Tensor2D {
    return tf.tidy(() => {
      const rows = this.tiles.map((row) => (row.length === 1 ? row[0].clone() : tf.concat(row, 1)));
      return rows.length === 1 ? rows[0] : tf.concat(rows, 0);
    });
  }

  /** A copy of the bias; the caller disposes it. */
  bias(): tf.Tensor1D | undefined {
    if (this.biases === undefined) return undefined;
    return this.biases.length === 1 ? this.biases[0].clone() : tf.concat(this.biases);
  }

  /** Replaces the kernel with `[in, out]` values (row-major, copied) or a tensor of that shape (copied). */
  setKernel(values: Float32Array | tf.Tensor2D): void {
    const next = values instanceof Float32Array ? this.tilesFromValues(values, true) : this.tilesOf(values);
    tf.dispose(this.tiles.flat());
    this.tiles = next;
  }

  setBias(values: Float32Array): void {
    const next = this.biasBlocks(values);
    if (this.biases) tf.dispose(this.biases);
    this.biases = next;
  }

  /** `x [rows, in]` through the projection: one output `[rows, out / parts]` per part, bias added. `kernel` replaces the stored one for this call. */
  apply(x: tf.Tensor2D, kernel?: tf.Tensor2D): tf.Tensor2D[] {
    const out = this.applyTiles([x], kernel);
    if (out.length === this.parts) return out;
    const whole = tf.concat(out, 1);
    tf.dispose(out);
    return [whole];
  }

  /**
   * The input as column blocks `xs` (side by side they are `[rows, in]`; ideally `inputTiles` blocks, any
   * other cut is regrouped) through the projection: the `outputTiles` column blocks of the output, bias
   * added. `kernel` `[in, out]` replaces the stored one for this call.
   */
  applyTiles(xs: tf.Tensor2D[], kernel?: tf.Tensor2D): tf.Tensor2D[] {
    const tiles = kernel === undefined ? this.tiles : this.tilesOf(kernel);
    const regrouped = xs.length === this.inputTiles ? undefined : this.regroup(xs);
    const inputs = regrouped ?? xs;
    const out = tf.tidy(() =>
      this.tiles[0].map((_, c) => {
        const products = inputs.map((x, r) => (r === 0 ? tf.fused.matMul({ a: x, b: tiles[r][c], bias: this.biases?.[c] }) : tf.matMul(x, tiles[r][c])) as tf.Tensor2D);
        return products.length === 1 ? products[0] : (tf.addN(products) as tf.Tensor2D);
      }),
    );
    if (kernel !== undefined) tf.dispose(tiles.flat());
    if (regrouped !== undefined) tf.dispose(regrouped);
    return out;
  }

  dispose(): void {
    tf.dispose([...this.tiles.flat(), ...(this.biases ?? [])]);
  }

  /** Column blocks of the input cut another way, recut into `inputTiles` blocks. */
  private regroup(xs: tf.Tensor2D[]): tf.Tensor2D[] {
    const whole = xs.length === 1 ? xs[0] : tf.concat(xs, 1);
    const [rows, inputs] = whole.shape;
    const width = inputs / this.inputTiles;
    const out = Array.from({ length: this.inputTiles }, (_, r) => (this.inputTiles === 1 ? whole.clone() : whole.slice([0, r * width], [rows, width])));
    if (whole !== xs[0]) whole.dispose();
    return out;
  }

  /**
   * The tile grid of a kernel tensor `[in, out]` (copied). A few tiles are one slice each (on wasm a slice
   * costs about a copy of its input, less than the transposes of `splitColumns`); per-head blocks go
   * through `splitColumns`, which copies the kernel a few times rather than once per head.
   */
  private tilesOf(kernel: tf.Tensor2D): tf.Tensor2D[][] {
    const values = kernelValues(kernel);
    if (values !== undefined) return this.tilesFromValues(values, true);
    const height = this.spec.inputs / this.inputTiles;
    const width = this.spec.outputs / this.outputTiles;
    if (this.inputTiles === 1 && this.outputTiles > 1 && this.parts > 1) return [splitColumns(kernel, this.outputTiles)];
    return Array.from({ length: this.inputTiles }, (_, r) =>
      Array.from({ length: this.outputTiles }, (_, c) =>
        this.inputTiles === 1 && this.outputTiles === 1 ? kernel.clone() : kernel.slice([r * height, c * width], [height, width]),
      ),
    );
  }

  /** The tile grid from a row-major weight, `[in, out]` when `kernelLayout`, else Linear's `[out, in]`. */
  private tilesFromValues(values: Float32Array, kernelLayout: boolean): tf.Tensor2D[][] {
    const { inputs, outputs } = this.spec;
    if (values.length !== inputs * outputs) throw new Error(`kernel ${this.spec.unit}: expected ${inputs * outputs} values, received ${values.length}`);
    if (this.inputTiles === 1 && this.outputTiles === 1 && kernelLayout) return [[tf.tensor2d(values.slice(), [inputs, outputs], 'float32')]];
    const height = inputs / this.inputTiles;
    const width = outputs / this.outputTiles;
    return Array.from({ length: this.inputTiles }, (_, r) =>
      Array.from({ length: this.outputTiles }, (_, c) => {
        const tile = new Float32Array(height * width);
        for (let i = 0; i < height; i++) {
          const input = r * height + i;
          if (kernelLayout) {
            // A tile's row is a run of the kernel's row.
            tile.set(values.subarray(input * outputs + c * width, input * outputs + (c + 1) * width), i * width);
            continue;
          }
          for (let j = 0; j < width; j++) tile[i * width + j] = values[(c * width + j) * inputs + input];
        }
        return tf.tensor2d(tile, [height, width], 'float32');
      }),
    );
  }

  private biasBlocks(values: Float32Array): tf.Tensor1D[] {
    if (values.length !== this.spec.outputs) throw new Error(`bias of ${this.spec.unit}: expected ${this.spec.outputs} values, received ${values.length}`);
    const width = this.spec.outputs / this.outputTiles;
    return Array.from({ length: this.outputTiles }, (_, c) => tf.tensor1d(values.slice(c * width, (c + 1) * width), 'float32'));
  }
}
