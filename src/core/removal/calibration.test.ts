import { describe, expect, it } from 'vitest';
import { calibrationWindows, randomTokenWindows } from './calibration';

describe('calibrationWindows', () => {
  const ids = Array.from({ length: 3000 }, (_, i) => i);

  it('takes 10 × 256 consecutive tokens from the start by default', () => {
    const windows = calibrationWindows(ids, 1024);
    expect(windows).toHaveLength(10);
    expect(windows.every((w) => w.length === 256)).toBe(true);
    expect(windows[1][0]).toBe(256);
    expect(windows[9][255]).toBe(2559);
  });

  it('scales the windows down to the context length and the text available', () => {
    expect(calibrationWindows(ids, 128).map((w) => w.length)).toEqual(Array(10).fill(128));
    expect(calibrationWindows(ids.slice(0, 600), 1024).map((w) => w[0])).toEqual([0, 256]);
    expect(calibrationWindows(ids.slice(0, 100), 1024)).toEqual([ids.slice(0, 100)]);
    expect(calibrationWindows(ids, 64, { samples: 3, length: 16 })).toEqual([ids.slice(0, 16), ids.slice(16, 32), ids.slice(32, 48)]);
  });

  it('refuses empty text and bad counts', () => {
    expect(() => calibrationWindows([], 16)).toThrow(/at least one token/);
    expect(() => calibrationWindows(ids, 16, { samples: 0 })).toThrow(/samples must be an integer ≥ 1/);
    expect(() => calibrationWindows(ids, 0)).toThrow(/context length/);
  });
});

describe('randomTokenWindows', () => {
  it('draws seeded ids within the vocabulary, windows scaled to the context', () => {
    const windows = randomTokenWindows(50, 32, { seed: 3, samples: 4 });
    expect(windows.map((w) => w.length)).toEqual([32, 32, 32, 32]);
    expect(windows.flat().every((id) => Number.isInteger(id) && id >= 0 && id < 50)).toBe(true);
    expect(new Set(windows.flat()).size).toBeGreaterThan(30);
    expect(randomTokenWindows(50, 32, { seed: 3, samples: 4 })).toEqual(windows);
    expect(randomTokenWindows(50, 32, { seed: 4, samples: 4 })).not.toEqual(windows);
    expect(randomTokenWindows(50, 1024, { seed: 0 })).toHaveLength(10);
    expect(randomTokenWindows(50, 1024, { seed: 0 })[0]).toHaveLength(256);
  });
});
