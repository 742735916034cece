/**
 * Errors a user can act on: each names the file it is about and, where it applies,
 * what was expected and what was found. Messages are one line.
 */

export interface Mismatch {
  expected?: string;
  actual?: string;
}

/** ` (expected E, got A)`, ` (expected E)`, ` (got: A)` or nothing. */
export function describeMismatch({ expected, actual }: Mismatch): string {
  if (expected !== undefined && actual !== undefined) return ` (expected ${expected}, got ${actual})`;
  if (expected !== undefined) return ` (expected ${expected})`;
  if (actual !== undefined) return ` (got: ${actual})`;
  return '';
}

/** A list of names for a message, shortened after `max` entries. */
export function listForMessage(names: readonly string[], max = 8): string {
  if (names.length === 0) return 'nothing';
  if (names.length <= max) return names.join(', ');
  return `${names.slice(0, max).join(', ')} and ${names.length - max} more`;
}

export interface InputErrorDetails extends Mismatch {
  /** The file the error is about (its path in the drop), or `drop` for the drop as a whole. */
  file: string;
  /** What is wrong, as it reads after `<file>: `. */
  message: string;
  /** Set when `message` already says what was expected and found, so it is not appended again. */
  mismatchInMessage?: boolean;
}

/** `<file>: <message> (expected E, got A)` — the base of every error a user can act on. */
export class LopperInputError extends Error {
  override name = 'LopperInputError';
  readonly file: string;
  readonly expected?: string;
  readonly actual?: string;

  constructor({ file, message, expected, actual, mismatchInMessage = false }: InputErrorDetails) {
    super(`${file}: ${message}${mismatchInMessage ? '' : describeMismatch({ expected, actual })}`);
    this.file = file;
    if (expected !== undefined) this.expected = expected;
    if (actual !== undefined) this.actual = actual;
  }
}

/** model.json is not valid JSON or does not have the structure of a TF.js model. */
export class ManifestError extends LopperInputError {
  override name = 'ManifestError';
}

/** A recognised model format that Lopper cannot open (yet), e.g. a TF.js GraphModel. */
export class UnsupportedFormatError extends LopperInputError {
  override name = 'UnsupportedFormatError';
}

export class MissingShardError extends LopperInputError {
  override name = 'MissingShardError';
  readonly shard: string;

  constructor(file: string, shard: string, seen: readonly string[]) {
    super({
      file,
      message: `weightsManifest lists "${shard}" but no such file was dropped (got: ${listForMessage(seen)})`,
      expected: shard,
      actual: seen.join(', '),
      mismatchInMessage: true,
    });
    this.shard = shard;
  }
}

export class ExtraShardError extends LopperInputError {
  override name = 'ExtraShardError';
  readonly shards: string[];

  constructor(file: string, extra: readonly string[], listed: readonly string[]) {
    const what = extra.length === 1 ? `"${extra[0]}" looks like a weight shard` : `${listForMessage(extra.map((e) => `"${e}"`))} look like weight shards`;
    super({
      file,
      message: `${what} but weightsManifest does not list ${extra.length === 1 ? 'it' : 'them'} (expected only: ${listForMessage(listed)})`,
      expected: listed.join(', '),
      actual: extra.join(', '),
      mismatchInMessage: true,
    });
    this.shards = [...extra];
  }
}

export class ShardSizeError extends LopperInputError {
  override name = 'ShardSizeError';
  readonly expectedBytes: number;
  readonly actualBytes: number;

  constructor(file: string, shards: readonly string[], expectedBytes: number, actualBytes: number) {
    const which = shards.length === 1 ? `shard "${shards[0]}" holds` : `shards ${listForMessage(shards)} hold`;
    super({
      file,
      message: `${which} ${actualBytes} bytes but the weights listed for ${shards.length === 1 ? 'it' : 'them'} need ${expectedBytes}`,
      expected: `${expectedBytes} bytes`,
      actual: `${actualBytes} bytes`,
    });
    this.expectedBytes = expectedBytes;
    this.actualBytes = actualBytes;
  }
}

export class UnsupportedDtypeError extends LopperInputError {
  override name = 'UnsupportedDtypeError';
  readonly weight: string;

  constructor(file: string, weight: string, problem: string, mismatch: Mismatch) {
    super({ file, message: `weight "${weight}" ${problem}`, ...mismatch });
    this.weight = weight;
  }
}

export class UnsupportedLayerError extends LopperInputError {
  override name = 'UnsupportedLayerError';
  readonly className: string;
  readonly layerName: string;

  constructor(file: string, className: string, layerName: string) {
    super({
      file,
      message: `layer "${layerName}" is a ${className}, which TensorFlow.js layers cannot build (expected a built-in Keras layer class, got "${className}")`,
      expected: 'a built-in Keras layer class',
      actual: className,
      mismatchInMessage: true,
    });
    this.className = className;
    this.layerName = layerName;
  }
}

/** A GraphModel node whose op tfjs-converter cannot execute. */
export class UnsupportedOpError extends LopperInputError {
  override name = 'UnsupportedOpError';
  readonly op: string;
  readonly node: string;

  constructor(file: string, op: string, node: string, where = 'node') {
    super({
      file,
      message: `${where} "${node}" is a ${op}, which TensorFlow.js cannot execute (expected an op tfjs-converter registers, got "${op}")`,
      expected: 'an op tfjs-converter registers',
      actual: op,
      mismatchInMessage: true,
    });
    this.op = op;
    this.node = node;
  }
}

export class DatasetError extends LopperInputError {
  override name = 'DatasetError';
}

export class NoModelFoundError extends LopperInputError {
  override name = 'NoModelFoundError';
  readonly seen: string[];

  constructor(seen: readonly string[], expected = 'a TF.js model.json with its weight shards, or a .zip holding one') {
    super({
      file: 'drop',
      message: `no model found: expected ${expected} (got: ${listForMessage(seen, 12)})`,
      expected,
      actual: seen.join(', '),
      mismatchInMessage: true,
    });
    this.seen = [...seen];
  }
}

export class ArchiveError extends LopperInputError {
  override name = 'ArchiveError';
}
