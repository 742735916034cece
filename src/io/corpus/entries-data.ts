import { json, text } from './bytes';
import type { CorpusEntry, CorpusExpectation } from './types';

const DIGITS = 'public/models/digits-cnn';
const GRAPH = 'e2e/fixtures/graph-model';
const GPT2 = 'e2e/fixtures/hf-gpt2-tiny';

const PIXELS = 28 * 28;

function digits(samples: number, fill = 0.5): number[] {
  return Array.from({ length: samples * PIXELS }, (_, i) => ((i * 7919) % 101) / 100 + fill - 0.5);
}

function dataEntry(name: string, cls: string, base: string, file: string, bytes: () => Uint8Array, expect: CorpusExpectation | RegExp): CorpusEntry {
  return {
    name,
    class: cls,
    kind: file.endsWith('.txt') ? 'text' : 'dataset',
    files: () => ({ [file]: bytes() }),
    base,
    data: file,
    command: 'eval',
    expect: expect instanceof RegExp ? { kind: 'error', file, message: expect } : expect,
  };
}

export function dataEntries(): CorpusEntry[] {
  return [
    dataEntry(
      'data-wrong-shape',
      'dataset with the wrong shape',
      DIGITS,
      'wrong-shape.json',
      () => json({ inputs: Array.from({ length: 2 * 27 * 27 }, () => 0.5), shape: [2, 27, 27, 1], labels: [0, 1] }),
      /samples of shape \[27,27,1\] do not fit the model input \[28,28,1\] \(expected \[N,28,28,1\], got \[2,27,27,1\]\)/,
    ),
    dataEntry(
      'data-labels-out-of-range',
      'labels out of range',
      DIGITS,
      'labels-out-of-range.json',
      () => json({ inputs: digits(2), shape: [2, 28, 28, 1], labels: [3, 10] }),
      /labels\[1\] is 10 but the model has 10 classes \(expected 0…9, got 10\)/,
    ),
    dataEntry(
      'data-negative-label',
      'labels out of range',
      DIGITS,
      'negative-label.json',
      () => json({ inputs: digits(2), shape: [2, 28, 28, 1], labels: [-1, 2] }),
      /labels\[0\] is not a class index \(expected an integer ≥ 0, got -1\)/,
    ),
    dataEntry(
      'data-wrong-length',
      'dataset of the wrong length',
      DIGITS,
      'wrong-length.json',
      () => json({ inputs: digits(2).slice(1), shape: [2, 28, 28, 1], labels: [0, 1] }),
      /"inputs" has 1567 numbers but "shape" \[2,28,28,1\] needs 1568 \(expected 1568, got 1567\)/,
    ),
    dataEntry(
      'data-labels-wrong-length',
      'dataset of the wrong length',
      DIGITS,
      'labels-wrong-length.json',
      () => json({ inputs: digits(2), shape: [2, 28, 28, 1], labels: [0, 1, 2] }),
      /"labels" has 3 entries but there are 2 samples \(expected 2, got 3\)/,
    ),
    dataEntry(
      'data-infinite-inputs',
      '±Infinity dataset inputs',
      DIGITS,
      'infinite-inputs.json',
      () => text(JSON.stringify({ inputs: digits(2), shape: [2, 28, 28, 1], labels: [0, 1] }).replace(/^\{"inputs":\[[^,]+,[^,]+,/, '{"inputs":[1e999,-1e999,')),
      { kind: 'warning', warning: /infinite-inputs\.json: 2 inputs are NaN or ±Infinity/ },
    ),
    dataEntry('data-invalid-json', 'invalid JSON', DIGITS, 'invalid.json', () => text('{"inputs": [0.1, 0.2'), /is not valid JSON/),
    dataEntry('data-not-numbers', 'dataset with the wrong shape', DIGITS, 'not-numbers.json', () => json({ inputs: ['a'], shape: [1, 1] }), /inputs\[0\] is not a number/),
    dataEntry(
      'data-graph-wrong-shape',
      'dataset with the wrong shape',
      GRAPH,
      'graph-wrong-shape.json',
      () => json({ inputs: [1, 2, 3, 4, 5, 6], shape: [2, 3] }),
      /samples of shape \[3\] do not fit the model input \[4\]/,
    ),
    dataEntry('text-empty', 'empty .txt', GPT2, 'empty.txt', () => new Uint8Array(0), /is too short to score \(expected at least 2 tokens, got 0\)/),
    dataEntry('text-one-char', 'one-character text', GPT2, 'one-char.txt', () => text('a'), /is too short to score \(expected at least 2 tokens, got 1\)/),
  ];
}
