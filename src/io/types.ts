import type * as tf from '@tensorflow/tfjs';
import type { TransformerConfig } from '../core/transformer/config';
import type { NamedTensor } from '../core/transformer/parameters';

/** A file handed to a format reader, independent of where it came from (browser File, zip entry, disk). */
export interface InputFile {
  /** Path relative to the drop/folder root, with `/` separators, e.g. `my-model/model.json`. */
  readonly path: string;
  readonly size: number;
  bytes(): Promise<Uint8Array>;
  /**
   * Bytes `begin…end` read now from where the file lives, without reading the rest (a file on disk).
   * Absent where reads are asynchronous only (a browser File, a zip entry): readers then take `bytes()`.
   * Throws when the file changed since it was listed.
   */
  readRangeSync?(begin: number, end: number): Uint8Array;
}

export type ModelFormatName = 'layers-model' | 'graph-model' | 'hf-transformer';

/** What a format reader produces: everything needed to build a runtime model, with float32 weights. */
export interface OpenedModel {
  format: ModelFormatName;
  /** Display name: the folder name, or the file name without extension. */
  name: string;
  /** tfjs artifacts with every weight decoded to float32 (quantization removed). */
  artifacts: tf.io.ModelArtifacts;
  /** Hex SHA-256 of the model.json (or config.json) bytes. */
  sha256: string;
  /**
   * Hex SHA-256 of the weights as opened (`weightsDigest` in hash.ts), what a recipe replays onto;
   * `openModel` sets it for every format, a format's own `open` need not.
   */
  weightsSha256?: string;
  /** The files that were used, in manifest order. */
  files: string[];
  /** A Hugging Face transformer (`format: 'hf-transformer'`); its `artifacts` then hold no model. */
  transformer?: TransformerPayload;
}

/** What an `hf-transformer` reader produces: the normalised config and every weight, decoded to float32 when read. */
export interface TransformerPayload {
  config: TransformerConfig;
  /**
   * Parameter name (canonical: `transformer.…` / `model.…`, as in DESIGN §6) → checkpoint-layout values.
   * Each `values` read decodes the tensor from its file again (a view on held bytes where it can):
   * nothing decoded is kept here, so read it once and hold the array while it is needed.
   */
  tensors: Map<string, NamedTensor>;
  /** The parsed tokenizer file beside config.json (`tokenizer.json` or Lopper's `char-tokenizer.json`); build it with `createTokenizer`. */
  tokenizer?: { file: string; json: unknown };
  /** config.json as it was read: an export writes it back with only the layer count and Lopper's metadata changed. */
  configJson?: unknown;
}

/** What the opener has read before asking formats to match, so `match` can look inside small files. */
export interface MatchContext {
  /** The parsed JSON of the `.json` file at `path`; `undefined` when it is not JSON or was not read. */
  json(path: string): unknown;
}

/** A model format module: finds its files in a set and opens them. */
export interface ModelFormat {
  readonly name: ModelFormatName;
  /** Cheap check on names (and, given a context, on parsed JSON); `open` does the full validation. */
  match(files: readonly InputFile[], context?: MatchContext): boolean;
  open(files: readonly InputFile[]): Promise<OpenedModel>;
}

/** A labelled (or unlabelled) dataset as in DESIGN §6, decoded. */
export interface Dataset {
  /** File name it came from, or `synthetic`. */
  source: string;
  inputs: Float32Array;
  /** [N, ...inputShape] */
  shape: number[];
  labels?: Int32Array;
  /** Hex SHA-256 of the file's bytes, or `synthetic:<seed>:<samples>`. */
  hash: string;
}
