import type * as tf from '@tensorflow/tfjs';
import { dequantizeWeights } from './dequantize';
import { ManifestError, NoModelFoundError } from './errors';
import { sha256Hex } from './hash';
import { basename, dirname, isRecord, parseJsonBytes, stripExtension, whyNotJson } from './input-file';
import { checkLayerClasses } from './layer-classes';
import { checkWeightInputs } from './input-shapes';
import { checkLayerSizes, checkLayersTopology } from './topology-check';
import { parseModelJson } from './manifest';
import { modelJsonFilesOfKind, onlyModelJson, readModelJsonFilesOfKind } from './model-json-files';
import { readShards, resolveShards } from './shards';
import type { InputFile, MatchContext, ModelFormat, OpenedModel } from './types';

/** Display name of a model: the folder holding its model.json, else the file name without extension. */
/** The folder's name; for loose files the Keras model's own name, else the file name. */
export function modelName(modelJsonPath: string, kerasName?: unknown): string {
  const folder = basename(dirname(modelJsonPath));
  if (folder !== '') return folder;
  if (typeof kerasName === 'string' && kerasName.trim() !== '') return kerasName;
  return stripExtension(basename(modelJsonPath)) || 'model';
}

/** Opens a validated LayersModel: shards read in manifest order, every weight decoded to float32. */
export async function openLayersModel(modelFile: InputFile, files: readonly InputFile[]): Promise<OpenedModel> {
  const bytes = await modelFile.bytes();
  const json = parseJsonBytes(bytes);
  if (json === undefined) throw new ManifestError({ file: modelFile.path, ...whyNotJson(bytes), expected: 'a JSON model.json' });
  const manifest = parseModelJson(json, modelFile.path);
  checkLayerClasses(manifest.modelTopology, modelFile.path);
  checkLayersTopology(manifest.modelTopology, modelFile.path);
  const weightSpecs = manifest.weightsManifest.flatMap((group) => group.weights);
  checkLayerSizes(manifest.modelTopology, weightSpecs, modelFile.path);
  checkWeightInputs(manifest.modelTopology, weightSpecs, modelFile.path);
  const groups = resolveShards(manifest, modelFile, files);
  const stored = await readShards(modelFile, groups);
  const decoded = dequantizeWeights(
    manifest.weightsManifest.flatMap((group) => group.weights),
    stored,
  );

  const artifacts: tf.io.ModelArtifacts = {
    modelTopology: manifest.modelTopology,
    weightSpecs: decoded.specs,
    weightData: decoded.data,
    format: 'layers-model',
  };
  if (manifest.generatedBy !== undefined) artifacts.generatedBy = manifest.generatedBy;
  if (manifest.convertedBy !== undefined) artifacts.convertedBy = manifest.convertedBy;
  return {
    format: 'layers-model',
    name: modelName(modelFile.path, isRecord(manifest.modelTopology.config) ? manifest.modelTopology.config['name'] : undefined),
    artifacts,
    sha256: await sha256Hex(bytes),
    files: [modelFile.path, ...groups.flatMap((group) => group.files.map((f) => f.path))],
  };
}

export const tfjsLayersFormat: ModelFormat = {
  name: 'layers-model',
  match(files: readonly InputFile[], context?: MatchContext): boolean {
    return modelJsonFilesOfKind(files, 'layers-model', (file) => context?.json(file.path)).length > 0;
  },
  async open(files: readonly InputFile[]): Promise<OpenedModel> {
    const modelFile = onlyModelJson(await readModelJsonFilesOfKind(files, 'layers-model'));
    if (modelFile === undefined)
      throw new NoModelFoundError(
        files.map((f) => f.path),
        'a TF.js LayersModel model.json',
      );
    return openLayersModel(modelFile, files);
  },
};
