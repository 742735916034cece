import { fromByteChars } from './byte-level';
import { buildNormalizer, buildPreTokenizer } from './pipeline';
import type { Normalizer, PreTokenizer } from './pipeline';
import { buildPostProcessor } from './post-processor';
import type { PostProcessor } from './post-processor';
import { TokenizerError, isObject } from './types';
import type { EncodeOptions, Tokenizer } from './types';

interface AddedToken {
  id: number;
  content: string;
  special: boolean;
}

const SEPARATOR = '\u0001';
const CACHE_LIMIT = 50_000;

function parseVocab(model: Record<string, unknown>): Map<string, number> {
  const vocab = model['vocab'];
  if (!isObject(vocab)) throw new TokenizerError('model.vocab is not an object of token → id');
  const map = new Map<string, number>();
  for (const [token, id] of Object.entries(vocab)) {
    if (!Number.isInteger(id)) throw new TokenizerError(`model.vocab[${JSON.stringify(token)}] is not an integer id`);
    map.set(token, id as number);
  }
  return map;
}

/** Merge pair → rank; merges are written `"a b"` or `["a", "b"]`. */
function parseMerges(model: Record<string, unknown>): Map<string, number> {
  const merges = model['merges'];
  if (!Array.isArray(merges)) throw new TokenizerError('model.merges is not a list');
  const ranks = new Map<string, number>();
  merges.forEach((merge: unknown, rank) => {
    let pair: unknown[] | undefined;
    if (typeof merge === 'string') {
      const space = merge.indexOf(' ', 1);
      pair = space < 0 ? undefined : [merge.slice(0, space), merge.slice(space + 1)];
    } else if (Array.isArray(merge)) pair = merge;
    if (pair?.length !== 2 || typeof pair[0] !== 'string' || typeof pair[1] !== 'string') {
      throw new TokenizerError(`model.merges[${rank}] is not a pair of tokens`, '"a b" or ["a", "b"]', JSON.stringify(merge));
    }
    const key = `${pair[0]}${SEPARATOR}${pair[1]}`;
    if (!ranks.has(key)) ranks.set(key, rank);
  });
  return ranks;
}

function parseAddedTokens(json: Record<string, unknown>): AddedToken[] {
  const added = json['added_tokens'];
  if (added === undefined || added === null) return [];
  if (!Array.isArray(added)) throw new TokenizerError('added_tokens is not a list');
  return added.map((token: unknown, i) => {
    if (!isObject(token) || !Number.isInteger(token['id']) || typeof token['content'] !== 'string' || token['content'] === '') {
      throw new TokenizerError(`added_tokens[${i}] has no id and content`);
    }
    return { id: token['id'] as number, content: token['content'], special: token['special'] === true };
  });
}

/**
 * Byte-level BPE from a Hugging Face `tokenizer.json` (GPT-2, SmolLM, Qwen2, LLaMA 3): added
 * tokens split out first, then normalizer, pre-tokenizer (to byte characters), BPE merges by
 * rank, and the post-processor's special tokens.
 */
export class BpeTokenizer implements Tokenizer {
  readonly kind = 'byte-level-bpe';
  readonly vocabSize: number;
  private readonly vocab: Map<string, number>;
  private readonly tokens = new Map<number, string>();
  private readonly ranks: Map<string, number>;
  private readonly added: AddedToken[];
  private readonly addedById = new Map<number, AddedToken>();
  private readonly addedPattern: RegExp | undefined;
  private readonly normalize: Normalizer;
  private readonly preTokenize: PreTokenizer;
  private readonly postProcess: PostProcessor;
  private readonly ignoreMerges: boolean;
  private readonly unknownId: number | undefined;
  private readonly cache = new Map<string, number[]>();

  constructor(json: Record<string, unknown>) {
    const model = json['model'];
    if (!isObject(model)) throw new TokenizerError('has no model');
    if (model['type'] !== undefined && model['type'] !== 'BPE') {
      throw new TokenizerError('model is not BPE', 'BPE', String(model['type']));
    }
    if (model['byte_fallback'] === true) {
      throw new TokenizerError('model uses byte_fallback (a SentencePiece-style BPE), which is not supported', 'a byte-level BPE (byte_fallback false)');
    }
    for (const field of ['continuing_subword_prefix', 'end_of_word_suffix']) {
      const value = model[field];
      if (value !== undefined && value !== null && value !== '')
        throw new TokenizerError(`model.${field} is set, which byte-level BPE does not use`, '"" or null', JSON.stringify(value));
    }
    this.vocab = parseVocab(model);
    this.ranks = parseMerges(model);
    this.added = parseAddedTokens(json).sort((a, b) => b.content.length - a.content.length);
    for (const [token, id] of this.vocab) this.tokens.set(id, token);
    for (const token of this.added) {
      this.addedById.set(token.id, token);
      this.tokens.set(token.id, token.content);
    }
    this.addedPattern = this.added.length === 0 ? undefined : new RegExp(this.added.map((t) => t.content.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'), 'gu');
    this.normalize = buildNormalizer(json['normalizer']);
    const pipeline = buildPreTokenizer(json['pre_tokenizer']);
    if (!pipeline.byteLevel) throw new TokenizerError('pre_tokenizer has no ByteLevel step, so this is not a byte-level BPE', 'a ByteLevel pre-tokenizer');
    this.preTokenize = pipeline.split;
    this.postProcess = buildPostProcessor(json['post_processor']);
    this.ignoreMerges = model['ignore_merges'] === true;
    const unknown = model['unk_token'];
    this.unknownId = typeof unknown === 'string' ? this.vocab.get(unknown) : undefined;
    this.vocabSize = Math.max(-1, ...this.tokens.keys()) + 1;
  }

  static fromJson(json: unknown): BpeTokenizer {
    if (!isObject(json)) throw new TokenizerError('is not a JSON object');
    return new BpeTokenizer(json);
  }

  encode(text: string, options: EncodeOptions = {}): number[] {
    const ids: number[] = [];
    for (const chunk of this.splitAdded(text)) {
      if (typeof chunk === 'number') ids.push(chunk);
      else for (const piece of this.preTokenize(this.normalize(chunk))) ids.push(...this.encodeWord(piece));
    }
    return options.addSpecialTokens === false ? ids : this.postProcess(ids);
  }

  decode(ids: readonly number[]): string {
    const parts: Uint8Array[] = [];
    const encoder = new TextEncoder();
    for (const id of ids) {
      const token = this.tokens.get(id);
      if (token === undefined) throw new TokenizerError(`id ${id} is not in the vocabulary`);
      parts.push(this.addedById.has(id) ? encoder.encode(token) : fromByteChars(token));
    }
    const bytes = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let offset = 0;
    for (const part of parts) {
      bytes.set(part, offset);
      offset += part.length;
    }
    return new TextDecoder('utf-8').decode(bytes);
  }

  /** The text split around added tokens: strings to tokenize and ids of the added tokens found. */
  private splitAdded(text: string): (string | number)[] {
    if (this.addedPattern === undefined) return text === '' ? [] : [text];
    const out: (string | number)[] = [];
    let last = 0;
    for (const match of text.matchAll(this.addedPattern)) {
      const start = match.index ?? 0;
      if (start > last) out.push(text.slice(last, start));
      out.push((this.added.find((t) => t.content === match[0]) as AddedToken).id);
      last = start + match[0].length;
    }
    if (last < text.length) out.push(text.slice(last));
    return out;
  }

  /** BPE of one pre-tokenized piece (byte characters): merge the lowest-ranked adjacent pair until none applies. */
  private encodeWord(word: string): number[] {
    const cached = this.cache.get(word);
    if (cached !== undefined) return cached;
    const whole = this.vocab.get(word);
    let symbols = [...word];
    if (!(this.ignoreMerges && whole !== undefined)) {
      while (symbols.length > 1) {
        let best = -1;
        let bestRank = Infinity;
        for (let i = 0; i < symbols.length - 1; i++) {
          const rank = this.ranks.get(`${symbols[i]}${SEPARATOR}${symbols[i + 1]}`);
          if (rank !== undefined && rank < bestRank) {
            bestRank = rank;
            best = i;
          }
        }
        if (best < 0) break;
        const [first, second] = [symbols[best], symbols[best + 1]];
        const merged: string[] = [];
        for (let i = 0; i < symbols.length; i++) {
          if (i < symbols.length - 1 && symbols[i] === first && symbols[i + 1] === second) {
            merged.push(first + second);
            i++;
          } else merged.push(symbols[i]);
        }
        symbols = merged;
      }
    } else symbols = [word];
    const ids = symbols.map((symbol) => {
      const id = this.vocab.get(symbol) ?? this.unknownId;
      if (id === undefined) throw new TokenizerError(`no token for ${JSON.stringify(symbol)} and no unk_token`);
      return id;
    });
    if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
    this.cache.set(word, ids);
    return ids;
  }
}
