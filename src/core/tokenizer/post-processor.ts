import { TokenizerError, isObject } from './types';

/** Adds the special tokens of a `tokenizer.json` post-processor around one encoded sequence. */
export type PostProcessor = (ids: number[]) => number[];

function specialTokenIds(json: Record<string, unknown>, name: string): number[] {
  const tokens = json['special_tokens'];
  const entry = isObject(tokens) ? tokens[name] : undefined;
  const ids = isObject(entry) ? entry['ids'] : undefined;
  if (!Array.isArray(ids) || !ids.every((id) => Number.isInteger(id))) {
    throw new TokenizerError(`post_processor template names ${JSON.stringify(name)} but special_tokens gives no ids for it`);
  }
  return ids as number[];
}

/** TemplateProcessing: the `single` template, e.g. `[{SpecialToken: {id: "<s>"}}, {Sequence: {id: "A"}}]`. */
function template(json: Record<string, unknown>): PostProcessor {
  const single = json['single'];
  if (!Array.isArray(single)) throw new TokenizerError('post_processor TemplateProcessing has no single template');
  const parts = single.map((item): number[] | 'sequence' => {
    if (isObject(item) && isObject(item['Sequence'])) return 'sequence';
    if (isObject(item) && isObject(item['SpecialToken']) && typeof item['SpecialToken']['id'] === 'string') {
      return specialTokenIds(json, item['SpecialToken']['id']);
    }
    throw new TokenizerError(`post_processor template item ${JSON.stringify(item)} is neither a Sequence nor a SpecialToken`);
  });
  return (ids) => parts.flatMap((part) => (part === 'sequence' ? ids : part));
}

/** RobertaProcessing / BertProcessing: `cls A sep`, with `cls` and `sep` given as [token, id]. */
function wrap(json: Record<string, unknown>): PostProcessor {
  const id = (field: string): number => {
    const pair = json[field];
    if (!Array.isArray(pair) || !Number.isInteger(pair[1])) throw new TokenizerError(`post_processor ${field} is not [token, id]`);
    return pair[1] as number;
  };
  const cls = id('cls');
  const sep = id('sep');
  return (ids) => [cls, ...ids, sep];
}

export function buildPostProcessor(json: unknown): PostProcessor {
  if (json === null || json === undefined) return (ids) => ids;
  if (!isObject(json)) throw new TokenizerError('post_processor is not an object');
  const type = typeof json['type'] === 'string' ? json['type'] : '(no type)';
  switch (type) {
    case 'ByteLevel':
      return (ids) => ids;
    case 'TemplateProcessing':
      return template(json);
    case 'RobertaProcessing':
    case 'BertProcessing':
      return wrap(json);
    case 'Sequence': {
      const steps = (Array.isArray(json['processors']) ? json['processors'] : []).map(buildPostProcessor);
      return (ids) => steps.reduce((acc, step) => step(acc), ids);
    }
    default:
      throw new TokenizerError(`post_processor ${type} is not supported`, 'ByteLevel, TemplateProcessing, RobertaProcessing, BertProcessing or a Sequence', type);
  }
}
