import * as tf from '@tensorflow/tfjs';
import type { UnitInfo } from '../types';
import { buildExecutionGraph, liveKeys, passedInput, UnsupportedModelError } from './graph';
import type { ExecutionGraph, ExecutionStep, Layer } from './graph';
import { layerUnits } from './units';

export interface ForwardOptions {
  /** Layer names whose output is replaced by their input (shape-preserving layers only); a residual `Add` passes its skip path, whichever input that is. */
  bypass?: ReadonlySet<string>;
  /** Unit name → kernel to use instead of the stored one (same shape, float32). Nothing is stored. */
  kernels?: ReadonlyMap<string, tf.Tensor>;
  /** Inference only. */
  training?: false;
  /** Sees what enters each unit's layer (its first input) on every call, before the layer runs; freed after the pass. */
  onUnitInput?(unit: string, input: tf.Tensor): void;
}

/**
 * Everything needed to resume a forward pass just before a layer's first call: the values
 * alive at that point, each owned by this object. Free with `disposeActivations`.
 */
export interface CapturedActivations {
  readonly layer: string;
  /** Index of the layer's first step in `PrunableModel.graph.steps`. */
  readonly boundary: number;
  /** The layer's own inputs at its first call (also held in `values`). */
  readonly inputs: readonly tf.Tensor[];
  /** Graph value key → tensor, for every value alive at the boundary. */
  readonly values: ReadonlyMap<string, tf.Tensor>;
}

export function disposeActivations(activations: CapturedActivations | ReadonlyMap<string, CapturedActivations> | Iterable<CapturedActivations>): void {
  const list =
    activations instanceof Map
      ? [...(activations as ReadonlyMap<string, CapturedActivations>).values()]
      : 'boundary' in activations
        ? [activations]
        : [...(activations as Iterable<CapturedActivations>)];
  for (const item of list) tf.dispose([...item.values.values()]);
}

/** Shape-only layers that keep the meaning of their input (used to find the output activation). */
const PASS_THROUGH = new Set(['Dropout', 'SpatialDropout1D', 'GaussianNoise', 'GaussianDropout', 'AlphaDropout', 'Reshape', 'Flatten', 'Permute']);

function toTensorList(result: ReturnType<Layer['apply']>, layer: string): tf.Tensor[] {
  const list = Array.isArray(result) ? result : [result];
  return list.map((item) => {
    if (!(item instanceof tf.Tensor)) throw new Error(`layer ${layer} returned a symbolic tensor on an eager call`);
    return item;
  });
}

function sameShape(a: tf.Shape, b: tf.Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function backingVariable(variable: tf.LayerVariable): tf.Variable {
  const value = variable.read();
  if (!(value instanceof tf.Variable)) throw new Error(`weight ${variable.name} is not backed by a tf.Variable`);
  return value;
}

/**
 * A LayersModel run layer by layer (eager `layer.apply`, which reproduces `predict`), so that
 * layers can be bypassed, kernels swapped for one pass, and a pass resumed from cached values.
 * Owns the LayersModel: `dispose()` frees it.
 */
export class PrunableModel {
  readonly graph: ExecutionGraph;
  private readonly unitList: UnitInfo[];
  private readonly unitVariables = new Map<string, tf.LayerVariable>();
  private readonly firstStep = new Map<string, number>();
  private readonly layerList: Layer[] = [];
  private readonly layerUnitNames = new Map<string, string[]>();

  static async fromArtifacts(artifacts: tf.io.ModelArtifacts): Promise<PrunableModel> {
    const model = await tf.loadLayersModel({ load: async () => artifacts });
    return new PrunableModel(model);
  }

  constructor(readonly layersModel: tf.LayersModel) {
    this.graph = buildExecutionGraph(layersModel);
    this.graph.steps.forEach((step, index) => {
      const name = step.layer.name;
      const known = this.firstStep.get(name);
      if (known === undefined) {
        this.firstStep.set(name, index);
        this.layerList.push(step.layer);
      } else if (this.graph.steps[known].layer !== step.layer) {
        throw new UnsupportedModelError(`two different layers are named ${name}`);
      }
    });
    this.unitList = [];
    for (const layer of this.layerList) {
      for (const unit of layerUnits(layer)) {
        this.unitList.push(unit.info);
        this.unitVariables.set(unit.info.name, unit.variable);
        this.layerUnitNames.set(layer.name, [...(this.layerUnitNames.get(layer.name) ?? []), unit.info.name]);
      }
    }
  }

  /** Input shape of the first model input, `null` for the batch. */
  get inputShape(): (number | null)[] {
    return [...this.layersModel.inputs[0].shape];
  }

  /** Output shape of the first model output, `null` for the batch. */
  get outputShape(): (number | null)[] {
    return [...this.layersModel.outputs[0].shape];
  }

  /** Every layer that computes something (no InputLayers, nested models flattened), in execution order. */
  layers(): Layer[] {
    return [...this.layerList];
  }

  layerNames(): string[] {
    return this.layerList.map((layer) => layer.name);
  }

  units(): UnitInfo[] {
    return this.unitList.map((unit) => ({ ...unit, shape: [...unit.shape] }));
  }

  /** Layers with one input and one output of the same static shape: the ones `bypass` accepts. */
  shapePreservingLayers(): string[] {
    return this.layerList.filter((layer) => this.stepsOf(layer.name).every((step) => this.canBypass(step))).map((layer) => layer.name);
  }

  /** True when the model's output passes through a softmax (probabilities), false for logits. */
  outputIsProbability(): boolean {
    let key = this.graph.outputKeys[0];
    for (;;) {
      const produced = this.graph.producedAt.get(key) ?? -1;
      if (produced < 0) return false;
      const step = this.graph.steps[produced];
      const className = step.layer.getClassName();
      if (className === 'Softmax' || step.layer.getConfig().activation === 'softmax') return true;
      if (!PASS_THROUGH.has(className)) return false;
      key = step.inputs[0];
    }
  }

  /** A copy of a unit's stored kernel (cheap: shares memory until either changes); the caller disposes it. */
  getKernel(unit: string): tf.Tensor {
    return tf.clone(backingVariable(this.unitVariable(unit)));
  }

  /** Stores new kernel values for a unit (e.g. after pruning). The values are copied. */
  setKernel(unit: string, values: Float32Array | tf.Tensor): void {
    const variable = backingVariable(this.unitVariable(unit));
    const size = variable.size;
    if (values instanceof Float32Array) {
      if (values.length !== size) {
        throw new Error(`kernel ${unit}: expected ${size} values, received ${values.length}`);
      }
      const tensor = tf.tensor(values.slice(), variable.shape, 'float32');
      variable.assign(tensor);
      tensor.dispose();
    } else {
      variable.assign(values);
    }
  }

  forward(inputs: tf.Tensor | readonly tf.Tensor[], options: ForwardOptions = {}): tf.Tensor {
    const list = inputs instanceof tf.Tensor ? [inputs] : inputs;
    if (list.length !== this.graph.inputKeys.length) {
      throw new Error(`model takes ${this.graph.inputKeys.length} inputs, received ${list.length}`);
    }
    const seed = new Map(this.graph.inputKeys.map((key, i) => [key, list[i]]));
    return this.runToOutput(0, seed, options);
  }

  /**
   * Runs the model and keeps, for each named layer, the values needed to resume just before
   * its first call. Stops after the last of those layers' first calls.
   */
  captureInputs(inputs: tf.Tensor | readonly tf.Tensor[], layerNames: readonly string[], options: ForwardOptions = {}): Map<string, CapturedActivations> {
    const list = inputs instanceof tf.Tensor ? [inputs] : inputs;
    const seed = new Map(this.graph.inputKeys.map((key, i) => [key, list[i]]));
    const wanted = new Map<number, string[]>();
    for (const name of layerNames) {
      const boundary = this.stepIndex(name);
      wanted.set(boundary, [...(wanted.get(boundary) ?? []), name]);
    }
    const stopAt = Math.max(-1, ...wanted.keys());
    const captured = new Map<string, CapturedActivations>();
    this.validate(options);
    this.withKernels(options.kernels, () =>
      tf.tidy(() => {
        this.run(0, seed, options, stopAt + 1, (index, values) => {
          for (const name of wanted.get(index) ?? []) captured.set(name, this.snapshot(name, index, values));
        });
      }),
    );
    return captured;
  }

  /**
   * Runs from just before `layerName`'s first call to the output. `start` is either what
   * `captureInputs` kept, or the layer's input tensor(s) where nothing else is alive at that
   * point (any layer of a plain chain).
   */
  forwardFrom(layerName: string, start: CapturedActivations | tf.Tensor | readonly tf.Tensor[], options: ForwardOptions = {}): tf.Tensor {
    const boundary = this.stepIndex(layerName);
    if (!(start instanceof tf.Tensor) && 'boundary' in start) {
      if (start.boundary !== boundary) {
        throw new Error(`activations were captured before ${start.layer}, not before ${layerName}`);
      }
      return this.runToOutput(boundary, start.values, options);
    }
    const tensors = start instanceof tf.Tensor ? [start] : start;
    const step = this.graph.steps[boundary];
    const live = liveKeys(this.graph, boundary);
    const cut = new Set(step.inputs);
    if (live.length !== cut.size || live.some((key) => !cut.has(key))) {
      throw new Error(`cannot resume before ${layerName} from its inputs alone: ${live.length - cut.size} other values are alive there; use captureInputs`);
    }
    if (tensors.length !== step.inputs.length) {
      throw new Error(`${layerName} takes ${step.inputs.length} inputs, received ${tensors.length}`);
    }
    const seed = new Map<string, tf.Tensor>();
    step.inputs.forEach((key, i) => {
      if (!seed.has(key)) seed.set(key, tensors[i]);
    });
    return this.runToOutput(boundary, seed, options);
  }

  /**
   * Frees the model. `LayersModel.dispose()` skips the weights of a layer called more than
   * once (its reference count stays above zero), so those are freed here too.
   */
  dispose(): void {
    const variables = this.layerList.flatMap((layer) => layer.weights.map(backingVariable));
    this.layersModel.dispose();
    for (const variable of variables) {
      if (!variable.isDisposed) variable.dispose();
    }
  }

  private runToOutput(from: number, seed: ReadonlyMap<string, tf.Tensor>, options: ForwardOptions): tf.Tensor {
    this.validate(options);
    const external = new Set(seed.values());
    return this.withKernels(options.kernels, () =>
      tf.tidy(() => {
        const values = this.run(from, seed, options, this.graph.steps.length);
        const output = values.get(this.graph.outputKeys[0]);
        if (output === undefined) throw new Error('the model output was not computed');
        return external.has(output) ? output.clone() : output;
      }),
    );
  }

  /**
   * Executes steps [from, until) starting from `seed`; returns the values alive at the end.
   * Must run inside `tf.tidy`; frees intermediate values after their last use.
   */
  private run(
    from: number,
    seed: ReadonlyMap<string, tf.Tensor>,
    options: ForwardOptions,
    until: number,
    onBoundary?: (index: number, values: ReadonlyMap<string, tf.Tensor>) => void,
  ): Map<string, tf.Tensor> {
    const { steps, lastUse } = this.graph;
    const values = new Map<string, tf.Tensor>();
    const holders = new Map<tf.Tensor, number>();
    const external = new Set(seed.values());
    const hold = (key: string, tensor: tf.Tensor): void => {
      values.set(key, tensor);
      holders.set(tensor, (holders.get(tensor) ?? 0) + 1);
    };
    const release = (key: string): void => {
      const tensor = values.get(key);
      if (tensor === undefined) return;
      values.delete(key);
      const left = (holders.get(tensor) ?? 1) - 1;
      holders.set(tensor, left);
      if (left === 0 && !external.has(tensor)) tensor.dispose();
    };
    for (const [key, tensor] of seed) hold(key, tensor);

    for (let index = from; index < until; index++) {
      onBoundary?.(index, values);
      const step = steps[index];
      const args = step.inputs.map((key) => {
        const value = values.get(key);
        if (value === undefined) throw new Error(`value ${key} for ${step.layer.name} is missing`);
        return value;
      });
      const bypassed = options.bypass?.has(step.layer.name) ?? false;
      if (options.onUnitInput && !bypassed) {
        for (const unit of this.layerUnitNames.get(step.layer.name) ?? []) options.onUnitInput(unit, args[0]);
      }
      const outputs = bypassed ? [args[passedInput(this.graph, step)]] : toTensorList(step.layer.apply(args), step.layer.name);
      step.outputs.forEach((key, j) => hold(key, outputs[j]));
      for (const key of new Set(step.inputs)) {
        if (lastUse.get(key) === index) release(key);
      }
    }
    return values;
  }

  private snapshot(layer: string, boundary: number, values: ReadonlyMap<string, tf.Tensor>): CapturedActivations {
    const kept = new Map<string, tf.Tensor>();
    for (const key of liveKeys(this.graph, boundary)) {
      const value = values.get(key);
      if (value === undefined) throw new Error(`value ${key} is missing before ${layer}`);
      kept.set(key, tf.keep(value.clone()));
    }
    const inputs = this.graph.steps[boundary].inputs.map((key) => kept.get(key) as tf.Tensor);
    return { layer, boundary, inputs, values: kept };
  }

  /** Runs `body` with substitute kernels assigned to the variables, restoring the originals after. */
  withKernels<T>(kernels: ReadonlyMap<string, tf.Tensor> | undefined, body: () => T): T {
    if (kernels === undefined || kernels.size === 0) return body();
    const restore: [tf.Variable, tf.Tensor][] = [];
    try {
      for (const [unit, value] of kernels) {
        const variable = backingVariable(this.unitVariable(unit));
        if (!sameShape(variable.shape, value.shape) || value.dtype !== 'float32') {
          throw new Error(`kernel ${unit}: expected float32 [${variable.shape.join(', ')}], received ${value.dtype} [${value.shape.join(', ')}]`);
        }
        restore.push([variable, tf.clone(variable)]);
        variable.assign(value);
      }
      return body();
    } finally {
      for (const [variable, original] of restore.reverse()) {
        variable.assign(original);
        original.dispose();
      }
    }
  }

  private validate(options: ForwardOptions): void {
    for (const name of options.bypass ?? []) {
      for (const step of this.stepsOf(name)) {
        if (!this.canBypass(step)) {
          throw new Error(`cannot bypass ${name}: input shape [${step.inputShapes[0]?.join(', ')}] differs from output shape [${step.outputShapes[0]?.join(', ')}]`);
        }
      }
    }
    for (const unit of options.kernels?.keys() ?? []) this.unitVariable(unit);
  }

  private canBypass(step: ExecutionStep): boolean {
    return step.outputShapes.length === 1 && step.inputShapes.length >= 1 && sameShape(step.inputShapes[0], step.outputShapes[0]);
  }

  private stepsOf(layerName: string): ExecutionStep[] {
    this.stepIndex(layerName);
    return this.graph.steps.filter((step) => step.layer.name === layerName);
  }

  private stepIndex(layerName: string): number {
    const index = this.firstStep.get(layerName);
    if (index === undefined) throw new Error(`no layer named ${layerName} in ${this.layersModel.name}`);
    return index;
  }

  private unitVariable(unit: string): tf.LayerVariable {
    const variable = this.unitVariables.get(unit);
    if (variable === undefined) throw new Error(`no prunable unit named ${unit} in ${this.layersModel.name}`);
    return variable;
  }
}
