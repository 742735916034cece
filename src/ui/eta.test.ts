import { describe, expect, it } from 'vitest';
import { etaText, FINISHING, steadyRemaining } from './eta';

describe('steadyRemaining', () => {
  it('starts from the rate so far', () => {
    expect(steadyRemaining(null, 1, 5, 0, 1000)).toEqual({ shown: 4000, at: 1000 });
    expect(steadyRemaining(null, 0, 5, 0, 1000)).toBeNull();
    expect(steadyRemaining(null, 5, 5, 0, 1000)).toBeNull();
  });

  it('never rises when a step is slower than the ones before', () => {
    const first = steadyRemaining(null, 1, 5, 0, 1000);
    // The second step took 3 s: the rate predicts 6 s, but 4 s − 3 s = 1 s had been promised.
    const second = steadyRemaining(first, 2, 5, 0, 4000);
    expect(second).toEqual({ shown: 1000, at: 4000 });
    const third = steadyRemaining(second, 2, 5, 0, 6000);
    expect(third?.shown).toBeLessThanOrEqual(0);
    expect(etaText(third)).toBe(` · ${FINISHING}`);
  });

  it('follows a faster rate down', () => {
    const first = steadyRemaining(null, 1, 11, 0, 1000);
    expect(steadyRemaining(first, 10, 11, 0, 2000)).toEqual({ shown: 200, at: 2000 });
  });
});
