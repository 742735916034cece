import { inputFileFromBytes } from './input-file';
import { filesFromPath } from './node-files';
import type { InputFile } from './types';

/** Absolute path of a committed fixture under e2e/fixtures/. */
export function fixturePath(name: string): string {
  return decodeURIComponent(new URL(`../../e2e/fixtures/${name}`, import.meta.url).pathname);
}

/** The InputFiles of a fixture folder or file, as the command line would read them. */
export function fixtureFiles(name: string): Promise<InputFile[]> {
  return filesFromPath(fixturePath(name));
}

/** In-memory files: strings and plain values (JSON-encoded) become UTF-8 bytes. */
export function memoryFiles(entries: Record<string, Uint8Array | string | object>): InputFile[] {
  const encoder = new TextEncoder();
  return Object.entries(entries).map(([path, content]) => {
    if (content instanceof Uint8Array) return inputFileFromBytes(path, content);
    return inputFileFromBytes(path, encoder.encode(typeof content === 'string' ? content : JSON.stringify(content)));
  });
}

/** A minimal valid LayersModel model.json: one Dense layer 2→1 (kernel [2,1] + bias [1] = 12 bytes). */
export function denseModelJson(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    format: 'layers-model',
    generatedBy: 'test',
    convertedBy: null,
    modelTopology: {
      class_name: 'Sequential',
      config: {
        name: 'tiny',
        layers: [{ class_name: 'Dense', config: { name: 'dense', units: 1, batch_input_shape: [null, 2], use_bias: true, activation: 'linear' } }],
      },
      keras_version: 'tfjs-layers 4.22.0',
      backend: 'tensor_flow.js',
    },
    weightsManifest: [
      {
        paths: ['group1-shard1of1.bin'],
        weights: [
          { name: 'dense/kernel', shape: [2, 1], dtype: 'float32' },
          { name: 'dense/bias', shape: [1], dtype: 'float32' },
        ],
      },
    ],
    ...overrides,
  };
}

/** Little-endian float32 bytes. */
export function float32Bytes(values: readonly number[]): Uint8Array {
  return new Uint8Array(Float32Array.from(values).buffer);
}
