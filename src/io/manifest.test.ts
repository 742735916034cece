import { describe, expect, it } from 'vitest';
import { LopperInputError, ManifestError, UnsupportedDtypeError, UnsupportedFormatError } from './errors';
import { modelJsonKind, parseModelJson, storedByteLength } from './manifest';
import { denseModelJson } from './test-support';

function withWeights(weights: unknown[]): Record<string, unknown> {
  return denseModelJson({ weightsManifest: [{ paths: ['group1-shard1of1.bin'], weights }] });
}

describe('parseModelJson', () => {
  it('accepts a layers-model and keeps its metadata', () => {
    const parsed = parseModelJson(denseModelJson({ userDefinedMetadata: { task: 'x' } }), 'model.json');
    expect(parsed.format).toBe('layers-model');
    expect(parsed.legacy).toBe(false);
    expect(parsed.modelTopology.class_name).toBe('Sequential');
    expect(parsed.modelTopology.keras_version).toBe('tfjs-layers 4.22.0');
    expect(parsed.generatedBy).toBe('test');
    expect(parsed.convertedBy).toBeNull();
    expect(parsed.userDefinedMetadata).toEqual({ task: 'x' });
    expect(parsed.weightsManifest[0]?.weights.map((w) => w.name)).toEqual(['dense/kernel', 'dense/bias']);
  });

  it('normalises a legacy Keras export to its model_config', () => {
    const model = denseModelJson();
    const topology = model['modelTopology'] as Record<string, unknown>;
    const legacy = {
      modelTopology: {
        keras_version: '2.2.4',
        backend: 'tensorflow',
        model_config: { class_name: topology['class_name'], config: topology['config'] },
        training_config: { loss: 'mse' },
      },
      weightsManifest: model['weightsManifest'],
    };
    expect(modelJsonKind(legacy)).toBe('layers-model');
    const parsed = parseModelJson(legacy, 'old/model.json');
    expect(parsed.legacy).toBe(true);
    expect(parsed.modelTopology).toEqual({ class_name: 'Sequential', config: topology['config'], keras_version: '2.2.4', backend: 'tensorflow' });
    expect(parsed.trainingConfig).toEqual({ loss: 'mse' });
  });

  it('recognises a GraphModel and leaves it to the GraphModel reader', () => {
    const graph = { format: 'graph-model', modelTopology: { node: [] }, weightsManifest: [] };
    expect(modelJsonKind(graph)).toBe('graph-model');
    expect(modelJsonKind({ modelTopology: { node: [] }, weightsManifest: [] })).toBe('graph-model');
    expect(() => parseModelJson(graph, 'g/model.json')).toThrow(UnsupportedFormatError);
    expect(() => parseModelJson(graph, 'g/model.json')).toThrow(
      /^g\/model\.json: is a TF\.js GraphModel, not a LayersModel; .*\(expected format "layers-model", got format "graph-model"\)$/,
    );
  });

  it('names what is missing in a broken file', () => {
    expect(() => parseModelJson([1, 2], 'model.json')).toThrow(/model\.json: is not a JSON object \(expected a model\.json object, got a list\)/);
    expect(() => parseModelJson({ format: 'layers-model', weightsManifest: [] }, 'model.json')).toThrow(/has no modelTopology/);
    expect(() => parseModelJson({ format: 'other', modelTopology: {} }, 'model.json')).toThrow(/is not a TF\.js LayersModel.*got format "other"/);
    expect(() => parseModelJson(denseModelJson({ weightsManifest: undefined }), 'model.json')).toThrow(ManifestError);
    expect(() => parseModelJson({ format: 'layers-model', modelTopology: { keras_version: '2' }, weightsManifest: [] }, 'model.json')).toThrow(
      /modelTopology has no Keras model config/,
    );
  });

  it('rejects malformed weight entries', () => {
    expect(() => parseModelJson(withWeights([{ name: 'w', shape: [2, -1], dtype: 'float32' }]), 'model.json')).toThrow(
      /weight "w" has an invalid shape \(expected a list of non-negative integers, got \[2,-1\]\)/,
    );
    expect(() => parseModelJson(withWeights([{ name: 'w', shape: [65536, 32768], dtype: 'float32' }]), 'model.json')).toThrow(
      'model.json: weight "w" has shape [65536, 32768], more elements than one weight can hold (expected at most 2147483647 elements, got 2147483648)',
    );
    expect(() => parseModelJson(withWeights([{ shape: [2], dtype: 'float32' }]), 'model.json')).toThrow(/entry without a name/);
    expect(() =>
      parseModelJson(
        withWeights([
          { name: 'w', shape: [1], dtype: 'float32' },
          { name: 'w', shape: [1], dtype: 'float32' },
        ]),
        'model.json',
      ),
    ).toThrow(/"w" is listed twice/);
  });

  it('throws UnsupportedDtypeError naming the weight', () => {
    const attempt = (weights: unknown[]): unknown => {
      try {
        parseModelJson(withWeights(weights), 'm/model.json');
      } catch (error) {
        return error;
      }
      return undefined;
    };
    const stringWeight = attempt([{ name: 'vocab', shape: [3], dtype: 'string' }]);
    expect(stringWeight).toBeInstanceOf(UnsupportedDtypeError);
    expect(stringWeight).toBeInstanceOf(LopperInputError);
    expect((stringWeight as UnsupportedDtypeError).message).toBe('m/model.json: weight "vocab" has an unsupported dtype (expected float32, int32 or bool, got string)');
    expect((stringWeight as UnsupportedDtypeError).weight).toBe('vocab');
    expect((stringWeight as UnsupportedDtypeError).file).toBe('m/model.json');

    expect(attempt([{ name: 'k', shape: [3], dtype: 'float32', quantization: { dtype: 'int4', scale: 1, min: 0 } }])).toBeInstanceOf(UnsupportedDtypeError);
    expect(String(attempt([{ name: 'k', shape: [3], dtype: 'float32', quantization: { dtype: 'uint8' } }]))).toMatch(/"k" is uint8-quantized without a numeric scale and min/);
    expect(String(attempt([{ name: 'i', shape: [3], dtype: 'int32', quantization: { dtype: 'float16' } }]))).toMatch(/"i" is float16-quantized but not a float32 weight/);
    expect(String(attempt([{ name: 'b', shape: [3], dtype: 'bool', quantization: { dtype: 'uint8', scale: 1, min: 0 } }]))).toMatch(/"b" is a bool weight quantized/);
  });
});

describe('storedByteLength', () => {
  it('counts the stored dtype, quantized or not', () => {
    expect(storedByteLength({ name: 'a', shape: [3, 4], dtype: 'float32' })).toBe(48);
    expect(storedByteLength({ name: 'a', shape: [3, 4], dtype: 'float32', quantization: { dtype: 'uint8', scale: 1, min: 0 } })).toBe(12);
    expect(storedByteLength({ name: 'a', shape: [3, 4], dtype: 'float32', quantization: { dtype: 'float16' } })).toBe(24);
    expect(storedByteLength({ name: 'a', shape: [5], dtype: 'bool' })).toBe(5);
    expect(storedByteLength({ name: 'a', shape: [], dtype: 'int32' })).toBe(4);
  });
});
