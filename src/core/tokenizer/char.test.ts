import { describe, expect, it } from 'vitest';
import { CharTokenizer } from './char';
import { createTokenizer } from './index';

describe('CharTokenizer', () => {
  const tokenizer = CharTokenizer.fromJson({ type: 'char', unk_token: '<unk>', vocab: ['<unk>', '\n', ' ', 'a', 'b', '—', '🐋'] });

  it('maps each character to its index and back', () => {
    expect(tokenizer.encode('ab a\n—🐋')).toEqual([3, 4, 2, 3, 1, 5, 6]);
    expect(tokenizer.decode([3, 4, 2, 3, 1, 5, 6])).toBe('ab a\n—🐋');
    expect(tokenizer.vocabSize).toBe(7);
  });

  it('maps unknown characters to unk_token, decoded as U+FFFD', () => {
    expect(tokenizer.encode('az')).toEqual([3, 0]);
    expect(tokenizer.decode([3, 0])).toBe('a\uFFFD');
  });

  it('names a character it cannot encode when there is no unk_token', () => {
    const strict = CharTokenizer.fromJson({ type: 'char', vocab: ['a'] });
    expect(() => strict.encode('aé')).toThrow('character "é" (U+00E9) is not in the vocabulary, which has no unk_token');
  });

  it('rejects vocabularies that are not one character per token', () => {
    expect(() => CharTokenizer.fromJson({ type: 'char', vocab: ['a', 'bc'] })).toThrow('vocab[1] is not one character');
    expect(() => CharTokenizer.fromJson({ type: 'char', vocab: ['a', 'a'] })).toThrow('vocab lists "a" twice');
    expect(() => CharTokenizer.fromJson({ type: 'char', vocab: ['a'], unk_token: '?' })).toThrow('unk_token "?" is not in vocab');
  });

  it('is what createTokenizer builds from a char vocabulary', () => {
    expect(createTokenizer({ type: 'char', vocab: ['x'] }).kind).toBe('char');
  });
});
