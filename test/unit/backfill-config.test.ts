import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../core/config.ts';

describe('backfill and late-event settings', () => {
  it('default ALERT_NOTIFY_MAX_AGE to one window plus grace, and take a duration instead', () => {
    expect(parseConfig({}).ALERT_NOTIFY_MAX_AGE).toBe(5 * 60_000 + 10_000);
    expect(parseConfig({ ANALYSIS_WINDOW: '1m', ANALYSIS_GRACE: '2s' }).ALERT_NOTIFY_MAX_AGE).toBe(62_000);
    expect(parseConfig({ ALERT_NOTIFY_MAX_AGE: '1h' }).ALERT_NOTIFY_MAX_AGE).toBe(3_600_000);
    expect(() => parseConfig({ ALERT_NOTIFY_MAX_AGE: 'soon' })).toThrow(/ALERT_NOTIFY_MAX_AGE: expected a duration/);
  });

  it('bound the rest', () => {
    const config = parseConfig({});
    expect([config.BACKFILL_MAX_WINDOWS, config.LATE_REANALYZE_SHARE, config.LATE_REANALYZE_WINDOWS]).toEqual([10_000, 0.05, 12]);
    for (const [key, value] of [['BACKFILL_MAX_WINDOWS', '0'], ['LATE_REANALYZE_SHARE', '0'], ['LATE_REANALYZE_SHARE', '1.5'], ['LATE_REANALYZE_WINDOWS', '-1']]) {
      expect(() => parseConfig({ [key]: value }), `${key}=${value}`).toThrow(ConfigError);
    }
  });
});
