import { createTokenizer, type Tokenizer } from '../core/tokenizer';
import { LopperInputError } from './errors';
import { basename } from './input-file';

/**
 * A `.txt` for a language model as token ids (the tokenizer, or its parsed file as `{json}`), the same in the page and the CLI: read as UTF-8 with
 * the model's tokenizer; a text of fewer than 2 tokens has nothing to score and is refused. Errors
 * name the file by its name, as a dataset file is named in both hosts.
 */
export function tokenizeText(path: string, bytes: Uint8Array, tokenizer: Tokenizer | { json: unknown }): Int32Array {
  const text = new TextDecoder('utf-8', { fatal: false }).decode(bytes);
  const encoder = 'encode' in tokenizer ? tokenizer : createTokenizer(tokenizer.json);
  const ids = Int32Array.from(encoder.encode(text));
  if (ids.length < 2) throw new LopperInputError({ file: basename(path), message: 'is too short to score', expected: 'at least 2 tokens', actual: `${ids.length}` });
  return ids;
}
