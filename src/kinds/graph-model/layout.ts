import type { UnitLayout } from '../../core/criteria/layout';
import { boolAttr, stringAttr } from './attrs';
import type { GraphIndex, GraphUnit } from './graph';

/**
 * A unit's W view (criteria/layout.ts). `transposed: true` means the stored kernel, read row-major,
 * is W itself `[rows, cols]` rather than its transpose — MatMul with `transpose_b`, a weight that is
 * the left operand, `Conv2DBackpropInput` — so a pipeline reads it without `kernelToMatrix`'s transpose.
 */
export type GraphUnitLayout = UnitLayout & { transposed?: true };

/** How an Einsum's operands map onto W: letters of the weight that are contracted, and those that go out. */
export interface EinsumPlan {
  /** The data operand's letters. */
  data: string;
  /** Contracted letters, in the weight's order (W's columns, row-major). */
  contracted: string;
  /** The weight's letters that reach the output, in the weight's order (W's rows). */
  outputs: string;
  /** True when the weight lists its output letters first. */
  transposed: boolean;
}

const product = (dims: readonly number[]): number => dims.reduce((a, b) => a * b, 1);

/** Reads an Einsum's equation against its weight operand, or says why W cannot be read from it. */
export function einsumPlan(equation: string, weightIndex: number): EinsumPlan | string {
  const clean = equation.replace(/\s+/g, '');
  const match = /^([a-zA-Z]+),([a-zA-Z]+)->([a-zA-Z]*)$/.exec(clean);
  if (match === null) return `Einsum "${equation}" is not a two-operand equation without ellipses`;
  const [, left, right, out] = match;
  const weight = weightIndex === 0 ? left : right;
  const data = weightIndex === 0 ? right : left;
  let contracted = '';
  let outputs = '';
  for (const letter of weight) {
    const inData = data.includes(letter);
    const inOut = out.includes(letter);
    if (inData && inOut) return `Einsum "${equation}": the weight has a batch axis (${letter})`;
    if (!inData && !inOut) return `Einsum "${equation}": the weight is summed over axis ${letter}`;
    if (inData) contracted += letter;
    else outputs += letter;
  }
  for (const letter of data) {
    if (!weight.includes(letter) && !out.includes(letter)) return `Einsum "${equation}": the data is summed over axis ${letter}`;
  }
  if (contracted === '' || outputs === '') return `Einsum "${equation}" is not a projection of the data`;
  if (weight === contracted + outputs) return { data, contracted, outputs, transposed: false };
  if (weight === outputs + contracted) return { data, contracted, outputs, transposed: true };
  return `Einsum "${equation}": the weight interleaves input and output axes`;
}

/** The W view of a unit, from its op and attributes (Keras layouts for convolutions and dense kernels). */
export function graphUnitLayout(graph: GraphIndex, unit: GraphUnit): GraphUnitLayout | string {
  const node = graph.node(unit.node);
  const shape = unit.shape;
  switch (unit.op) {
    case 'Conv2D':
    case '_FusedConv2D': {
      if (shape.length !== 4) return `${unit.op} filter of rank ${shape.length}`;
      const [kh, kw, inC, outC] = shape;
      return { kind: 'conv', rows: outC, cols: kh * kw * inC };
    }
    case 'DepthwiseConv2dNative':
    case 'FusedDepthwiseConv2dNative': {
      if (shape.length !== 4) return `${unit.op} filter of rank ${shape.length}`;
      const [kh, kw, channels, multiplier] = shape;
      return { kind: 'depthwise', rows: channels * multiplier, cols: kh * kw, channels };
    }
    case 'Conv2DBackpropInput': {
      // filter [kh, kw, out, in]: each input pixel's `in` values map to a kh·kw·out patch of the output.
      if (shape.length !== 4) return `${unit.op} filter of rank ${shape.length}`;
      const [kh, kw, outC, inC] = shape;
      return { kind: 'dense', rows: kh * kw * outC, cols: inC, transposed: true };
    }
    case 'MatMul':
    case '_FusedMatMul':
    case 'BatchMatMul':
    case 'BatchMatMulV2': {
      const batched = unit.op.startsWith('Batch');
      if (shape.length < 2 || product(shape.slice(0, -2)) !== 1) return `${unit.op} weight [${shape.join(', ')}] is batched`;
      const [a, b] = shape.slice(-2);
      const transposeA = batched ? boolAttr(node, 'adj_x') : boolAttr(node, 'transpose_a');
      const transposeB = batched ? boolAttr(node, 'adj_y') : boolAttr(node, 'transpose_b');
      if (unit.weightIndex === 1) {
        // y = x · B: B stored [in, out], or [out, in] when transposed.
        return transposeB ? { kind: 'dense', rows: a, cols: b, transposed: true } : { kind: 'dense', rows: b, cols: a };
      }
      // y = A · x: A stored [out, in] (W itself), or [in, out] when transposed.
      return transposeA ? { kind: 'dense', rows: b, cols: a } : { kind: 'dense', rows: a, cols: b, transposed: true };
    }
    case 'Einsum': {
      const plan = einsumPlan(stringAttr(node, 'equation') ?? '', unit.weightIndex);
      if (typeof plan === 'string') return plan;
      const weightLetters = plan.transposed ? plan.outputs + plan.contracted : plan.contracted + plan.outputs;
      const dim = (letters: string): number => product([...letters].map((l) => shape[weightLetters.indexOf(l)]));
      const layout: GraphUnitLayout = { kind: 'dense', rows: dim(plan.outputs), cols: dim(plan.contracted) };
      if (plan.transposed) layout.transposed = true;
      return layout;
    }
    default:
      return `${unit.op} weights are not supported by the pruning criteria`;
  }
}

/** Stored kernel values → W `[rows, cols]` row-major, honouring `transposed`. */
export function graphKernelToMatrix(layout: GraphUnitLayout, kernel: Float32Array): Float32Array {
  if (kernel.length !== layout.rows * layout.cols) throw new Error(`kernel has ${kernel.length} values, expected ${layout.rows}×${layout.cols}`);
  if (layout.transposed === true) return kernel.slice();
  const out = new Float32Array(kernel.length);
  for (let c = 0; c < layout.cols; c++) {
    for (let r = 0; r < layout.rows; r++) out[r * layout.cols + c] = kernel[c * layout.rows + r];
  }
  return out;
}

/** W (or a mask in W's layout) → stored kernel values, honouring `transposed`. */
export function graphMatrixToKernel<T extends Float32Array | Uint8Array>(layout: GraphUnitLayout, matrix: T): T {
  if (layout.transposed === true) return matrix.slice() as T;
  const out = (matrix instanceof Float32Array ? new Float32Array(matrix.length) : new Uint8Array(matrix.length)) as T;
  for (let r = 0; r < layout.rows; r++) {
    for (let c = 0; c < layout.cols; c++) out[c * layout.rows + r] = matrix[r * layout.cols + c];
  }
  return out;
}
