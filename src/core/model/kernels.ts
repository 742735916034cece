import * as tf from '@tensorflow/tfjs';

/** Anything that hands out copies of its units' kernels: a PrunableModel, a TransformerModel. */
export interface KernelHolder {
  getKernel(unit: string): tf.Tensor;
}

/** A unit's kernel values, read back asynchronously (safe on every backend, WebGPU in a worker included). */
export async function readKernel(holder: KernelHolder, unit: string): Promise<Float32Array> {
  const kernel = holder.getKernel(unit);
  try {
    return (await kernel.data()) as Float32Array;
  } finally {
    kernel.dispose();
  }
}

/** Several units' kernel values, by unit name. */
export async function readKernels(holder: KernelHolder, units: readonly string[]): Promise<Map<string, Float32Array>> {
  const kernels = new Map<string, Float32Array>();
  for (const unit of units) kernels.set(unit, await readKernel(holder, unit));
  return kernels;
}

/** Kernel tensors made by `kernelTensor`, with the values they were made from. */
const kernelSources = new WeakMap<tf.Tensor, Float32Array>();

/**
 * A float32 tensor of `values` (which must not change while it lives) that remembers them: a model
 * that cuts a kernel into tiles (the transformer's projections) cuts the values instead of reading
 * the tensor back, which on the WASM backend copies it out of the module's memory once per tile.
 */
export function kernelTensor(values: Float32Array, shape: readonly number[]): tf.Tensor {
  const tensor = tf.tensor(values, [...shape], 'float32');
  kernelSources.set(tensor, values);
  return tensor;
}

/** The values a `kernelTensor` was made from, or undefined for any other tensor. */
export function kernelValues(tensor: tf.Tensor): Float32Array | undefined {
  return kernelSources.get(tensor);
}
