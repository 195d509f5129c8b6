import { describe, expect, it } from 'vitest';
import { Backfill, BackfillRangeError } from '../../analyzers/backfill.ts';
import { createMetrics } from '../../core/metrics.ts';
import { Jobs } from '../../jobs/registry.ts';

const W = 5 * 60_000;
const at = (hhmm: string) => Date.parse(`2026-11-30T${hhmm}:00Z`);

/** Only `windows` is exercised: the scheduler is never reached. */
const backfill = (now: number, maxWindows = 100) =>
  new Backfill(
    { jobs: new Jobs(), metrics: createMetrics(), scheduler: { runWindow: async () => [] }, now: () => now },
    { windowMs: W, graceMs: 10_000, maxWindows },
  );

describe('the windows of a backfill', () => {
  it('are every aligned window that overlaps the range', () => {
    const windows = backfill(at('12:00')).windows({ from: at('10:02'), to: at('10:13') });
    expect(windows).toEqual([
      { from: at('10:00'), to: at('10:05') },
      { from: at('10:05'), to: at('10:10') },
      { from: at('10:10'), to: at('10:15') },
    ]);
  });

  it('stop at the last window closed ANALYSIS_GRACE ago, as the scheduler waits', () => {
    // 10:15:05: the window ending 10:15 closed 5 s ago, inside the 10 s grace.
    const windows = backfill(at('10:15') + 5_000).windows({ from: at('10:00'), to: at('11:00') });
    expect(windows.map((w) => w.to)).toEqual([at('10:05'), at('10:10')]);
    expect(backfill(at('10:15') + 10_000).windows({ from: at('10:00'), to: at('11:00') })).toHaveLength(3);
  });

  it('are refused when none has closed or there are more than BACKFILL_MAX_WINDOWS', () => {
    expect(() => backfill(at('10:03')).windows({ from: at('10:00'), to: at('10:05') })).toThrow(BackfillRangeError);
    expect(() => backfill(at('12:00'), 12).windows({ from: at('10:00'), to: at('11:00') })).not.toThrow();
    expect(() => backfill(at('12:00'), 11).windows({ from: at('10:00'), to: at('11:00') })).toThrow(/12 analysis windows, more than BACKFILL_MAX_WINDOWS \(11\)/);
  });
});
