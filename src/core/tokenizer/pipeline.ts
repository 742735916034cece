import { GPT2_PATTERN, toByteChars } from './byte-level';
import { TokenizerError, isObject } from './types';

/**
 * The normalizer and pre-tokenizer of a `tokenizer.json`, for the byte-level BPE tokenizers of
 * GPT-2, SmolLM, Qwen2 and LLaMA 3. A pre-tokenizer turns one piece of text into several.
 */

export type Normalizer = (text: string) => string;
export type PreTokenizer = (piece: string) => string[];

function typeOf(json: Record<string, unknown>): string {
  return typeof json['type'] === 'string' ? json['type'] : '(no type)';
}

function list(json: Record<string, unknown>, field: string, where: string): unknown[] {
  const value = json[field];
  if (!Array.isArray(value)) throw new TokenizerError(`${where}.${field} is not a list`);
  return value;
}

export function buildNormalizer(json: unknown): Normalizer {
  if (json === null || json === undefined) return (text) => text;
  if (!isObject(json)) throw new TokenizerError('normalizer is not an object');
  const type = typeOf(json);
  switch (type) {
    case 'NFC':
    case 'NFD':
    case 'NFKC':
    case 'NFKD':
      return (text) => text.normalize(type);
    case 'Lowercase':
      return (text) => text.toLowerCase();
    case 'Sequence': {
      const steps = list(json, 'normalizers', 'normalizer').map(buildNormalizer);
      return (text) => steps.reduce((acc, step) => step(acc), text);
    }
    default:
      throw new TokenizerError(`normalizer ${type} is not supported`, 'none, NFC, NFD, NFKC, NFKD, Lowercase or a Sequence of them', type);
  }
}

/**
 * A pattern of the Rust `tokenizers` (Oniguruma) as a JS regex: `(?i:…)` groups, which JS engines
 * before ES2025 lack, become groups whose letters match both cases.
 */
export function regexFromPattern(pattern: string): RegExp {
  const converted = pattern.replace(/\(\?i:((?:\\.|[^()\\])*)\)/g, (_, body: string) => {
    let out = '';
    for (let i = 0; i < body.length; i++) {
      const char = body[i];
      if (char === '\\') {
        out += body.slice(i, i + 2);
        i++;
      } else if (/[a-zA-Z]/.test(char)) out += `[${char.toLowerCase()}${char.toUpperCase()}]`;
      else out += char;
    }
    return `(?:${out})`;
  });
  try {
    return new RegExp(converted, 'gu');
  } catch (error) {
    throw new TokenizerError(`pre_tokenizer pattern ${JSON.stringify(pattern)} is not a regex JavaScript can run (${(error as Error).message})`);
  }
}

/** The pieces of `text` between and including the matches of `pattern` (non-empty ones, in order). */
function splitIsolated(text: string, pattern: RegExp, keepMatches = true): string[] {
  const pieces: string[] = [];
  let last = 0;
  pattern.lastIndex = 0;
  for (const match of text.matchAll(pattern)) {
    const start = match.index ?? 0;
    if (match[0].length === 0) continue;
    if (start > last) pieces.push(text.slice(last, start));
    if (keepMatches) pieces.push(match[0]);
    last = start + match[0].length;
  }
  if (last < text.length) pieces.push(text.slice(last));
  return pieces;
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function splitPreTokenizer(json: Record<string, unknown>): PreTokenizer {
  const pattern = json['pattern'];
  let regex: RegExp;
  if (isObject(pattern) && typeof pattern['Regex'] === 'string') regex = regexFromPattern(pattern['Regex']);
  else if (isObject(pattern) && typeof pattern['String'] === 'string') regex = new RegExp(escapeRegex(pattern['String']), 'gu');
  else throw new TokenizerError('pre_tokenizer Split has no Regex or String pattern');
  if (json['invert'] === true) throw new TokenizerError('pre_tokenizer Split with invert: true is not supported');
  const behavior = json['behavior'];
  if (behavior !== 'Isolated' && behavior !== 'Removed') {
    throw new TokenizerError('pre_tokenizer Split behavior is not supported', 'Isolated or Removed', String(behavior));
  }
  return (piece) => splitIsolated(piece, regex, behavior === 'Isolated');
}

export interface PreTokenizerPipeline {
  split: PreTokenizer;
  /** Whether a ByteLevel step maps the pieces to byte characters. */
  byteLevel: boolean;
}

export function buildPreTokenizer(json: unknown): PreTokenizerPipeline {
  if (!isObject(json)) throw new TokenizerError('pre_tokenizer is missing', 'a ByteLevel pre-tokenizer (byte-level BPE)');
  const type = typeOf(json);
  switch (type) {
    case 'ByteLevel': {
      const prefix = json['add_prefix_space'] === true;
      const useRegex = json['use_regex'] !== false;
      return {
        byteLevel: true,
        split: (piece) => {
          const text = prefix && !piece.startsWith(' ') ? ` ${piece}` : piece;
          return (useRegex ? splitIsolated(text, GPT2_PATTERN) : [text]).map(toByteChars);
        },
      };
    }
    case 'Split':
      return { byteLevel: false, split: splitPreTokenizer(json) };
    case 'Digits': {
      const regex = json['individual_digits'] === true ? /\p{N}/gu : /\p{N}+/gu;
      return { byteLevel: false, split: (piece) => splitIsolated(piece, regex) };
    }
    case 'Sequence': {
      const steps = list(json, 'pretokenizers', 'pre_tokenizer').map(buildPreTokenizer);
      return {
        byteLevel: steps.some((step) => step.byteLevel),
        split: (piece) => steps.reduce<string[]>((pieces, step) => pieces.flatMap(step.split), [piece]),
      };
    }
    default:
      throw new TokenizerError(`pre_tokenizer ${type} is not supported (Lopper reads byte-level BPE tokenizers)`, 'ByteLevel, Split, Digits or a Sequence of them', type);
  }
}
