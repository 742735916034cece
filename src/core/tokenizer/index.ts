import { BpeTokenizer } from './bpe';
import { CharTokenizer, isCharVocabulary } from './char';
import type { Tokenizer } from './types';

export { BpeTokenizer } from './bpe';
export { CharTokenizer, CHAR_TOKENIZER_FILE, isCharVocabulary, type CharVocabulary } from './char';
export { BYTE_TO_CHAR, CHAR_TO_BYTE, toByteChars, fromByteChars } from './byte-level';
export { TokenizerError, type Tokenizer, type EncodeOptions } from './types';

export const HF_TOKENIZER_FILE = 'tokenizer.json';

/** A tokenizer from a parsed file: Lopper's character vocabulary, or a Hugging Face `tokenizer.json`. */
export function createTokenizer(json: unknown): Tokenizer {
  return isCharVocabulary(json) ? CharTokenizer.fromJson(json) : BpeTokenizer.fromJson(json);
}
