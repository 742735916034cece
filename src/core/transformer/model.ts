import * as tf from '@tensorflow/tfjs';
import type { UnitInfo } from '../types';
import type { TransformerConfig } from './config';
import { blockNames, checkParameters, parameterSpecs, projectionSpecs } from './parameters';
import type { NamedTensor, ProjectionSpec } from './parameters';
import { causalMask, ropeTables } from './positions';

export interface TransformerForwardOptions {
  /** Removal candidates (`model.layers.3.self_attn`, `transformer.h.0.mlp`) skipped: only the residual passes. */
  bypass?: ReadonlySet<string>;
  /** Unit name → kernel `[in, out]` to use instead of the stored one for this pass. Nothing is stored. */
  kernels?: ReadonlyMap<string, tf.Tensor>;
  /**
   * Sees each unit's input rows X `[batch·seq, in]` as the pass computes it (q/k/v, gate/up share
   * theirs). The tensor is freed after the pass: clone and `tf.keep` what must outlive it.
   */
  onUnitInput?(unit: string, input: tf.Tensor2D): void;
  /** Sees the residual stream entering block `index` (`index = layers`: after the last block, before the final norm). */
  onHidden?(index: number, hidden: tf.Tensor3D): void;
}

interface Projection extends ProjectionSpec {
  /** Kernel `[in, out]`. */
  kernel: tf.Tensor2D;
  biasValues?: tf.Tensor1D;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** `0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))`, GPT-2's `gelu_new`. */
function geluTanh(x: tf.Tensor): tf.Tensor {
  const inner = x.add(x.pow(3).mul(0.044715)).mul(Math.sqrt(2 / Math.PI));
  return x.mul(0.5).mul(inner.tanh().add(1));
}

function activate(x: tf.Tensor, activation: TransformerConfig['activation']): tf.Tensor {
  switch (activation) {
    case 'gelu_new':
      return geluTanh(x);
    case 'gelu':
      return x.mul(0.5).mul(x.div(Math.SQRT2).erf().add(1));
    case 'relu':
      return x.relu();
    case 'silu':
      return x.mul(x.sigmoid());
  }
}

/** `[..., half | half]` → `[..., −second half | first half]` (HF `rotate_half`). */
function rotateHalf(x: tf.Tensor4D): tf.Tensor4D {
  const half = x.shape[3] / 2;
  const [first, second] = tf.split(x, [half, half], 3);
  return tf.concat([second.neg(), first], 3) as tf.Tensor4D;
}

/**
 * A Hugging Face decoder-only transformer (GPT-2 or LLaMA family) run with tfjs ops, so it works
 * on every backend. Weights are tensors created once; kernels are kept as `[in, out]` (the layout of
 * a Keras Dense kernel), so a unit's W (out × in) is the transposed kernel as for a Dense layer.
 * `dispose()` frees them.
 */
export class TransformerModel {
  private readonly projections = new Map<string, Projection>();
  private readonly others = new Map<string, tf.Tensor>();
  private readonly candidates: string[] = [];
  private disposed = false;

  constructor(
    readonly config: TransformerConfig,
    tensors: ReadonlyMap<string, NamedTensor>,
  ) {
    const problems = checkParameters(config, tensors);
    if (problems.length > 0) {
      const { name, expected, actual } = problems[0];
      throw new Error(`parameter ${name}: expected ${expected}, got ${actual}${problems.length > 1 ? ` (and ${problems.length - 1} more problems)` : ''}`);
    }
    const projected = new Set<string>();
    for (const spec of projectionSpecs(config)) {
      const weight = tensors.get(`${spec.unit}.weight`) as NamedTensor;
      const kernel = tf.tidy((): tf.Tensor2D => {
        const stored = tf.tensor2d(weight.values, weight.shape as [number, number], 'float32');
        return spec.conv1d ? stored : stored.transpose();
      });
      const projection: Projection = { ...spec, kernel };
      if (spec.bias) projection.biasValues = tf.tensor1d((tensors.get(`${spec.unit}.bias`) as NamedTensor).values, 'float32');
      this.projections.set(spec.unit, projection);
      projected.add(`${spec.unit}.weight`).add(`${spec.unit}.bias`);
    }
    for (const spec of parameterSpecs(config)) {
      if (projected.has(spec.name)) continue;
      const tensor = tensors.get(spec.name) as NamedTensor;
      this.others.set(spec.name, tf.tensor(tensor.values, tensor.shape, 'float32'));
    }
    for (let i = 0; i < config.layers; i++) {
      const { attention, mlp } = blockNames(config, i);
      this.candidates.push(attention, mlp);
    }
  }

  /** Longest sequence one forward pass takes. */
  get contextLength(): number {
    return this.config.contextLength;
  }

  /** Prunable projections in execution order; `shape` is the kernel's `[in, out]`. */
  units(): UnitInfo[] {
    return [...this.projections.values()].map((p) => ({
      name: p.unit,
      layer: p.unit,
      weight: `${p.unit}.weight`,
      shape: [p.inputs, p.outputs],
      size: p.inputs * p.outputs,
    }));
  }

  /** Attention and MLP sublayers, block by block (DESIGN §6 names). */
  removalCandidates(): string[] {
    return [...this.candidates];
  }

  /** Every parameter in checkpoint naming and order of the forward pass. */
  parameterNames(): string[] {
    return parameterSpecs(this.config).map((spec) => spec.name);
  }

  /** Number of parameters (tied embeddings counted once). */
  parameterCount(): number {
    return parameterSpecs(this.config).reduce((sum, spec) => sum + spec.shape.reduce((a, b) => a * b, 1), 0);
  }

  /** A copy of a unit's kernel `[in, out]`; the caller disposes it. */
  getKernel(unit: string): tf.Tensor2D {
    return this.projection(unit).kernel.clone();
  }

  /** Stores new kernel values `[in, out]` for a unit (e.g. after pruning). The values are copied. */
  setKernel(unit: string, values: Float32Array | tf.Tensor): void {
    const projection = this.projection(unit);
    const shape: [number, number] = [projection.inputs, projection.outputs];
    let next: tf.Tensor2D;
    if (values instanceof Float32Array) {
      if (values.length !== shape[0] * shape[1]) throw new Error(`kernel ${unit}: expected ${shape[0] * shape[1]} values, received ${values.length}`);
      next = tf.tensor2d(values.slice(), shape, 'float32');
    } else {
      this.checkKernel(unit, values);
      next = values.clone() as tf.Tensor2D;
    }
    projection.kernel.dispose();
    projection.kernel = next;
  }

  /** A copy of a parameter in checkpoint layout (Linear weights `[out, in]`); the caller disposes it. */
  getParameter(name: string): tf.Tensor {
    const projection = this.projectionOf(name);
    if (projection === undefined) return this.other(name).clone();
    if (name.endsWith('.bias')) return this.biasOf(projection, name).clone();
    return projection.conv1d ? projection.kernel.clone() : projection.kernel.transpose();
  }

  /** Replaces a parameter's values, given in checkpoint layout. The values are copied. */
  setParameter(name: string, values: Float32Array): void {
    const projection = this.projectionOf(name);
    if (projection !== undefined && name.endsWith('.weight')) {
      const stored = projection.conv1d ? values : transposeValues(values, projection.outputs, projection.inputs);
      this.setKernel(projection.unit, stored);
      return;
    }
    const current = projection === undefined ? this.other(name) : this.biasOf(projection, name);
    if (values.length !== current.size) throw new Error(`parameter ${name}: expected ${current.size} values, received ${values.length}`);
    const next = tf.tensor(values.slice(), current.shape, 'float32');
    if (projection === undefined) this.others.set(name, next);
    else projection.biasValues = next as tf.Tensor1D;
    current.dispose();
  }

  /** Every parameter in checkpoint layout, read back (for export). */
  async exportParameters(): Promise<Map<string, NamedTensor>> {
    const out = new Map<string, NamedTensor>();
    for (const spec of parameterSpecs(this.config)) {
      const tensor = this.getParameter(spec.name);
      out.set(spec.name, { shape: [...tensor.shape], values: (await tensor.data()) as Float32Array });
      tensor.dispose();
    }
    return out;
  }

  /** Logits `[batch, seq, vocab]` for int32 token ids `[batch, seq]`. */
  forward(inputIds: tf.Tensor2D, options: TransformerForwardOptions = {}): tf.Tensor3D {
    if (this.disposed) throw new Error('the transformer has been disposed');
    const [batch, length] = inputIds.shape;
    if (inputIds.dtype !== 'int32') throw new Error(`token ids must be int32, received ${inputIds.dtype}`);
    if (length < 1 || length > this.contextLength) {
      throw new Error(`sequence length ${length} is outside 1…${this.contextLength} (the model's context length)`);
    }
    for (const name of options.bypass ?? []) {
      if (!this.candidates.includes(name)) throw new Error(`cannot bypass ${name}: not an attention or MLP sublayer of this model`);
    }
    for (const [unit, kernel] of options.kernels ?? []) this.checkKernel(unit, kernel);
    return tf.tidy(() => {
      const d = this.config.hiddenSize;
      const gpt2 = this.config.family === 'gpt2';
      const mask = causalMask(length, this.config.slidingWindow);
      const rope = gpt2 ? undefined : ropeTables(length, this.config.headDim, this.config.ropeTheta);
      let hidden = tf.gather(this.other(gpt2 ? 'transformer.wte.weight' : 'model.embed_tokens.weight'), inputIds) as tf.Tensor3D;
      if (gpt2) hidden = hidden.add(this.other('transformer.wpe.weight').slice([0, 0], [length, d]));
      for (let i = 0; i < this.config.layers; i++) {
        options.onHidden?.(i, hidden);
        const { attention, mlp } = blockNames(this.config, i);
        for (const sublayer of [attention, mlp]) {
          if (options.bypass?.has(sublayer)) continue;
          const previous = hidden;
          hidden = tf.tidy(() => {
            const normed = this.norm(previous, i, sublayer === attention ? 0 : 1).reshape([batch * length, d]) as tf.Tensor2D;
            const update = sublayer === attention ? this.attention(normed, sublayer, batch, length, mask, rope, options) : this.mlp(normed, sublayer, options);
            return previous.add(update.reshape([batch, length, d]));
          });
          previous.dispose();
        }
      }
      options.onHidden?.(this.config.layers, hidden);
      const final = this.norm(hidden, -1, 0).reshape([batch * length, d]);
      const head = this.config.tieWordEmbeddings ? this.other(gpt2 ? 'transformer.wte.weight' : 'model.embed_tokens.weight') : this.other('lm_head.weight');
      return tf.matMul(final, head, false, true).reshape([batch, length, this.config.vocabSize]) as tf.Tensor3D;
    });
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const projection of this.projections.values()) tf.dispose([projection.kernel, ...(projection.biasValues ? [projection.biasValues] : [])]);
    tf.dispose([...this.others.values()]);
  }

  /** LayerNorm (GPT-2) or RMSNorm (LLaMA) of block `layer` (`which` 0 before attention, 1 before the MLP); `layer` −1 is the final norm. */
  private norm(x: tf.Tensor, layer: number, which: 0 | 1): tf.Tensor {
    const eps = this.config.normEps;
    if (this.config.family === 'gpt2') {
      const prefix = layer < 0 ? 'transformer.ln_f' : `transformer.h.${layer}.ln_${which + 1}`;
      const centred = x.sub(x.mean(-1, true));
      const scaled = centred.mul(centred.square().mean(-1, true).add(eps).rsqrt());
      return scaled.mul(this.other(`${prefix}.weight`)).add(this.other(`${prefix}.bias`));
    }
    const name = layer < 0 ? 'model.norm.weight' : `model.layers.${layer}.${which === 0 ? 'input_layernorm' : 'post_attention_layernorm'}.weight`;
    return x.mul(x.square().mean(-1, true).add(eps).rsqrt()).mul(this.other(name));
  }

  private linear(x: tf.Tensor2D, unit: string, options: TransformerForwardOptions): tf.Tensor2D {
    const projection = this.projection(unit);
    options.onUnitInput?.(unit, x);
    const y: tf.Tensor2D = tf.matMul(x, (options.kernels?.get(unit) as tf.Tensor2D | undefined) ?? projection.kernel);
    return projection.biasValues ? (y.add(projection.biasValues) as tf.Tensor2D) : y;
  }

  private attention(
    x: tf.Tensor2D,
    sublayer: string,
    batch: number,
    length: number,
    mask: tf.Tensor2D,
    rope: { cos: tf.Tensor2D; sin: tf.Tensor2D } | undefined,
    options: TransformerForwardOptions,
  ): tf.Tensor2D {
    const { heads, kvHeads, headDim } = this.config;
    const split = (rows: tf.Tensor2D, count: number): tf.Tensor4D => rows.reshape([batch, length, count, headDim]).transpose([0, 2, 1, 3]) as tf.Tensor4D;
    let q: tf.Tensor4D;
    let k: tf.Tensor4D;
    let v: tf.Tensor4D;
    if (this.config.family === 'gpt2') {
      const width = heads * headDim;
      const [qRows, kRows, vRows] = tf.split(this.linear(x, `${sublayer}.c_attn`, options), [width, width, width], 1) as tf.Tensor2D[];
      [q, k, v] = [split(qRows, heads), split(kRows, heads), split(vRows, heads)];
    } else {
      q = split(this.linear(x, `${sublayer}.q_proj`, options), heads);
      k = split(this.linear(x, `${sublayer}.k_proj`, options), kvHeads);
      v = split(this.linear(x, `${sublayer}.v_proj`, options), kvHeads);
    }
    if (rope !== undefined) {
      q = q.mul(rope.cos).add(rotateHalf(q).mul(rope.sin));
      k = k.mul(rope.cos).add(rotateHalf(k).mul(rope.sin));
    }
    // Grouped-query attention: query head h reads key/value head ⌊h / (heads / kvHeads)⌋.
    const grouped = (heads / kvHeads) * length;
    const scores = tf
      .matMul(q.reshape([batch, kvHeads, grouped, headDim]), k, false, true)
      .reshape([batch, heads, length, length])
      .mul(1 / Math.sqrt(headDim))
      .add(mask);
    const probabilities = tf.softmax(scores).reshape([batch, kvHeads, grouped, length]);
    const context = tf
      .matMul(probabilities, v)
      .reshape([batch, heads, length, headDim])
      .transpose([0, 2, 1, 3])
      .reshape([batch * length, heads * headDim]) as tf.Tensor2D;
    return this.linear(context, `${sublayer}.${this.config.family === 'gpt2' ? 'c_proj' : 'o_proj'}`, options);
  }

  private mlp(x: tf.Tensor2D, sublayer: string, options: TransformerForwardOptions): tf.Tensor2D {
    if (this.config.family === 'gpt2') {
      const inner = activate(this.linear(x, `${sublayer}.c_fc`, options), this.config.activation) as tf.Tensor2D;
      return this.linear(inner, `${sublayer}.c_proj`, options);
    }
    const gate = activate(this.linear(x, `${sublayer}.gate_proj`, options), this.config.activation);
    const inner = gate.mul(this.linear(x, `${sublayer}.up_proj`, options)) as tf.Tensor2D;
    return this.linear(inner, `${sublayer}.down_proj`, options);
  }

  private checkKernel(unit: string, kernel: tf.Tensor): void {
    const projection = this.projection(unit);
    const shape = [projection.inputs, projection.outputs];
    if (!sameShape(kernel.shape, shape) || kernel.dtype !== 'float32') {
      throw new Error(`kernel ${unit}: expected float32 [${shape.join(', ')}], received ${kernel.dtype} [${kernel.shape.join(', ')}]`);
    }
  }

  private projection(unit: string): Projection {
    const projection = this.projections.get(unit);
    if (projection === undefined) throw new Error(`no prunable unit named ${unit} in this ${this.config.modelType} model`);
    return projection;
  }

  /** The projection a `.weight`/`.bias` parameter belongs to, if any. */
  private projectionOf(name: string): Projection | undefined {
    const unit = name.replace(/\.(weight|bias)$/, '');
    return unit === name ? undefined : this.projections.get(unit);
  }

  private biasOf(projection: Projection, name: string): tf.Tensor1D {
    if (projection.biasValues === undefined) throw new Error(`no parameter named ${name} in this ${this.config.modelType} model`);
    return projection.biasValues;
  }

  private other(name: string): tf.Tensor {
    const tensor = this.others.get(name);
    if (tensor === undefined) throw new Error(`no parameter named ${name} in this ${this.config.modelType} model`);
    return tensor;
  }
}

/** Row-major `[rows, cols]` → `[cols, rows]`. */
function transposeValues(values: Float32Array, rows: number, cols: number): Float32Array {
  if (values.length !== rows * cols) throw new Error(`expected ${rows * cols} values, received ${values.length}`);
  const out = new Float32Array(values.length);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) out[c * rows + r] = values[r * cols + c];
  }
  return out;
}
