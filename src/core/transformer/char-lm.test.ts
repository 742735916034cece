import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { filesFromPath } from '../../io/node-files';
import { openModel } from '../../io/open';
import { createTokenizer } from '../tokenizer';
import { TransformerModel } from './model';
import { perplexity } from './perplexity';
import { relativeError } from './testing';

const MODEL_DIR = decodeURIComponent(new URL('../../../public/models/char-lm/', import.meta.url).pathname);

interface CharLmReference {
  perplexity: number;
  unigram_perplexity: number;
  scored_tokens: number;
  context: number;
  first_logits: number[][];
}

describe('char-lm demo model', () => {
  let model: TransformerModel;
  let ids: number[];
  let reference: CharLmReference;

  beforeAll(async () => {
    setWasmPaths(`${dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm'))}/`);
    await tf.setBackend('wasm');
    const opened = await openModel(await filesFromPath(MODEL_DIR));
    const transformer = opened.transformer!;
    expect(opened.name).toBe('char-lm');
    expect(transformer.config).toMatchObject({ modelType: 'llama', contextLength: 128 });
    expect(transformer.tokenizer?.file).toBe('char-lm/char-tokenizer.json');
    model = new TransformerModel(transformer.config, transformer.tensors);
    const tokenizer = createTokenizer(transformer.tokenizer!.json);
    ids = tokenizer.encode(await readFile(`${MODEL_DIR}eval.txt`, 'utf8'));
    reference = JSON.parse(await readFile(`${MODEL_DIR}reference.json`, 'utf8')) as CharLmReference;
  });
  afterAll(() => model?.dispose());

  it('reproduces the torch logits', () => {
    const input = tf.tensor2d([ids.slice(0, 16)], undefined, 'int32');
    const logits = tf.tidy(() => model.forward(input).slice([0, 0, 0], [1, 16, 8]));
    expect(relativeError(logits.dataSync(), reference.first_logits.flat())).toBeLessThan(1e-4);
    tf.dispose([input, logits]);
  });

  it('has the perplexity on eval.txt that torch computed, far below the unigram model', async () => {
    const before = tf.memory().numTensors;
    const result = await perplexity(model, ids);
    expect(result.tokens).toBe(reference.scored_tokens);
    expect(Math.abs(result.perplexity - reference.perplexity) / reference.perplexity).toBeLessThan(1e-3);
    expect(result.perplexity).toBeLessThan(reference.unigram_perplexity / 2);
    expect(tf.memory().numTensors).toBe(before);
  });
});
