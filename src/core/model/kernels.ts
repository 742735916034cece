import type * as tf from '@tensorflow/tfjs';

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
