import { describe, expect, it } from 'vitest';
import { evaluationWindow, windowMemoryBytes, WINDOW_MEMORY_BUDGET, type TokenShape } from './data';

/** The demo char-lm (LLaMA-style: width 128, MLP 256, 4 heads, 84 tokens) with the context length its config.json declares. */
const charLm = (contextLength: number): TokenShape => ({ contextLength, vocabSize: 84, width: { hiddenSize: 128, intermediateSize: 256, heads: 4 } });
/** GPT-2 small's sizes. */
const GPT2: TokenShape = { contextLength: 1024, vocabSize: 50257, width: { hiddenSize: 768, intermediateSize: 3072, heads: 12 } };

describe('evaluationWindow', () => {
  it('cuts a text into windows of the context length when they fit the budget', () => {
    expect(evaluationWindow(charLm(128), 20_000)).toMatchObject({ length: 128, cappedByMemory: false });
    expect(evaluationWindow(GPT2, 20_000)).toMatchObject({ length: 1024, cappedByMemory: false });
  });

  it('never makes a window longer than the text', () => {
    expect(evaluationWindow(charLm(131_072), 500)).toEqual({ length: 500, batch: expect.any(Number) as number, cappedByMemory: false });
    expect(evaluationWindow(charLm(128), 1)).toMatchObject({ length: 1, cappedByMemory: false });
  });

  it('caps a huge context by memory: a 20k-token text on a 128k-position model is not one 20k-token window', () => {
    const shape = charLm(131_072);
    const window = evaluationWindow(shape, 20_000);
    expect(window.cappedByMemory).toBe(true);
    expect(window.length).toBeLessThan(20_000);
    expect(windowMemoryBytes(shape, window.length)).toBeLessThanOrEqual(WINDOW_MEMORY_BUDGET);
    expect(windowMemoryBytes(shape, window.length + 1)).toBeGreaterThan(WINDOW_MEMORY_BUDGET);
    expect(window.batch).toBe(1);
    expect(windowMemoryBytes(shape, 20_000)).toBeGreaterThan(9 * WINDOW_MEMORY_BUDGET);
  });

  it('follows the budget it is given, and the estimate grows with width and heads', () => {
    const shape = charLm(131_072);
    const small = evaluationWindow(shape, 20_000, 8 * 2 ** 20);
    expect(small.cappedByMemory).toBe(true);
    expect(small.length).toBeLessThan(evaluationWindow(shape, 20_000).length);
    expect(windowMemoryBytes(shape, small.length)).toBeLessThanOrEqual(8 * 2 ** 20);
    const wider: TokenShape = { ...shape, width: { hiddenSize: 512, intermediateSize: 2048, heads: 16 } };
    expect(evaluationWindow(wider, 20_000).length).toBeLessThan(evaluationWindow(shape, 20_000).length);
  });

  it('batches windows within the budget and the logits cap', () => {
    for (const [shape, tokens] of [
      [charLm(128), 20_000],
      [GPT2, 20_000],
      [charLm(131_072), 20_000],
    ] as const) {
      const window = evaluationWindow(shape, tokens);
      expect(window.batch).toBeGreaterThanOrEqual(1);
      expect(window.batch * windowMemoryBytes(shape, window.length)).toBeLessThanOrEqual(WINDOW_MEMORY_BUDGET);
    }
    expect(evaluationWindow(charLm(128), 20_000).batch).toBe(Math.floor(4_000_000 / (128 * 84)));
  });

  it('counts only the logits for a model without its sizes', () => {
    const bare: TokenShape = { contextLength: 64, vocabSize: 10 };
    expect(windowMemoryBytes(bare, 64)).toBe(4 * 64 * 4 * 10);
  });
});
