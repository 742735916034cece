import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { frameBatch } from './frame-batch';

describe('frameBatch (Node: no animation frames, a 16 ms timer instead)', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('hands over everything pushed before a frame in one call, in order', () => {
    const calls: number[][] = [];
    const batch = frameBatch<number>((items) => calls.push(items));
    batch.push(1);
    batch.push(2);
    batch.push(3);
    expect(calls).toEqual([]);
    vi.advanceTimersByTime(16);
    expect(calls).toEqual([[1, 2, 3]]);
    batch.push(4);
    vi.advanceTimersByTime(16);
    expect(calls).toEqual([[1, 2, 3], [4]]);
  });

  it('flush hands over what is pending at once, and nothing when nothing is', () => {
    const calls: string[][] = [];
    const batch = frameBatch<string>((items) => calls.push(items));
    batch.flush();
    expect(calls).toEqual([]);
    batch.push('a');
    batch.flush();
    expect(calls).toEqual([['a']]);
    vi.advanceTimersByTime(16);
    expect(calls).toEqual([['a']]);
  });
});
