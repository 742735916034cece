/** Text ↔ token ids for a language model (DESIGN §6 Dataset `.txt`). */
export interface Tokenizer {
  readonly kind: 'char' | 'byte-level-bpe';
  /** One more than the largest id it produces. */
  readonly vocabSize: number;
  /** Token ids of a text, with the special tokens its post-processor adds (a BOS only where it adds one). */
  encode(text: string, options?: EncodeOptions): number[];
  decode(ids: readonly number[]): string;
}

export interface EncodeOptions {
  /** Apply the post-processor's template (BOS/EOS…); true by default. */
  addSpecialTokens?: boolean;
}

/** A tokenizer file Lopper cannot use, or text it cannot encode; the message says what and why. */
export class TokenizerError extends Error {
  override name = 'TokenizerError';
  constructor(
    message: string,
    readonly expected?: string,
    readonly actual?: string,
  ) {
    super(message);
  }
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
