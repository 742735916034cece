import type * as tf from '@tensorflow/tfjs';
import type { UnitInfo } from '../types';
import type { Layer } from './graph';

/** A kernel weight of a layer class: the weight's own name and the suffix added to the layer name. */
export interface KernelSpec {
  readonly weight: string;
  readonly unitSuffix: string;
}

const PLAIN_KERNEL: readonly KernelSpec[] = [{ weight: 'kernel', unitSuffix: '' }];

/** Keras class name → its prunable kernels (DESIGN §6 Units). Biases, norms and embeddings are not units. */
const kernelRegistry = new Map<string, readonly KernelSpec[]>([
  ['Dense', PLAIN_KERNEL],
  ['Conv1D', PLAIN_KERNEL],
  ['Conv2D', PLAIN_KERNEL],
  ['Conv3D', PLAIN_KERNEL],
  ['Conv2DTranspose', PLAIN_KERNEL],
  ['Conv3DTranspose', PLAIN_KERNEL],
  ['DepthwiseConv2D', [{ weight: 'depthwise_kernel', unitSuffix: '' }]],
  [
    'SeparableConv2D',
    [
      { weight: 'depthwise_kernel', unitSuffix: '/depthwise' },
      { weight: 'pointwise_kernel', unitSuffix: '/pointwise' },
    ],
  ],
]);

export function registerKernelLayer(className: string, kernels: readonly KernelSpec[]): void {
  kernelRegistry.set(className, kernels);
}

export function kernelSpecs(className: string): readonly KernelSpec[] {
  return kernelRegistry.get(className) ?? [];
}

/** The last path segment of a weight name: `conv/kernel` → `kernel`. */
function weightBaseName(variable: tf.LayerVariable): string {
  const parts = variable.originalName.split('/');
  return parts[parts.length - 1];
}

export interface ResolvedUnit {
  readonly info: UnitInfo;
  readonly variable: tf.LayerVariable;
}

/** The units of one layer, in registry order. */
export function layerUnits(layer: Layer): ResolvedUnit[] {
  const units: ResolvedUnit[] = [];
  for (const spec of kernelSpecs(layer.getClassName())) {
    const variable = layer.weights.find((w) => weightBaseName(w) === spec.weight);
    if (variable === undefined) continue;
    const shape = [...variable.shape].map((d) => d ?? 0);
    units.push({
      info: {
        name: `${layer.name}${spec.unitSuffix}`,
        layer: layer.name,
        weight: variable.originalName,
        shape,
        size: shape.reduce((a, b) => a * b, 1),
      },
      variable,
    });
  }
  return units;
}
