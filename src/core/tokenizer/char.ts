import { TokenizerError, isObject } from './types';
import type { Tokenizer } from './types';

/**
 * Lopper's character vocabulary (the demo LM's `char-tokenizer.json`):
 * `{"type": "char", "vocab": [token, ...], "unk_token"?: token}` — token i has id i; every token but
 * the unknown one is a single character (Unicode code point).
 */
export interface CharVocabulary {
  type: 'char';
  vocab: string[];
  unk_token?: string;
}

export const CHAR_TOKENIZER_FILE = 'char-tokenizer.json';

export function isCharVocabulary(json: unknown): json is CharVocabulary {
  return isObject(json) && json['type'] === 'char' && Array.isArray(json['vocab']);
}

/** Replaces the unknown token when decoding. */
const REPLACEMENT = '\uFFFD';

export class CharTokenizer implements Tokenizer {
  readonly kind = 'char';
  readonly vocabSize: number;
  private readonly ids = new Map<string, number>();
  private readonly unknownId: number | undefined;

  constructor(private readonly vocabulary: CharVocabulary) {
    const { vocab, unk_token: unknown } = vocabulary;
    if (!vocab.every((token) => typeof token === 'string')) throw new TokenizerError('vocab holds a token that is not a string');
    this.unknownId = unknown === undefined ? undefined : vocab.indexOf(unknown);
    if (this.unknownId === -1) throw new TokenizerError(`unk_token "${unknown}" is not in vocab`);
    vocab.forEach((token, id) => {
      if (id === this.unknownId) return;
      if ([...token].length !== 1) throw new TokenizerError(`vocab[${id}] is not one character`, 'one character', JSON.stringify(token));
      if (this.ids.has(token)) throw new TokenizerError(`vocab lists ${JSON.stringify(token)} twice`);
      this.ids.set(token, id);
    });
    this.vocabSize = vocab.length;
  }

  static fromJson(json: unknown): CharTokenizer {
    if (!isCharVocabulary(json)) throw new TokenizerError('is not a character vocabulary', '{"type": "char", "vocab": [...]}');
    return new CharTokenizer(json);
  }

  encode(text: string): number[] {
    const out: number[] = [];
    for (const char of text) {
      const id = this.ids.get(char) ?? this.unknownId;
      if (id === undefined) {
        const code = `U+${(char.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`;
        throw new TokenizerError(`character ${JSON.stringify(char)} (${code}) is not in the vocabulary, which has no unk_token`);
      }
      out.push(id);
    }
    return out;
  }

  decode(ids: readonly number[]): string {
    return ids.map((id) => (id === this.unknownId ? REPLACEMENT : (this.vocabulary.vocab[id] ?? REPLACEMENT))).join('');
  }
}
