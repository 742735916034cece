import * as tf from '@tensorflow/tfjs';
import type { UnitInfo } from '../types';
import type { TransformerConfig } from './config';
import { blockNames, checkParameters, parameterSpecs, projectionSpecs } from './parameters';
import type { NamedTensor, ProjectionSpec } from './parameters';
import { StoredProjection } from './projection';
import { AttentionMasks, causalAttention } from './attention';
import { ColumnBlocks } from './head';
import { ropeTables } from './positions';

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
  /**
   * Sees the residual stream `[batch, seq, d]` entering each sublayer: step 2·i before block i's attention,
   * 2·i + 1 before its MLP, 2·layers after the last block (what `forwardFrom` starts from).
   */
  onResidual?(step: number, hidden: tf.Tensor3D): void;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** `0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))`, GPT-2's `gelu_new`, as x·σ(2z) (the same function; σ runs faster than tanh). */
function geluTanh(x: tf.Tensor): tf.Tensor {
  const scale = 2 * Math.sqrt(2 / Math.PI);
  return x.mul(
    x
      .square()
      .mul(scale * 0.044715)
      .add(scale)
      .mul(x)
      .sigmoid(),
  );
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
function rotateHalf(x: tf.Tensor3D): tf.Tensor3D {
  const half = x.shape[2] / 2;
  const [first, second] = tf.split(x, [half, half], 2);
  return tf.concat([second.neg(), first], 2) as tf.Tensor3D;
}

/** RoPE on one head's rows `[batch·seq, headDim]` with tables `[seq, headDim]`. */
function rotate(x: tf.Tensor2D, rope: { cos: tf.Tensor2D; sin: tf.Tensor2D }, batch: number): tf.Tensor2D {
  const [length, headDim] = rope.cos.shape;
  const rows = x.reshape([batch, length, headDim]) as tf.Tensor3D;
  return rows
    .mul(rope.cos)
    .add(rotateHalf(rows).mul(rope.sin))
    .reshape([batch * length, headDim]);
}

/** Column blocks a projection is stored in: one per head for the q/k/v projections, else one. */
function headParts(config: TransformerConfig, spec: ProjectionSpec): number {
  const name = spec.unit.slice(spec.sublayer.length + 1);
  if (name === 'c_attn') return 3 * config.heads;
  if (name === 'q_proj') return config.heads;
  if (name === 'k_proj' || name === 'v_proj') return config.kvHeads;
  return 1;
}

/**
 * The part of a model one `TransformerModel` holds: blocks `from` … `to − 1` and, with `ends`, the
 * token embedding (and GPT-2's positions), the final norm and the LM head. A part runs `runBlocks`,
 * `embed` and `logitsOf` for what it holds; `forward` needs the whole model.
 */
export interface TransformerPart {
  blocks: { from: number; to: number };
  ends: boolean;
}

const BLOCK_OF = /^(?:model\.layers|transformer\.h)\.(\d+)\./;

/** Whether a parameter (or unit) name belongs to the part. */
function inPart(part: TransformerPart | undefined, name: string): boolean {
  if (part === undefined) return true;
  const block = BLOCK_OF.exec(name);
  if (block === null) return part.ends;
  const index = Number(block[1]);
  return index >= part.blocks.from && index < part.blocks.to;
}

/** What one pass needs besides the weights: the attention masks and RoPE tables of its length. */
interface PassContext {
  batch: number;
  length: number;
  masks: AttentionMasks;
  rope?: { cos: tf.Tensor2D; sin: tf.Tensor2D };
}

/**
 * A Hugging Face decoder-only transformer (GPT-2 or LLaMA family) run with tfjs ops, so it works
 * on every backend. Weights are tensors created once; kernels are kept as `[in, out]` (the layout of
 * a Keras Dense kernel), so a unit's W (out × in) is the transposed kernel as for a Dense layer, and each
 * projection is a plain 2-D product. The LM head (tied to the embedding or not) is held once, as column
 * blocks of its transpose (`ColumnBlocks`). `dispose()` frees them.
 */
export class TransformerModel {
  private readonly projections = new Map<string, StoredProjection>();
  private readonly others = new Map<string, tf.Tensor>();
  private readonly candidates: string[] = [];
  /** The parameter the LM head reads: the token embedding when tied, `lm_head.weight` otherwise. */
  private readonly headName: string;
  private readonly embeddingName: string;
  private head: ColumnBlocks | undefined;
  private disposed = false;

  /** `part` holds only some blocks and/or the ends (`TransformerPart`); `tensors` then need hold only those parameters. */
  constructor(
    readonly config: TransformerConfig,
    tensors: ReadonlyMap<string, NamedTensor>,
    readonly part?: TransformerPart,
  ) {
    const problems = checkParameters(config, tensors).filter((problem) => inPart(part, problem.name));
    if (problems.length > 0) {
      const { name, expected, actual } = problems[0];
      throw new Error(`parameter ${name}: expected ${expected}, got ${actual}${problems.length > 1 ? ` (and ${problems.length - 1} more problems)` : ''}`);
    }
    this.embeddingName = config.family === 'gpt2' ? 'transformer.wte.weight' : 'model.embed_tokens.weight';
    this.headName = config.tieWordEmbeddings ? this.embeddingName : 'lm_head.weight';
    const projected = new Set<string>();
    for (const spec of projectionSpecs(config)) {
      if (!inPart(part, spec.unit)) continue;
      const weight = (tensors.get(`${spec.unit}.weight`) as NamedTensor).values;
      const bias = spec.bias ? (tensors.get(`${spec.unit}.bias`) as NamedTensor).values : undefined;
      this.projections.set(spec.unit, new StoredProjection(spec, headParts(config, spec), weight, bias));
      projected.add(`${spec.unit}.weight`).add(`${spec.unit}.bias`);
    }
    for (const spec of parameterSpecs(config)) {
      if (projected.has(spec.name) || spec.name === this.headName || !inPart(part, spec.name)) continue;
      const tensor = tensors.get(spec.name) as NamedTensor;
      this.others.set(spec.name, tf.tensor(tensor.values, tensor.shape, 'float32'));
    }
    if (part === undefined || part.ends) this.head = ColumnBlocks.fromValues((tensors.get(this.headName) as NamedTensor).values, config.vocabSize, config.hiddenSize);
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
    return [...this.projections.values()].map(({ spec: p }) => ({
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

  /**
   * The residual step (as in `onResidual` and `forwardFrom`) at which the sublayer of a unit or removal
   * candidate starts: 2·block for attention, 2·block + 1 for the MLP.
   */
  residualStep(name: string): number {
    const sublayer = this.projections.get(name)?.spec.sublayer ?? name;
    const step = this.candidates.indexOf(sublayer);
    if (step < 0) throw new Error(`no unit or sublayer named ${name} in this ${this.config.modelType} model`);
    return step;
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
    return this.projection(unit).kernel();
  }

  /** Stores new kernel values `[in, out]` for a unit (e.g. after pruning). The values are copied. */
  setKernel(unit: string, values: Float32Array | tf.Tensor): void {
    const projection = this.projection(unit);
    if (!(values instanceof Float32Array)) this.checkKernel(unit, values);
    projection.setKernel(values instanceof Float32Array ? values : (values as tf.Tensor2D));
  }

  /** A copy of a parameter in checkpoint layout (Linear weights `[out, in]`); the caller disposes it. */
  getParameter(name: string): tf.Tensor {
    if (name === this.headName) return this.lmHead().matrix();
    const projection = this.projectionOf(name);
    if (projection === undefined) return this.other(name).clone();
    if (name.endsWith('.bias')) return this.biasOf(projection, name);
    if (projection.spec.conv1d) return projection.kernel();
    return tf.tidy(() => projection.kernel().transpose());
  }

  /** Replaces a parameter's values, given in checkpoint layout. The values are copied. */
  setParameter(name: string, values: Float32Array): void {
    if (name === this.headName) {
      const next = ColumnBlocks.fromValues(values, this.config.vocabSize, this.config.hiddenSize);
      this.head?.dispose();
      this.head = next;
      return;
    }
    const projection = this.projectionOf(name);
    if (projection !== undefined && name.endsWith('.weight')) {
      const { conv1d, outputs, inputs, unit } = projection.spec;
      this.setKernel(unit, conv1d ? values : transposeValues(values, outputs, inputs));
      return;
    }
    if (projection !== undefined) {
      this.biasOf(projection, name).dispose();
      projection.setBias(values);
      return;
    }
    const current = this.other(name);
    if (values.length !== current.size) throw new Error(`parameter ${name}: expected ${current.size} values, received ${values.length}`);
    this.others.set(name, tf.tensor(values.slice(), current.shape, 'float32'));
    current.dispose();
  }

  /** Every parameter in checkpoint layout, read back (for export). */
  async exportParameters(): Promise<Map<string, NamedTensor>> {
    const out = new Map<string, NamedTensor>();
    for (const spec of parameterSpecs(this.config)) {
      if (!inPart(this.part, spec.name)) continue;
      const tensor = this.getParameter(spec.name);
      out.set(spec.name, { shape: [...tensor.shape], values: (await tensor.data()) as Float32Array });
      tensor.dispose();
    }
    return out;
  }

  /** Logits `[batch, seq, vocab]` for int32 token ids `[batch, seq]`. */
  forward(inputIds: tf.Tensor2D, options: TransformerForwardOptions = {}): tf.Tensor3D {
    this.checkPass(inputIds.shape[1], options);
    const [batch, length] = inputIds.shape;
    if (inputIds.dtype !== 'int32') throw new Error(`token ids must be int32, received ${inputIds.dtype}`);
    return tf.tidy(() => this.run(this.embedRows(inputIds), 0, batch, length, options));
  }

  /** The residual stream `[batch, seq, d]` entering block 0 for int32 token ids `[batch, seq]` (what `forward` starts from). */
  embed(inputIds: tf.Tensor2D): tf.Tensor3D {
    const [batch, length] = inputIds.shape;
    if (inputIds.dtype !== 'int32') throw new Error(`token ids must be int32, received ${inputIds.dtype}`);
    if (length < 1 || length > this.contextLength) throw new Error(`sequence length ${length} is outside 1…${this.contextLength} (the model's context length)`);
    return tf.tidy(() => this.embedRows(inputIds).reshape([batch, length, this.config.hiddenSize]));
  }

  /**
   * The residual stream after the blocks this model holds (`part.blocks`, every block for a whole model),
   * from `hidden [batch, seq, d]` entering the first of them: the same values `forward` computes between
   * those blocks. `blocks` runs only some of them.
   */
  runBlocks(hidden: tf.Tensor3D, options: TransformerForwardOptions = {}, blocks?: { from: number; to: number }): tf.Tensor3D {
    const [batch, length, width] = hidden.shape;
    if (width !== this.config.hiddenSize || hidden.dtype !== 'float32') {
      throw new Error(`hidden state: expected float32 [batch, seq, ${this.config.hiddenSize}], received ${hidden.dtype} [${hidden.shape.join(', ')}]`);
    }
    this.checkPass(length, options);
    const held = this.part?.blocks ?? { from: 0, to: this.config.layers };
    const { from, to } = blocks ?? held;
    if (from < held.from || to > held.to || from > to) throw new Error(`blocks ${from}…${to - 1} are not all held by this model (${held.from}…${held.to - 1})`);
    return tf.tidy(() => {
      const context = this.passContext(batch, length);
      try {
        return this.steps(hidden.reshape([batch * length, width]), 2 * from, 2 * to, context, options).reshape([batch, length, width]) as tf.Tensor3D;
      } finally {
        this.disposeContext(context);
      }
    });
  }

  /** Logits `[batch, seq, vocab]` from the residual stream after the last block (final norm and LM head; `forward`'s last step). */
  logitsOf(hidden: tf.Tensor3D): tf.Tensor3D {
    const [batch, length, width] = hidden.shape;
    return tf.tidy(() => this.logitRows(hidden.reshape([batch * length, width])).reshape([batch, length, this.config.vocabSize]) as tf.Tensor3D);
  }

  /**
   * Logits `[batch, seq, vocab]` from the residual stream `hidden [batch, seq, d]` entering residual step
   * `step` (see `onResidual`): runs only the sublayers from there on. With the hidden state a dense pass
   * gave at that step and the same options, the logits equal `forward`'s.
   */
  forwardFrom(step: number, hidden: tf.Tensor3D, options: TransformerForwardOptions = {}): tf.Tensor3D {
    const [batch, length, width] = hidden.shape;
    if (!Number.isInteger(step) || step < 0 || step > 2 * this.config.layers) throw new Error(`residual step ${step} is outside 0…${2 * this.config.layers}`);
    if (width !== this.config.hiddenSize || hidden.dtype !== 'float32') {
      throw new Error(`hidden state: expected float32 [batch, seq, ${this.config.hiddenSize}], received ${hidden.dtype} [${hidden.shape.join(', ')}]`);
    }
    this.checkPass(length, options);
    return tf.tidy(() => this.run(hidden.reshape([batch * length, width]), step, batch, length, options));
  }

  /**
   * Logits from inside a sublayer: `hidden [batch, seq, d]` is the residual stream entering the sublayer of
   * `unit`, its output projection (o_proj, attn.c_proj, down_proj, mlp.c_proj), and `input` that unit's
   * input rows `[batch·seq, in]` as a pass computed them. Runs the unit (with `options.kernels`), adds it to
   * the residual stream and goes on after the sublayer: the same logits as `forwardFrom` at the sublayer's
   * step when `input` is what the sublayer computes from `hidden`.
   */
  forwardFromUnit(unit: string, hidden: tf.Tensor3D, input: tf.Tensor2D, options: TransformerForwardOptions = {}): tf.Tensor3D {
    const { sublayer, inputs } = this.projection(unit).spec;
    if (!this.isOutputProjection(unit)) throw new Error(`${unit} is not the output projection of ${sublayer}`);
    const [batch, length, width] = hidden.shape;
    if (input.shape[0] !== batch * length || input.shape[1] !== inputs) {
      throw new Error(`input of ${unit}: expected [${batch * length}, ${inputs}], received [${input.shape.join(', ')}]`);
    }
    this.checkPass(length, options);
    const step = this.residualStep(unit);
    return tf.tidy(() => {
      const residual = hidden.reshape([batch * length, width]) as tf.Tensor2D;
      const next = options.bypass?.has(sublayer) ? residual : residual.add(this.linear(input, unit, options));
      return this.run(next as tf.Tensor2D, step + 1, batch, length, options);
    });
  }

  /** Whether a unit is the last projection of its sublayer (the one whose output joins the residual stream). */
  isOutputProjection(unit: string): boolean {
    const { sublayer } = this.projection(unit).spec;
    const inSublayer = [...this.projections.keys()].filter((name) => this.projections.get(name)?.spec.sublayer === sublayer);
    return inSublayer[inSublayer.length - 1] === unit;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const projection of this.projections.values()) projection.dispose();
    tf.dispose([...this.others.values()]);
    this.head?.dispose();
  }

  private checkPass(length: number, options: TransformerForwardOptions): void {
    if (this.disposed) throw new Error('the transformer has been disposed');
    if (length < 1 || length > this.contextLength) {
      throw new Error(`sequence length ${length} is outside 1…${this.contextLength} (the model's context length)`);
    }
    for (const name of options.bypass ?? []) {
      if (!this.candidates.includes(name)) throw new Error(`cannot bypass ${name}: not an attention or MLP sublayer of this model`);
    }
    for (const [unit, kernel] of options.kernels ?? []) this.checkKernel(unit, kernel);
  }

  /** The sublayers from residual step `from` on, the final norm and the LM head, on rows `[batch·seq, d]`. */
  private run(start: tf.Tensor2D, from: number, batch: number, length: number, options: TransformerForwardOptions): tf.Tensor3D {
    const context = this.passContext(batch, length);
    try {
      const hidden = this.steps(start, from, 2 * this.config.layers, context, options);
      if (options.onHidden !== undefined || options.onResidual !== undefined) {
        const state = hidden.reshape([batch, length, this.config.hiddenSize]) as tf.Tensor3D;
        options.onHidden?.(this.config.layers, state);
        options.onResidual?.(2 * this.config.layers, state);
      }
      return this.logitRows(hidden).reshape([batch, length, this.config.vocabSize]);
    } finally {
      this.disposeContext(context);
    }
  }

  private passContext(batch: number, length: number): PassContext {
    const context: PassContext = { batch, length, masks: new AttentionMasks(length, this.config.slidingWindow) };
    if (this.config.family !== 'gpt2') context.rope = ropeTables(length, this.config.headDim, this.config.ropeTheta);
    return context;
  }

  private disposeContext(context: PassContext): void {
    context.masks.dispose();
    if (context.rope) tf.dispose([context.rope.cos, context.rope.sin]);
  }

  /** Residual steps `from` … `to − 1` on rows `[batch·seq, d]`; `start` is not disposed. */
  private steps(start: tf.Tensor2D, from: number, to: number, context: PassContext, options: TransformerForwardOptions): tf.Tensor2D {
    const { batch, length } = context;
    const d = this.config.hiddenSize;
    let hidden = start;
    for (let step = from; step < to; step++) {
      if (options.onHidden !== undefined || options.onResidual !== undefined) {
        const state = hidden.reshape([batch, length, d]) as tf.Tensor3D;
        if (step % 2 === 0) options.onHidden?.(step / 2, state);
        options.onResidual?.(step, state);
      }
      const sublayer = this.candidates[step];
      if (options.bypass?.has(sublayer)) continue;
      const previous = hidden;
      hidden = tf.tidy(() => {
        const normed = this.norm(previous, step >> 1, step % 2 === 0 ? 0 : 1) as tf.Tensor2D;
        const update = step % 2 === 0 ? this.attention(normed, sublayer, context, options) : this.mlp(normed, sublayer, options);
        return previous.add(update);
      });
      if (previous !== start) previous.dispose();
    }
    return hidden;
  }

  /** Rows `[batch·seq, d]` of the token embedding (plus GPT-2's positions) for int32 ids `[batch, seq]`. */
  private embedRows(inputIds: tf.Tensor2D): tf.Tensor2D {
    const [batch, length] = inputIds.shape;
    const d = this.config.hiddenSize;
    return tf.tidy(() => {
      let hidden = this.config.tieWordEmbeddings
        ? this.lmHead().lookup(inputIds.dataSync())
        : (tf.gather(this.other(this.embeddingName), inputIds.reshape([batch * length])) as tf.Tensor2D);
      if (this.config.family === 'gpt2') {
        const positions = this.other('transformer.wpe.weight').slice([0, 0], [length, d]);
        hidden = hidden
          .reshape([batch, length, d])
          .add(positions)
          .reshape([batch * length, d]);
      }
      return hidden;
    });
  }

  /** Final norm and LM head on rows `[n, d]`: logits `[n, vocab]`. */
  private logitRows(hidden: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => this.lmHead().project(this.norm(hidden, -1, 0) as tf.Tensor2D));
  }

  private lmHead(): ColumnBlocks {
    if (this.head === undefined) throw new Error(`this part of the ${this.config.modelType} model holds no embedding or LM head`);
    return this.head;
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

  /** The unit's outputs, one per stored block (per head for q/k/v). */
  private heads(x: tf.Tensor2D, unit: string, options: TransformerForwardOptions): tf.Tensor2D[] {
    options.onUnitInput?.(unit, x);
    return this.projection(unit).apply(x, options.kernels?.get(unit) as tf.Tensor2D | undefined);
  }

  private linear(x: tf.Tensor2D, unit: string, options: TransformerForwardOptions): tf.Tensor2D {
    return this.heads(x, unit, options)[0];
  }

  private attention(x: tf.Tensor2D, sublayer: string, context: PassContext, options: TransformerForwardOptions): tf.Tensor2D {
    const { heads, headDim } = this.config;
    const { batch, masks, rope } = context;
    let q: tf.Tensor2D[];
    let k: tf.Tensor2D[];
    let v: tf.Tensor2D[];
    if (this.config.family === 'gpt2') {
      const parts = this.heads(x, `${sublayer}.c_attn`, options);
      [q, k, v] = [parts.slice(0, heads), parts.slice(heads, 2 * heads), parts.slice(2 * heads)];
    } else {
      [q, k, v] = ['q_proj', 'k_proj', 'v_proj'].map((name) => this.heads(x, `${sublayer}.${name}`, options));
    }
    const scale = 1 / Math.sqrt(headDim);
    if (rope !== undefined) {
      q = q.map((head) => rotate(head, rope, batch).mul(scale));
      k = k.map((head) => rotate(head, rope, batch));
    } else {
      q = q.map((head) => head.mul(scale));
    }
    const attended = causalAttention(q, k, v, masks, batch);
    return this.linear(attended, `${sublayer}.${this.config.family === 'gpt2' ? 'c_proj' : 'o_proj'}`, options);
  }

  /**
   * The MLP tile by tile: the up (and gate) projection's output column blocks go through the activation
   * into the down projection's row tiles, never joined (`StoredProjection.applyTiles`).
   */
  private mlp(x: tf.Tensor2D, sublayer: string, options: TransformerForwardOptions): tf.Tensor2D {
    const tiles = (name: string, xs: tf.Tensor2D[]): tf.Tensor2D[] => {
      const unit = `${sublayer}.${name}`;
      if (options.onUnitInput !== undefined) options.onUnitInput(unit, xs.length === 1 ? xs[0] : tf.concat(xs, 1));
      return this.projection(unit).applyTiles(xs, options.kernels?.get(unit) as tf.Tensor2D | undefined);
    };
    const { activation } = this.config;
    if (this.config.family === 'gpt2') {
      const inner = tiles('c_fc', [x]).map((t) => activate(t, activation) as tf.Tensor2D);
      return tiles('c_proj', inner)[0];
    }
    const gate = tiles('gate_proj', [x]);
    const up = tiles('up_proj', [x]);
    const inner = gate.map((g, i) => activate(g, activation).mul(up[i]) as tf.Tensor2D);
    return tiles('down_proj', inner)[0];
  }

  private checkKernel(unit: string, kernel: tf.Tensor): void {
    const { inputs, outputs } = this.projection(unit).spec;
    const shape = [inputs, outputs];
    if (!sameShape(kernel.shape, shape) || kernel.dtype !== 'float32') {
      throw new Error(`kernel ${unit}: expected float32 [${shape.join(', ')}], received ${kernel.dtype} [${kernel.shape.join(', ')}]`);
    }
  }

  private projection(unit: string): StoredProjection {
    const projection = this.projections.get(unit);
    if (projection === undefined) throw new Error(`no prunable unit named ${unit} in this ${this.config.modelType} model`);
    return projection;
  }

  /** The projection a `.weight`/`.bias` parameter belongs to, if any. */
  private projectionOf(name: string): StoredProjection | undefined {
    const unit = name.replace(/\.(weight|bias)$/, '');
    return unit === name ? undefined : this.projections.get(unit);
  }

  /** A copy of the projection's bias; the caller disposes it. */
  private biasOf(projection: StoredProjection, name: string): tf.Tensor1D {
    const bias = projection.bias();
    if (bias === undefined) throw new Error(`no parameter named ${name} in this ${this.config.modelType} model`);
    return bias;
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
