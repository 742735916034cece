import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { fixturePath } from '../../io/test-support';
import { BpeTokenizer } from './bpe';
import { BYTE_TO_CHAR } from './byte-level';
import { regexFromPattern } from './pipeline';
import { TokenizerError } from './types';

const VOCAB: Record<string, number> = {
  '<s>': 0,
  '</s>': 1,
  h: 2,
  e: 3,
  l: 4,
  o: 5,
  Ġ: 6,
  w: 7,
  r: 8,
  d: 9,
  '!': 10,
  he: 11,
  ll: 12,
  llo: 13,
  hello: 14,
  Ġw: 15,
  or: 16,
  Ġwor: 17,
  '1': 18,
  '2': 19,
};
const MERGES = ['h e', 'l l', 'll o', 'he llo', 'Ġ w', 'o r', 'Ġw or'];

function tokenizerJson(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    added_tokens: [
      { id: 0, content: '<s>', special: true },
      { id: 1, content: '</s>', special: true },
    ],
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, use_regex: true },
    post_processor: { type: 'ByteLevel' },
    decoder: { type: 'ByteLevel' },
    model: { type: 'BPE', vocab: VOCAB, merges: MERGES },
    ...overrides,
  };
}

const BOS_TEMPLATE = {
  type: 'TemplateProcessing',
  single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
  pair: [],
  special_tokens: { '<s>': { id: '<s>', ids: [0], tokens: ['<s>'] } },
};

describe('BpeTokenizer', () => {
  // "hello" → h e l l o → he l l o → he ll o → he llo → hello;
  // " world" → Ġ w o r l d → Ġw o r l d → Ġw or l d → Ġwor l d.
  it('merges by rank, piece by piece', () => {
    const tokenizer = BpeTokenizer.fromJson(tokenizerJson());
    expect(tokenizer.encode('hello world!')).toEqual([14, 17, 4, 9, 10]);
    expect(tokenizer.decode([14, 17, 4, 9, 10])).toBe('hello world!');
    expect(tokenizer.vocabSize).toBe(20);
  });

  it('accepts merges written as pairs', () => {
    const json = tokenizerJson({ model: { type: 'BPE', vocab: VOCAB, merges: MERGES.map((m) => m.split(' ')) } });
    expect(BpeTokenizer.fromJson(json).encode('hello world!')).toEqual([14, 17, 4, 9, 10]);
  });

  it('adds a BOS only where the post-processor template does', () => {
    const tokenizer = BpeTokenizer.fromJson(tokenizerJson({ post_processor: { type: 'Sequence', processors: [{ type: 'ByteLevel' }, BOS_TEMPLATE] } }));
    expect(tokenizer.encode('hello')).toEqual([0, 14]);
    expect(tokenizer.encode('hello', { addSpecialTokens: false })).toEqual([14]);
    expect(tokenizer.decode([0, 14])).toBe('<s>hello');
    expect(BpeTokenizer.fromJson(tokenizerJson({ post_processor: null })).encode('hello')).toEqual([14]);
  });

  it('wraps in cls/sep for RobertaProcessing', () => {
    const tokenizer = BpeTokenizer.fromJson(tokenizerJson({ post_processor: { type: 'RobertaProcessing', cls: ['<s>', 0], sep: ['</s>', 1] } }));
    expect(tokenizer.encode('hello')).toEqual([0, 14, 1]);
  });

  it('splits added tokens out before pre-tokenizing', () => {
    expect(BpeTokenizer.fromJson(tokenizerJson()).encode('hello</s>hello')).toEqual([14, 1, 14]);
  });

  it('honours add_prefix_space, ignore_merges and Digits', () => {
    const prefixed = BpeTokenizer.fromJson(tokenizerJson({ pre_tokenizer: { type: 'ByteLevel', add_prefix_space: true } }));
    expect(prefixed.encode('wor')).toEqual([17]);
    const whole = BpeTokenizer.fromJson(tokenizerJson({ model: { type: 'BPE', vocab: VOCAB, merges: [], ignore_merges: true } }));
    expect(whole.encode('hello llo')).toEqual([14, 6, 4, 4, 5]);
    const digits = BpeTokenizer.fromJson(
      tokenizerJson({
        pre_tokenizer: {
          type: 'Sequence',
          pretokenizers: [
            { type: 'Digits', individual_digits: true },
            { type: 'ByteLevel', use_regex: false },
          ],
        },
      }),
    );
    expect(digits.encode('12')).toEqual([18, 19]);
  });

  it('round-trips text whose bytes span several tokens', () => {
    const vocab = Object.fromEntries(BYTE_TO_CHAR.map((char, byte) => [char, byte]));
    const tokenizer = BpeTokenizer.fromJson(tokenizerJson({ added_tokens: [], model: { type: 'BPE', vocab, merges: [] } }));
    for (const text of ['Ümlaut café — 🐋 ahoy!\n\ttabs', '']) expect(tokenizer.decode(tokenizer.encode(text))).toBe(text);
  });

  it('says which piece has no token', () => {
    expect(() => BpeTokenizer.fromJson(tokenizerJson()).encode('hz')).toThrow('no token for "z" and no unk_token');
  });

  it.each([
    ['a SentencePiece-style BPE', { model: { type: 'BPE', vocab: VOCAB, merges: [], byte_fallback: true } }, /byte_fallback/],
    ['a WordPiece model', { model: { type: 'WordPiece', vocab: VOCAB } }, 'model is not BPE'],
    ['a Metaspace pre-tokenizer', { pre_tokenizer: { type: 'Metaspace' } }, /pre_tokenizer Metaspace is not supported/],
    ['no byte-level step', { pre_tokenizer: { type: 'Digits' } }, /not a byte-level BPE/],
    ['an unknown normalizer', { normalizer: { type: 'Prepend', prepend: '▁' } }, /normalizer Prepend is not supported/],
    ['a template naming an unknown special token', { post_processor: { ...BOS_TEMPLATE, special_tokens: {} } }, /special_tokens gives no ids/],
  ])('rejects %s', (_, overrides, message) => {
    expect(() => BpeTokenizer.fromJson(tokenizerJson(overrides))).toThrow(TokenizerError);
    expect(() => BpeTokenizer.fromJson(tokenizerJson(overrides))).toThrow(message);
  });

  it('gives the ids the reference script computed for the GPT-2 fixture', async () => {
    const read = async (file: string): Promise<unknown> => JSON.parse(await readFile(fixturePath(`hf-gpt2-tiny/${file}`), 'utf8'));
    const tokenizer = BpeTokenizer.fromJson(await read('tokenizer.json'));
    const { tokenizer: sample } = (await read('reference.json')) as { tokenizer: { text: string; ids: number[] } };
    expect(tokenizer.encode(sample.text)).toEqual(sample.ids);
    expect(tokenizer.decode(sample.ids)).toBe(sample.text);
  });
});

describe('regexFromPattern', () => {
  const QWEN2 = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

  it('runs the Qwen2 / LLaMA 3 split pattern, case-insensitive group included', () => {
    const pieces = [..."Hello'S 123 world\n\n".matchAll(regexFromPattern(QWEN2))].map((m) => m[0]);
    expect(pieces).toEqual(['Hello', "'S", ' ', '1', '2', '3', ' world', '\n\n']);
  });

  it('splits with a Split pre-tokenizer in the pipeline', () => {
    const json = tokenizerJson({
      pre_tokenizer: {
        type: 'Sequence',
        pretokenizers: [
          { type: 'Split', pattern: { Regex: QWEN2 }, behavior: 'Isolated', invert: false },
          { type: 'ByteLevel', add_prefix_space: false, use_regex: false },
        ],
      },
    });
    expect(BpeTokenizer.fromJson(json).encode('hello world!')).toEqual([14, 17, 4, 9, 10]);
  });
});
