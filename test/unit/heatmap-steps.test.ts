import { describe, expect, it } from 'vitest';
import { seriesRange, stepLabel } from '../../ui/src/heatmap.ts';

// The model page's heatmap columns (ui/src/heatmap.ts): the finest step of
// the ladder that gives at most one column per 8 px, the range widened to
// whole steps (the series route takes whole steps only).
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const T = Date.UTC(2026, 11, 1, 10, 0, 0);

describe('the heatmap series step', () => {
  it('takes the finest step that fits the width, on whole steps around the range', () => {
    // 7 minutes on 1,000 px (125 columns at most): a column a minute.
    expect(seriesRange(T, T + 7 * MINUTE, 1000)).toEqual({ from: T, to: T + 7 * MINUTE, step: MINUTE });
    // A day: 288 columns of 5 minutes are too many, 96 of 15 fit.
    expect(seriesRange(T, T + DAY, 1000)).toEqual({ from: T, to: T + DAY, step: 15 * MINUTE });
    // Seven days: 168 hours are too many, 28 six-hour steps fit.
    expect(seriesRange(T, T + 7 * DAY, 1000).step).toBe(6 * HOUR);
    // Narrower, a day is 24 hours.
    expect(seriesRange(T, T + DAY, 500).step).toBe(HOUR);
    // A year: days, the coarsest, however many.
    expect(seriesRange(T, T + 365 * DAY, 1000).step).toBe(DAY);
  });

  it('widens a range off the step to whole steps, never to none', () => {
    const from = T + 7 * MINUTE + 12_345;
    const r = seriesRange(from, from + 50 * MINUTE, 1000);
    expect(r.step).toBe(MINUTE);
    expect(r.from).toBe(T + 7 * MINUTE);
    expect(r.to).toBe(T + 58 * MINUTE);
    expect((r.to - r.from) % r.step).toBe(0);
    // An empty range still has one step.
    expect(seriesRange(T + 30_000, T + 30_000, 1000)).toEqual({ from: T, to: T + MINUTE, step: MINUTE });
  });

  it('names the step as the route takes it', () => {
    expect([MINUTE, 15 * MINUTE, HOUR, 6 * HOUR, DAY].map(stepLabel)).toEqual(['1m', '15m', '1h', '6h', '1d']);
  });
});
