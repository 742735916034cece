import * as tf from '@tensorflow/tfjs';
import type { ProjectionSpec } from './parameters';
import { splitColumns } from './rows';

/**
 * One prunable projection's weights, held once as column blocks of its kernel `[in, out]` (one block, or
 * one per attention head for the q/k/v projections, so each head's activations come out of their own
 * plain 2-D product and never need slicing), with the bias split the same way.
 */
export class StoredProjection {
  private blocks: tf.Tensor2D[];
  private biases: tf.Tensor1D[] | undefined;

  /**
   * `weight` in checkpoint layout (`[out, in]` for Linear, `[in, out]` for GPT-2 Conv1D); `parts` equal
   * column blocks of the kernel.
   */
  constructor(
    readonly spec: ProjectionSpec,
    readonly parts: number,
    weight: Float32Array,
    bias: Float32Array | undefined,
  ) {
    if (spec.outputs % parts !== 0) throw new Error(`${spec.unit}: ${spec.outputs} outputs do not split into ${parts} heads`);
    this.blocks = this.kernelBlocks(weight, spec.conv1d);
    this.biases = bias === undefined ? undefined : this.biasBlocks(bias);
  }

  get width(): number {
    return this.spec.outputs / this.parts;
  }

  /** A copy of the kernel `[in, out]`; the caller disposes it. */
  kernel(): tf.Tensor2D {
    return this.blocks.length === 1 ? this.blocks[0].clone() : tf.concat(this.blocks, 1);
  }

  /** A copy of the bias; the caller disposes it. */
  bias(): tf.Tensor1D | undefined {
    if (this.biases === undefined) return undefined;
    return this.biases.length === 1 ? this.biases[0].clone() : tf.concat(this.biases);
  }

  /** Replaces the kernel with `[in, out]` values (row-major, copied) or a tensor of that shape (copied). */
  setKernel(values: Float32Array | tf.Tensor2D): void {
    const next = values instanceof Float32Array ? this.kernelBlocks(values, true) : splitColumns(values, this.parts);
    tf.dispose(this.blocks);
    this.blocks = next;
  }

  setBias(values: Float32Array): void {
    const next = this.biasBlocks(values);
    if (this.biases) tf.dispose(this.biases);
    this.biases = next;
  }

  /** `x [rows, in]` through the projection: one output `[rows, out / parts]` per block, bias added. `kernel` replaces the stored one for this call. */
  apply(x: tf.Tensor2D, kernel?: tf.Tensor2D): tf.Tensor2D[] {
    const blocks = kernel === undefined ? this.blocks : splitColumns(kernel, this.parts);
    const out = blocks.map((b, i) => tf.fused.matMul({ a: x, b, bias: this.biases?.[i] }) as tf.Tensor2D);
    if (kernel !== undefined) tf.dispose(blocks);
    return out;
  }

  dispose(): void {
    tf.dispose([...this.blocks, ...(this.biases ?? [])]);
  }

  /** Column blocks `[in, width]` of the kernel from a row-major weight, `[in, out]` when `kernelLayout`, else Linear's `[out, in]`. */
  private kernelBlocks(values: Float32Array, kernelLayout: boolean): tf.Tensor2D[] {
    const { inputs, outputs } = this.spec;
    if (values.length !== inputs * outputs) throw new Error(`kernel ${this.spec.unit}: expected ${inputs * outputs} values, received ${values.length}`);
    const width = this.width;
    if (this.parts === 1 && kernelLayout) return [tf.tensor2d(values.slice(), [inputs, outputs], 'float32')];
    const blocks: tf.Tensor2D[] = [];
    for (let p = 0; p < this.parts; p++) {
      const block = new Float32Array(inputs * width);
      for (let c = 0; c < width; c++) {
        const o = p * width + c;
        for (let i = 0; i < inputs; i++) block[i * width + c] = kernelLayout ? values[i * outputs + o] : values[o * inputs + i];
      }
      blocks.push(tf.tensor2d(block, [inputs, width], 'float32'));
    }
    return blocks;
  }

  private biasBlocks(values: Float32Array): tf.Tensor1D[] {
    if (values.length !== this.spec.outputs) throw new Error(`bias of ${this.spec.unit}: expected ${this.spec.outputs} values, received ${values.length}`);
    const width = this.width;
    return Array.from({ length: this.parts }, (_, p) => tf.tensor1d(values.slice(p * width, (p + 1) * width), 'float32'));
  }
}
