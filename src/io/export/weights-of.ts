import type * as tf from '@tensorflow/tfjs';
import { ExportError, type WeightValues } from './tfjs-layers-writer';

/**
 * The current values of every weight of a LayersModel (or of anything that holds one, such as
 * a PrunableModel), by the name its manifest entry has (`originalName`, e.g. `conv1/kernel`),
 * in `model.weights` order — the order `LayersModel.save` writes. Values are copies.
 */
export async function weightsOf(model: tf.LayersModel | { readonly layersModel: tf.LayersModel }): Promise<Map<string, WeightValues>> {
  const layersModel = 'layersModel' in model ? model.layersModel : model;
  const weights = new Map<string, WeightValues>();
  for (const variable of layersModel.weights) {
    const name = variable.originalName;
    if (weights.has(name)) throw new ExportError(`two weights of ${layersModel.name} are named "${name}"`);
    const data = await variable.read().data();
    if (!(data instanceof Float32Array || data instanceof Int32Array || data instanceof Uint8Array)) {
      throw new ExportError(`weight "${name}" has dtype ${variable.dtype}, which a LayersModel export cannot hold`);
    }
    weights.set(name, { shape: variable.shape.map((d) => d ?? 0), values: data.slice() });
  }
  return weights;
}
