/**
 * GPT-2's byte-level alphabet: every byte maps to one printable character, so that BPE works
 * on strings; printable Latin-1 bytes map to themselves, the others to U+0100 onwards.
 */

function buildAlphabet(): string[] {
  const printable: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) printable.push(b);
  for (let b = 0xa1; b <= 0xac; b++) printable.push(b);
  for (let b = 0xae; b <= 0xff; b++) printable.push(b);
  const alphabet = new Array<string>(256);
  for (const b of printable) alphabet[b] = String.fromCharCode(b);
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    if (alphabet[b] === undefined) alphabet[b] = String.fromCharCode(256 + extra++);
  }
  return alphabet;
}

/** Byte → its character. */
export const BYTE_TO_CHAR: readonly string[] = buildAlphabet();

/** Character → its byte. */
export const CHAR_TO_BYTE: ReadonlyMap<string, number> = new Map(BYTE_TO_CHAR.map((char, byte) => [char, byte]));

const encoder = new TextEncoder();

/** The UTF-8 bytes of a string, each as its alphabet character. */
export function toByteChars(text: string): string {
  let out = '';
  for (const byte of encoder.encode(text)) out += BYTE_TO_CHAR[byte];
  return out;
}

/** Alphabet characters back to bytes; characters outside the alphabet are kept as their UTF-8 bytes. */
export function fromByteChars(text: string): Uint8Array {
  const bytes: number[] = [];
  for (const char of text) {
    const byte = CHAR_TO_BYTE.get(char);
    if (byte !== undefined) bytes.push(byte);
    else bytes.push(...encoder.encode(char));
  }
  return Uint8Array.from(bytes);
}

/** The pre-tokenizer regex of GPT-2 (and of `ByteLevel` with `use_regex`). */
export const GPT2_PATTERN = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;
