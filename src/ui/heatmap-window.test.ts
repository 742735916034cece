import { describe, expect, it } from 'vitest';
import { damage, visibleRows } from '../charts/heatmap';

describe('visibleRows', () => {
  // The header band is 92 px; rows are 30 px; 6 rows of overscan on each side.
  it('gives the rows in view with overscan, clamped to the rows there are', () => {
    expect(visibleRows(1000, 0, 300, 30)).toEqual({ start: 0, end: 13 });
    expect(visibleRows(1000, 3092, 300, 30)).toEqual({ start: 94, end: 116 });
    expect(visibleRows(1000, 30_092, 300, 30)).toEqual({ start: 994, end: 1000 });
    expect(visibleRows(5, 0, 300, 30)).toEqual({ start: 0, end: 5 });
  });

  it('draws a bounded first window while the scroller has no size, and reads scaled pixels', () => {
    expect(visibleRows(1000, 0, 0, 30)).toEqual({ start: 0, end: 40 });
    expect(visibleRows(0, 0, 0, 30)).toEqual({ start: 0, end: 0 });
    expect(visibleRows(1000, 1546, 150, 30, 0.5)).toEqual(visibleRows(1000, 3092, 300, 30));
  });
});

describe('damage', () => {
  it('is positive when the metric gets worse, whichever way is better', () => {
    expect(damage(0.9, 0.95, true)).toBeCloseTo(0.05);
    expect(damage(2.5, 2, false)).toBe(0.5);
  });
});
