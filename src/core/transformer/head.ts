import * as tf from '@tensorflow/tfjs';

/**
 * A `[vocab, d]` matrix (token embedding, LM head) held as column blocks of its transpose: block k is
 * `[d, ≤ HEAD_BLOCK]`, rows `k·HEAD_BLOCK …` of the matrix. The LM head multiplies each block as a plain
 * 2-D product (the fast path of every backend: tfjs-wasm runs `matMul(x, w, false, true)` about ten
 * times slower, and one product with all 50k columns streams the whole packed matrix from memory for every
 * few rows). Nothing is held twice: a tied embedding is looked up from the same blocks.
 */
export const HEAD_BLOCK = 2048;

export class ColumnBlocks {
  private constructor(
    readonly rows: number,
    readonly width: number,
    private readonly blocks: tf.Tensor2D[],
  ) {}

  /** From row-major `[rows, width]` values (checkpoint layout). */
  static fromValues(values: Float32Array, rows: number, width: number): ColumnBlocks {
    if (values.length !== rows * width) throw new Error(`expected ${rows * width} values, received ${values.length}`);
    const blocks: tf.Tensor2D[] = [];
    for (let start = 0; start < rows; start += HEAD_BLOCK) {
      const count = Math.min(HEAD_BLOCK, rows - start);
      const transposed = new Float32Array(count * width);
      for (let r = 0; r < count; r++) {
        const from = (start + r) * width;
        for (let c = 0; c < width; c++) transposed[c * count + r] = values[from + c];
      }
      blocks.push(tf.tensor2d(transposed, [width, count], 'float32'));
    }
    return new ColumnBlocks(rows, width, blocks);
  }

  /** The matrix `[rows, width]` in checkpoint layout; the caller disposes it. */
  matrix(): tf.Tensor2D {
    return tf.tidy(() => (this.blocks.length === 1 ? this.blocks[0] : tf.concat(this.blocks, 1)).transpose());
  }

  /** `x [n, width]` times the matrix transposed: `[n, rows]` (logits). */
  project(x: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy((): tf.Tensor2D => {
      const parts = this.blocks.map((block): tf.Tensor2D => tf.matMul(x, block));
      return parts.length === 1 ? parts[0] : tf.concat(parts, 1);
    });
  }

  /**
   * Rows of the matrix for token ids: `[ids.length, width]` (an embedding lookup). Each block gathers only
   * the ids it holds, and one gather puts the rows back in order: a gather costs per element gathered.
   */
  lookup(ids: ArrayLike<number>): tf.Tensor2D {
    return tf.tidy(() => {
      if (this.blocks.length === 1) return tf.gather(this.blocks[0], tf.tensor1d(Array.from(ids), 'int32'), 1).transpose() as tf.Tensor2D;
      const byBlock: number[][] = this.blocks.map(() => []);
      const order: number[][] = this.blocks.map(() => []);
      for (let t = 0; t < ids.length; t++) {
        if (!(ids[t] >= 0 && ids[t] < this.rows)) throw new RangeError(`token id ${ids[t]} is outside the vocabulary (0…${this.rows - 1})`);
        const block = Math.floor(ids[t] / HEAD_BLOCK);
        byBlock[block].push(ids[t] - block * HEAD_BLOCK);
        order[block].push(t);
      }
      const parts: tf.Tensor2D[] = [];
      const position = new Int32Array(ids.length);
      let next = 0;
      byBlock.forEach((local, k) => {
        if (local.length === 0) return;
        parts.push(tf.gather(this.blocks[k], tf.tensor1d(local, 'int32'), 1));
        for (const t of order[k]) position[t] = next++;
      });
      const grouped = (parts.length === 1 ? parts[0] : tf.concat(parts, 1)).transpose();
      return tf.gather(grouped, tf.tensor1d(position, 'int32')) as tf.Tensor2D;
    });
  }

  dispose(): void {
    tf.dispose(this.blocks);
  }
}
