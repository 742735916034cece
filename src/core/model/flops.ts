import type * as tf from '@tensorflow/tfjs';
import type { ExecutionStep, Layer } from './graph';

/*
 * FLOPs per sample of one layer call, counting a multiply-add as 2:
 * - kernel layers: 2 · kernel size · positions (+ one add per output element for the bias), where
 *   positions = output elements per output channel (Dense over [.., in]: the leading dims; conv:
 *   the output's spatial size); Conv*Transpose uses the input positions instead;
 *   DepthwiseConv2D the same with its depthwise kernel; SeparableConv2D = depthwise + pointwise;
 * - BatchNormalization / LayerNormalization: 2 per element (a folded scale and shift);
 * - Add, Subtract, Multiply, Maximum, Minimum, Average: (n − 1) per output element;
 * - pooling: window size per output element (global pooling: one per input element);
 * - everything else (activations, reshapes, padding, concatenation, dropout, embeddings): 0.
 * Shapes with an unknown non-batch dimension give 0.
 */

type FlopRule = (step: ExecutionStep) => number;

function elements(shape: tf.Shape | undefined): number {
  if (shape === undefined) return 0;
  let n = 1;
  for (const d of shape.slice(1)) {
    if (d === null) return NaN;
    n *= d;
  }
  return n;
}

function weightOf(layer: Layer, base: string): tf.LayerVariable | undefined {
  return layer.weights.find((w) => w.originalName.split('/').pop() === base);
}

function sizeOf(variable: tf.LayerVariable | undefined): number {
  return variable === undefined ? 0 : variable.shape.reduce<number>((a, d) => a * (d ?? 0), 1);
}

function lastDim(variable: tf.LayerVariable | undefined): number {
  return variable === undefined ? 1 : (variable.shape[variable.shape.length - 1] ?? 1);
}

function biasAdds(step: ExecutionStep): number {
  return weightOf(step.layer, 'bias') === undefined ? 0 : elements(step.outputShapes[0]);
}

const kernelLayer: FlopRule = (step) => {
  const kernel = weightOf(step.layer, 'kernel');
  const positions = elements(step.outputShapes[0]) / lastDim(kernel);
  return 2 * sizeOf(kernel) * positions + biasAdds(step);
};

const transposedKernelLayer: FlopRule = (step) => {
  const kernel = weightOf(step.layer, 'kernel');
  // kernel [..k, out, in]: every input position scatters through the whole kernel
  const positions = elements(step.inputShapes[0]) / lastDim(kernel);
  return 2 * sizeOf(kernel) * positions + biasAdds(step);
};

const depthwiseLayer: FlopRule = (step) => {
  const kernel = weightOf(step.layer, 'depthwise_kernel');
  const channels = kernel === undefined ? 1 : (kernel.shape[kernel.shape.length - 2] ?? 1) * lastDim(kernel);
  const positions = elements(step.outputShapes[0]) / channels;
  return 2 * sizeOf(kernel) * positions + biasAdds(step);
};

const separableLayer: FlopRule = (step) => {
  const depthwise = weightOf(step.layer, 'depthwise_kernel');
  const pointwise = weightOf(step.layer, 'pointwise_kernel');
  const positions = elements(step.outputShapes[0]) / lastDim(pointwise);
  return 2 * (sizeOf(depthwise) + sizeOf(pointwise)) * positions + biasAdds(step);
};

const normalization: FlopRule = (step) => 2 * elements(step.outputShapes[0]);

const merge: FlopRule = (step) => elements(step.outputShapes[0]) * (step.inputShapes.length - 1);

const pooling: FlopRule = (step) => {
  const poolSize = step.layer.getConfig().poolSize;
  const window = Array.isArray(poolSize) ? poolSize.reduce<number>((a, d) => a * Number(d), 1) : Number(poolSize ?? 1);
  return window * elements(step.outputShapes[0]);
};

const globalPooling: FlopRule = (step) => elements(step.inputShapes[0]);

const rules = new Map<string, FlopRule>([
  ['Dense', kernelLayer],
  ['Conv1D', kernelLayer],
  ['Conv2D', kernelLayer],
  ['Conv3D', kernelLayer],
  ['Conv2DTranspose', transposedKernelLayer],
  ['Conv3DTranspose', transposedKernelLayer],
  ['DepthwiseConv2D', depthwiseLayer],
  ['SeparableConv2D', separableLayer],
  ['BatchNormalization', normalization],
  ['LayerNormalization', normalization],
  ...['Add', 'Subtract', 'Multiply', 'Maximum', 'Minimum', 'Average'].map((name): [string, FlopRule] => [name, merge]),
  ...['MaxPooling1D', 'MaxPooling2D', 'MaxPooling3D', 'AveragePooling1D', 'AveragePooling2D', 'AveragePooling3D'].map((name): [string, FlopRule] => [name, pooling]),
  ...['GlobalAveragePooling1D', 'GlobalMaxPooling1D', 'GlobalAveragePooling2D', 'GlobalMaxPooling2D'].map((name): [string, FlopRule] => [name, globalPooling]),
]);

export function registerFlopRule(className: string, rule: FlopRule): void {
  rules.set(className, rule);
}

/** FLOPs per sample of one call (see the rules above). */
export function stepFlops(step: ExecutionStep): number {
  const rule = rules.get(step.layer.getClassName());
  const flops = rule === undefined ? 0 : rule(step);
  return Number.isFinite(flops) ? Math.round(flops) : 0;
}
