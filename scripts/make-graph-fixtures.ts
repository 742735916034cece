/**
 * Writes the small TF.js GraphModel fixtures under e2e/fixtures/graph-*: GraphDef JSON and weight
 * shards written by hand, as `tensorflowjs_converter` lays them out (no Python TensorFlow needed).
 * Deterministic: seeded weights, fixed node names; rerunning gives the same bytes.
 *
 * - graph-cnn: image [-1, 6, 6, 2] → Conv2D (uint8-quantized filter) → _FusedConv2D (BiasAdd + Relu,
 *   float16 filter) → DepthwiseConv2dNative branch added back (`res`, AddV2) → Conv2D stride 2 VALID →
 *   Reshape (int32 shape constant) → MatMul transpose_b → Softmax `scores`; Mean over `res` → `features`.
 *   Signature with both outputs; weights in two shards.
 * - graph-control: x [-1, 3] → MatMul → h; h + Relu(MatMul(h)) (a residual branch) → Switch on a bool
 *   constant → one MatMul per branch → Merge → `y`
 *   (needs executeAsync). No signature.
 * - graph-dynamic: image [-1, -1, -1, 2] (dynamic height and width) → Conv2D SAME → Relu → Mean over
 *   height and width → MatMul → Softmax `scores`: the spatial size is the user's to choose.
 *
 * Run: npx tsx scripts/make-graph-fixtures.ts
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const OUT = join(dirname(fileURLToPath(import.meta.url)), '..', 'e2e', 'fixtures');

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ---------- GraphDef JSON ----------

type Attr = Record<string, unknown>;
interface NodeDef {
  name: string;
  op: string;
  input?: string[];
  attr?: Attr;
}

const b64 = (text: string): string => Buffer.from(text, 'ascii').toString('base64');
const dims = (shape: readonly number[]): { dim: { size: string }[] } => ({ dim: shape.map((d) => ({ size: String(d) })) });
const T = { T: { type: 'DT_FLOAT' } };
const TF_DTYPE = { float32: 'DT_FLOAT', int32: 'DT_INT32', bool: 'DT_BOOL' } as const;

function placeholder(name: string, shape: number[]): NodeDef {
  return { name, op: 'Placeholder', attr: { dtype: { type: 'DT_FLOAT' }, shape: { shape: dims(shape) } } };
}

function constant(name: string, shape: number[], dtype: keyof typeof TF_DTYPE = 'float32'): NodeDef {
  return { name, op: 'Const', attr: { dtype: { type: TF_DTYPE[dtype] }, value: { tensor: { dtype: TF_DTYPE[dtype], tensorShape: dims(shape) } } } };
}

function convAttrs(strides: number, padding: 'SAME' | 'VALID'): Attr {
  return {
    ...T,
    strides: { list: { i: ['1', String(strides), String(strides), '1'] } },
    padding: { s: b64(padding) },
    data_format: { s: b64('NHWC') },
    dilations: { list: { i: ['1', '1', '1', '1'] } },
    explicit_paddings: { list: {} },
    use_cudnn_on_gpu: { b: true },
  };
}

// ---------- weights ----------

interface Weight {
  name: string;
  shape: number[];
  dtype: 'float32' | 'int32' | 'bool';
  /** The values the model computes with (after dequantization). */
  values: number[];
  /** Stored bytes in the shard. */
  bytes: Uint8Array;
  quantization?: { dtype: 'uint8' | 'float16'; scale?: number; min?: number };
}

function float32Weight(name: string, shape: number[], values: number[]): Weight {
  const f32 = Float32Array.from(values);
  return { name, shape, dtype: 'float32', values: [...f32], bytes: new Uint8Array(f32.buffer) };
}

function int32Weight(name: string, shape: number[], values: number[]): Weight {
  return { name, shape, dtype: 'int32', values, bytes: new Uint8Array(Int32Array.from(values).buffer) };
}

function boolWeight(name: string, values: boolean[]): Weight {
  return { name, shape: [], dtype: 'bool', values: values.map(Number), bytes: Uint8Array.from(values.map(Number)) };
}

/** uint8 affine quantization as the converter does it: q = round((v − min) / scale), value = q · scale + min. */
function uint8Weight(name: string, shape: number[], values: number[]): Weight {
  const min = Math.min(...values);
  const max = Math.max(...values);
  const scale = (max - min) / 255;
  const q = values.map((v) => Math.max(0, Math.min(255, Math.round((v - min) / scale))));
  const decoded = Float32Array.from(q.map((v) => v * scale + min));
  return { name, shape, dtype: 'float32', values: [...decoded], bytes: Uint8Array.from(q), quantization: { dtype: 'uint8', scale, min } };
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
/** float32 → IEEE half bits, round to nearest even (normal range only: these weights are small). */
function halfBits(value: number): number {
  f32[0] = value;
  const bits = u32[0];
  const sign = (bits >>> 16) & 0x8000;
  const exponent = ((bits >>> 23) & 0xff) - 127 + 15;
  const mantissa = bits & 0x7fffff;
  if (value === 0) return sign;
  if (exponent <= 0 || exponent >= 31) throw new Error(`${value} is outside float16's normal range`);
  let half = (exponent << 10) | (mantissa >>> 13);
  const rest = mantissa & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (half & 1) === 1)) half += 1;
  return sign | half;
}

function halfValue(bits: number): number {
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  const sign = bits & 0x8000 ? -1 : 1;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

function float16Weight(name: string, shape: number[], values: number[]): Weight {
  const bits = Uint16Array.from(values.map(halfBits));
  return { name, shape, dtype: 'float32', values: [...bits].map(halfValue), bytes: new Uint8Array(bits.buffer), quantization: { dtype: 'float16' } };
}

function seeded(seed: number, count: number, scale: number): number[] {
  const next = mulberry32(seed);
  // multiples of 1/64: exact in float16 and float32 alike
  return Array.from({ length: count }, () => Math.round((next() * 2 - 1) * scale * 64) / 64);
}

// ---------- writing ----------

function writeModel(folder: string, modelJson: Record<string, unknown>, weights: readonly Weight[], shardBytes: number): void {
  const dir = join(OUT, folder);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const data = new Uint8Array(weights.reduce((sum, w) => sum + w.bytes.byteLength, 0));
  let offset = 0;
  for (const weight of weights) {
    data.set(weight.bytes, offset);
    offset += weight.bytes.byteLength;
  }
  const count = Math.ceil(data.byteLength / shardBytes);
  const paths = Array.from({ length: count }, (_, i) => `group1-shard${i + 1}of${count}.bin`);
  paths.forEach((path, i) => writeFileSync(join(dir, path), data.slice(i * shardBytes, (i + 1) * shardBytes)));
  const manifest = weights.map((w) => ({ name: w.name, shape: w.shape, dtype: w.dtype, ...(w.quantization && { quantization: w.quantization }) }));
  writeFileSync(join(dir, 'model.json'), `${JSON.stringify({ ...modelJson, weightsManifest: [{ paths, weights: manifest }] }, null, 1)}\n`);
  const expected = { weights: Object.fromEntries(weights.map((w) => [w.name, w.values])) };
  writeFileSync(join(dir, 'expected.json'), `${JSON.stringify(expected)}\n`);
}

function graphCnn(): void {
  const weights: Weight[] = [
    uint8Weight('conv1/filter', [3, 3, 2, 4], seeded(1, 72, 0.5)),
    float16Weight('conv2/filter', [3, 3, 4, 4], seeded(2, 144, 0.4)),
    float32Weight('conv2/bias', [4], seeded(3, 4, 0.2)),
    float32Weight('dw/filter', [3, 3, 4, 1], seeded(4, 36, 0.5)),
    float32Weight('conv3/filter', [3, 3, 4, 3], seeded(5, 108, 0.3)),
    int32Weight('flatten/shape', [2], [-1, 12]),
    int32Weight('features/axes', [2], [1, 2]),
    float32Weight('fc/weights', [5, 12], seeded(6, 60, 0.5)),
  ];
  const nodes: NodeDef[] = [
    placeholder('image', [-1, 6, 6, 2]),
    ...weights.map((w) => constant(w.name, w.shape, w.dtype)),
    { name: 'conv1', op: 'Conv2D', input: ['image', 'conv1/filter'], attr: convAttrs(1, 'SAME') },
    {
      name: 'conv2',
      op: '_FusedConv2D',
      input: ['conv1', 'conv2/filter', 'conv2/bias'],
      attr: { ...convAttrs(1, 'SAME'), fused_ops: { list: { s: [b64('BiasAdd'), b64('Relu')] } }, num_args: { i: '1' }, epsilon: { f: 0 }, leakyrelu_alpha: { f: 0.2 } },
    },
    { name: 'dw', op: 'DepthwiseConv2dNative', input: ['conv2', 'dw/filter'], attr: convAttrs(1, 'SAME') },
    { name: 'res', op: 'AddV2', input: ['conv2', 'dw'], attr: T },
    { name: 'conv3', op: 'Conv2D', input: ['res', 'conv3/filter'], attr: convAttrs(2, 'VALID') },
    { name: 'flatten', op: 'Reshape', input: ['conv3', 'flatten/shape'], attr: { ...T, Tshape: { type: 'DT_INT32' } } },
    { name: 'fc', op: 'MatMul', input: ['flatten', 'fc/weights'], attr: { ...T, transpose_a: { b: false }, transpose_b: { b: true } } },
    { name: 'scores', op: 'Softmax', input: ['fc'], attr: T },
    { name: 'features', op: 'Mean', input: ['res', 'features/axes'], attr: { ...T, Tidx: { type: 'DT_INT32' }, keep_dims: { b: false } } },
  ];
  const signature = {
    inputs: { image: { name: 'image:0', dtype: 'DT_FLOAT', tensorShape: dims([-1, 6, 6, 2]) } },
    outputs: {
      scores: { name: 'scores:0', dtype: 'DT_FLOAT', tensorShape: dims([-1, 5]) },
      features: { name: 'features:0', dtype: 'DT_FLOAT', tensorShape: dims([-1, 4]) },
    },
  };
  const modelJson = {
    format: 'graph-model',
    generatedBy: '2.15.0',
    convertedBy: 'TensorFlow.js Converter v4.22.0',
    signature,
    userDefinedMetadata: { source: 'scripts/make-graph-fixtures.ts' },
    modelTopology: { node: nodes, library: {}, versions: { producer: 1286 } },
  };
  writeModel('graph-cnn', modelJson, weights, 700);
}

function graphControl(): void {
  const weights: Weight[] = [
    float32Weight('w0', [3, 3], seeded(11, 9, 1)),
    float32Weight('w_res', [3, 3], seeded(14, 9, 1)),
    boolWeight('pred', [true]),
    float32Weight('w_true', [3, 2], seeded(12, 6, 1)),
    float32Weight('w_false', [3, 2], seeded(13, 6, 1)),
  ];
  const nodes: NodeDef[] = [
    placeholder('x', [-1, 3]),
    ...weights.map((w) => constant(w.name, w.shape, w.dtype)),
    { name: 'h', op: 'MatMul', input: ['x', 'w0'], attr: { ...T, transpose_a: { b: false }, transpose_b: { b: false } } },
    { name: 'branch', op: 'MatMul', input: ['h', 'w_res'], attr: { ...T, transpose_a: { b: false }, transpose_b: { b: false } } },
    { name: 'branch_relu', op: 'Relu', input: ['branch'], attr: T },
    { name: 'res', op: 'AddV2', input: ['h', 'branch_relu'], attr: T },
    { name: 'switch', op: 'Switch', input: ['res', 'pred'], attr: T },
    { name: 'on_true', op: 'Identity', input: ['switch:1'], attr: T },
    { name: 'on_false', op: 'Identity', input: ['switch'], attr: T },
    { name: 'mm_true', op: 'MatMul', input: ['on_true', 'w_true'], attr: { ...T, transpose_a: { b: false }, transpose_b: { b: false } } },
    { name: 'mm_false', op: 'MatMul', input: ['on_false', 'w_false'], attr: { ...T, transpose_a: { b: false }, transpose_b: { b: false } } },
    { name: 'merge', op: 'Merge', input: ['mm_false', 'mm_true'], attr: { ...T, N: { i: '2' } } },
    { name: 'y', op: 'Identity', input: ['merge'], attr: T },
  ];
  const modelJson = {
    format: 'graph-model',
    generatedBy: '2.15.0',
    convertedBy: 'TensorFlow.js Converter v4.22.0',
    modelTopology: { node: nodes, library: {}, versions: { producer: 1286 } },
  };
  writeModel('graph-control', modelJson, weights, 4096);
}

function graphDynamic(): void {
  const weights: Weight[] = [
    float32Weight('conv/filter', [3, 3, 2, 4], seeded(21, 72, 0.5)),
    int32Weight('pool/axes', [2], [1, 2]),
    float32Weight('fc/weights', [4, 3], seeded(22, 12, 1)),
  ];
  const nodes: NodeDef[] = [
    placeholder('image', [-1, -1, -1, 2]),
    ...weights.map((w) => constant(w.name, w.shape, w.dtype)),
    { name: 'conv', op: 'Conv2D', input: ['image', 'conv/filter'], attr: convAttrs(1, 'SAME') },
    { name: 'relu', op: 'Relu', input: ['conv'], attr: T },
    { name: 'pool', op: 'Mean', input: ['relu', 'pool/axes'], attr: { ...T, Tidx: { type: 'DT_INT32' }, keep_dims: { b: false } } },
    { name: 'fc', op: 'MatMul', input: ['pool', 'fc/weights'], attr: { ...T, transpose_a: { b: false }, transpose_b: { b: false } } },
    { name: 'scores', op: 'Softmax', input: ['fc'], attr: T },
  ];
  const signature = {
    inputs: { image: { name: 'image:0', dtype: 'DT_FLOAT', tensorShape: dims([-1, -1, -1, 2]) } },
    outputs: { scores: { name: 'scores:0', dtype: 'DT_FLOAT', tensorShape: dims([-1, 3]) } },
  };
  const modelJson = {
    format: 'graph-model',
    generatedBy: '2.15.0',
    convertedBy: 'TensorFlow.js Converter v4.22.0',
    signature,
    modelTopology: { node: nodes, library: {}, versions: { producer: 1286 } },
  };
  writeModel('graph-dynamic', modelJson, weights, 4096);
}

graphCnn();
graphControl();
graphDynamic();
console.log(`wrote ${['graph-cnn', 'graph-control', 'graph-dynamic'].map((name) => join(OUT, name)).join(', ')}`);
