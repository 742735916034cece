import * as tf from '@tensorflow/tfjs';
import { feeds } from '../model/graph';
import type { PrunableModel } from '../model/runtime';

/** A removal candidate of a LayersModel, named by the Keras layer name of what is bypassed (DESIGN §6). */
export type LayerCandidate =
  /** A layer whose input and output shapes are equal: removing it passes its input on. */
  | { kind: 'layer'; name: string }
  /**
   * The residual branch that feeds an `Add` whose other input is the skip path; named by the
   * `Add` layer. Removing it makes the `Add` pass the skip value on alone.
   */
  | { kind: 'branch'; name: string; step: number; skip: number };

/** Layers that compute nothing at inference: removing them changes nothing, so they are no candidates. */
const INFERENCE_NO_OPS = new Set(['Dropout', 'SpatialDropout1D', 'SpatialDropout2D', 'GaussianNoise', 'GaussianDropout', 'AlphaDropout']);

function isSoftmax(layer: tf.layers.Layer): boolean {
  const config = layer.getConfig();
  return layer.getClassName() === 'Softmax' || config['activation'] === 'softmax';
}

/**
 * The removal candidates of a LayersModel in execution order: every residual branch (the input of a
 * two-input `Add` called once whose other input feeds it, i.e. is the skip path) and every layer
 * with one input and an output of the same shape, except layers that do nothing at inference
 * (dropout, noise) and softmax layers (removing the output softmax changes what the outputs are).
 */
export function layerRemovalCandidates(model: PrunableModel): LayerCandidate[] {
  const { steps } = model.graph;
  const calls = new Map<string, number>();
  for (const step of steps) calls.set(step.layer.name, (calls.get(step.layer.name) ?? 0) + 1);
  const preserving = new Set(model.shapePreservingLayers());
  const out: LayerCandidate[] = [];
  const listed = new Set<string>();
  steps.forEach((step, index) => {
    const { layer } = step;
    if (listed.has(layer.name)) return;
    if (layer.getClassName() === 'Add') {
      if (calls.get(layer.name) !== 1 || step.inputs.length !== 2 || step.inputs[0] === step.inputs[1]) return;
      const skip = [0, 1].find((i) => feeds(model.graph, step.inputs[i], step.inputs[1 - i]));
      if (skip !== undefined) out.push({ kind: 'branch', name: layer.name, step: index, skip });
    } else if (step.inputs.length === 1 && preserving.has(layer.name) && !INFERENCE_NO_OPS.has(layer.getClassName()) && !isSoftmax(layer)) {
      out.push({ kind: 'layer', name: layer.name });
    } else {
      return;
    }
    listed.add(layer.name);
  });
  return out;
}

/**
 * Runs the model with candidates removed: a removed layer passes its input on, a removed branch's
 * `Add` passes its skip input on, and steps whose values are no longer needed are not run.
 * Returns the first model output; the caller disposes it.
 */
export function forwardWithRemovals(
  model: PrunableModel,
  input: tf.Tensor,
  removed: ReadonlySet<string>,
  candidates: readonly LayerCandidate[] = layerRemovalCandidates(model),
): tf.Tensor {
  const { graph } = model;
  if (graph.inputKeys.length !== 1) throw new Error(`layer removal supports models with one input; this one takes ${graph.inputKeys.length}`);
  const byName = new Map(candidates.map((c) => [c.name, c]));
  for (const name of removed) {
    if (!byName.has(name)) throw new Error(`cannot remove ${name}: not a removal candidate of this model (expected one of ${[...byName.keys()].join(', ')})`);
  }
  /** Step index → the one input a removal lets through. */
  const passes = new Map<number, number>();
  graph.steps.forEach((step, index) => {
    const candidate = byName.get(step.layer.name);
    if (candidate === undefined || !removed.has(candidate.name)) return;
    passes.set(index, candidate.kind === 'branch' ? candidate.skip : 0);
  });
  const argsOf = (index: number): readonly string[] => {
    const through = passes.get(index);
    return through === undefined ? graph.steps[index].inputs : [graph.steps[index].inputs[through]];
  };

  const outputKey = graph.outputKeys[0];
  const needed = new Set([outputKey]);
  const run: number[] = [];
  for (let index = graph.steps.length - 1; index >= 0; index--) {
    if (!graph.steps[index].outputs.some((key) => needed.has(key))) continue;
    run.push(index);
    for (const key of argsOf(index)) needed.add(key);
  }
  run.reverse();
  const lastUse = new Map<string, number>();
  for (const index of run) for (const key of argsOf(index)) lastUse.set(key, index);

  return tf.tidy(() => {
    const values = new Map<string, tf.Tensor>([[graph.inputKeys[0], input]]);
    const holders = new Map<tf.Tensor, number>([[input, 1]]);
    const hold = (key: string, tensor: tf.Tensor): void => {
      values.set(key, tensor);
      holders.set(tensor, (holders.get(tensor) ?? 0) + 1);
    };
    for (const index of run) {
      const step = graph.steps[index];
      const args = argsOf(index).map((key) => {
        const value = values.get(key);
        if (value === undefined) throw new Error(`value ${key} for ${step.layer.name} is missing`);
        return value;
      });
      const produced = passes.has(index) ? [args[0]] : step.layer.apply(args);
      const list = Array.isArray(produced) ? produced : [produced];
      step.outputs.forEach((key, j) => {
        const tensor = list[j];
        if (!(tensor instanceof tf.Tensor)) throw new Error(`layer ${step.layer.name} returned a symbolic tensor on an eager call`);
        hold(key, tensor);
      });
      for (const key of new Set(argsOf(index))) {
        if (lastUse.get(key) !== index || key === outputKey) continue;
        const tensor = values.get(key) as tf.Tensor;
        values.delete(key);
        const left = (holders.get(tensor) ?? 1) - 1;
        holders.set(tensor, left);
        if (left === 0 && tensor !== input) tensor.dispose();
      }
    }
    const output = values.get(outputKey);
    if (output === undefined) throw new Error('the model output was not computed');
    return output === input ? output.clone() : output;
  });
}
